//! Suppression rules: accepted risks declared for many findings at once (like Prowler's
//! mutelist), in `policies/suppressions.yaml` (or the file of that name in `QRIE_POLICY_DIR`).
//!
//! ```yaml
//! rules:
//!   - id: legacy-static-site          # unique; names the rule in every finding it suppresses
//!     reason: Public website bucket, reviewed with the web team (SEC-1234)
//!     by: alice@example.com
//!     until: 2027-06-30                # a date (end of that day, UTC) or an RFC 3339 time
//!     policies: [S3BucketPublicReadProhibited]   # policy ids, or ["*"] for every policy
//!     accounts: ["111122223333"]       # optional: any account when absent
//!     regions: [us-east-1]             # optional: any region when absent
//!     resources: ["arn:aws:s3:::www-*"] # optional ARN patterns: `*` any run, `?` one character
//!     tags: {Environment: sandbox}     # optional: the resource's `Tags` must hold every pair
//! ```
//!
//! A finding matched by a rule whose `until` is still ahead is **suppressed**: it is evaluated
//! and recorded as usual (its state opens and resolves), but it is marked with the rule, and left
//! out of the compliance scores. After `until`
//! the rule matches nothing and the finding counts again at the next evaluation, without anyone
//! editing the file. Every condition of a rule must hold (absent ones hold for all); `tags` needs
//! a collector that stores the resource's tags as a `Tags` map, and never matches a resource
//! without one. A rule that does not validate (unknown field, missing reason, an unknown policy
//! id, a bad date) is rejected with the reason, like a policy file, and the others still apply.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::def::PolicyError;
use crate::model::Resource;

/// The file, under the policies folder, that holds the rules.
pub const FILE: &str = "suppressions.yaml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rules: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    reason: String,
    by: String,
    until: String,
    policies: Vec<String>,
    #[serde(default)]
    accounts: Option<Vec<String>>,
    #[serde(default)]
    regions: Option<Vec<String>>,
    #[serde(default)]
    resources: Option<Vec<String>>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// One validated rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressionRule {
    pub id: String,
    pub reason: String,
    pub by: String,
    pub until: DateTime<Utc>,
    /// Policy ids; empty means every policy (`["*"]` in the file).
    pub policies: Vec<String>,
    pub accounts: Option<Vec<String>>,
    pub regions: Option<Vec<String>>,
    pub resources: Option<Vec<String>>,
    pub tags: BTreeMap<String, String>,
}

impl SuppressionRule {
    /// True when the rule covers `policy_id`.
    pub fn covers(&self, policy_id: &str) -> bool {
        self.policies.is_empty() || self.policies.iter().any(|p| p == policy_id)
    }

    /// True when the rule suppresses `policy_id`'s finding on `resource` at `now`.
    pub fn matches(&self, policy_id: &str, resource: &Resource, now: DateTime<Utc>) -> bool {
        now < self.until
            && self.covers(policy_id)
            && self
                .accounts
                .as_ref()
                .is_none_or(|a| a.contains(&resource.account_id))
            && self
                .regions
                .as_ref()
                .is_none_or(|r| r.contains(&resource.region))
            && self
                .resources
                .as_ref()
                .is_none_or(|patterns| patterns.iter().any(|p| glob(p, &resource.arn)))
            && self.tags.iter().all(|(key, value)| {
                resource.configuration.get("Tags").and_then(|t| t.get(key))
                    == Some(&Value::String(value.clone()))
            })
    }
}

/// Parses the rules file; `known` tells whether a policy id exists. Returns the valid rules and
/// one error per rejected rule (or one for a file that is not a rules document at all).
pub fn parse(
    file: &str,
    text: &str,
    known: impl Fn(&str) -> bool,
) -> (Vec<SuppressionRule>, Vec<PolicyError>) {
    let doc: RulesFile = match serde_yaml::from_str(text) {
        Ok(doc) => doc,
        Err(e) => {
            return (
                Vec::new(),
                vec![PolicyError::Syntax {
                    file: file.to_owned(),
                    message: e.to_string(),
                }],
            )
        }
    };
    let mut rules: Vec<SuppressionRule> = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in doc.rules.into_iter().enumerate() {
        let invalid = |message: String| PolicyError::Invalid {
            file: file.to_owned(),
            message: format!("rules[{i}]: {message}"),
        };
        let rule = serde_json::from_value::<RawRule>(raw)
            .map_err(|e| invalid(e.to_string()))
            .and_then(|raw| validate(raw, &known).map_err(invalid))
            .and_then(|rule| {
                if rules.iter().any(|r| r.id == rule.id) {
                    Err(invalid(format!("duplicate rule id {:?}", rule.id)))
                } else {
                    Ok(rule)
                }
            });
        match rule {
            Ok(rule) => rules.push(rule),
            Err(e) => errors.push(e),
        }
    }
    (rules, errors)
}

fn validate(raw: RawRule, known: &impl Fn(&str) -> bool) -> Result<SuppressionRule, String> {
    for (field, value) in [("id", &raw.id), ("reason", &raw.reason), ("by", &raw.by)] {
        if value.trim().is_empty() {
            return Err(format!("`{field}` must not be empty"));
        }
    }
    let until = parse_until(&raw.until).ok_or_else(|| {
        format!(
            "`until` {:?} is neither a date (2027-06-30) nor an RFC 3339 time",
            raw.until
        )
    })?;
    if raw.policies.is_empty() {
        return Err("`policies` must list policy ids, or [\"*\"] for every policy".into());
    }
    let policies = if raw.policies == ["*"] {
        Vec::new()
    } else {
        if let Some(unknown) = raw.policies.iter().find(|p| !known(p)) {
            return Err(format!("`policies` names {unknown:?}, which is no policy"));
        }
        raw.policies
    };
    for (field, list) in [
        ("accounts", &raw.accounts),
        ("regions", &raw.regions),
        ("resources", &raw.resources),
    ] {
        if list.as_ref().is_some_and(Vec::is_empty) {
            return Err(format!(
                "`{field}` is empty: it would match nothing (leave it out to match every one)"
            ));
        }
    }
    if let Some(bad) = raw
        .accounts
        .iter()
        .flatten()
        .find(|a| a.len() != 12 || !a.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(format!(
            "`accounts` names {bad:?}, which is not a 12-digit account id"
        ));
    }
    Ok(SuppressionRule {
        id: raw.id,
        reason: raw.reason,
        by: raw.by,
        until,
        policies,
        accounts: raw.accounts,
        regions: raw.regions,
        resources: raw.resources,
        tags: raw.tags,
    })
}

/// A date means the end of that day (UTC): "until 2027-06-30" includes the 30th; otherwise an
/// RFC 3339 time. The `qrie suppress --until` flag reads dates the same way.
pub fn parse_until(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let end = day.succ_opt()?.and_time(NaiveTime::MIN);
        return Some(end.and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `*` matches any run of characters (including none), `?` exactly one; the rest literally.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Service;
    use serde_json::json;

    fn known(id: &str) -> bool {
        id == "S3BucketPublicReadProhibited" || id == "S3BucketVersioningEnabled"
    }

    fn bucket(name: &str, region: &str, tags: Value) -> Resource {
        Resource {
            arn: format!("arn:aws:s3:::{name}"),
            account_id: "111122223333".into(),
            service: Service::S3,
            resource_type: "AWS::S3::Bucket".into(),
            region: region.into(),
            configuration: json!({"Tags": tags}),
            last_seen_at: Utc::now(),
        }
    }

    const RULES: &str = r#"
rules:
  - id: legacy-site
    reason: Public website bucket (SEC-1)
    by: alice@example.com
    until: 2027-06-30
    policies: [S3BucketPublicReadProhibited]
    accounts: ["111122223333"]
    regions: [us-east-1]
    resources: ["arn:aws:s3:::www-*"]
    tags: {Environment: web}
  - id: sandbox
    reason: Sandbox accounts are reviewed quarterly
    by: bob@example.com
    until: "2027-01-01T12:00:00Z"
    policies: ["*"]
    tags: {Environment: sandbox}
"#;

    #[test]
    fn a_rule_matches_only_what_every_one_of_its_conditions_allows() {
        // Given two rules
        let (rules, errors) = parse(FILE, RULES, known);
        assert!(errors.is_empty(), "{errors:#?}");
        let site = &rules[0];
        let now = "2026-12-02T00:00:00Z".parse().unwrap();
        let web = json!({"Environment": "web"});
        // Then the website rule matches its bucket, and fails on any one condition changed
        assert!(site.matches(
            "S3BucketPublicReadProhibited",
            &bucket("www-a", "us-east-1", web.clone()),
            now
        ));
        for (policy, name, region, tags) in [
            (
                "S3BucketVersioningEnabled",
                "www-a",
                "us-east-1",
                web.clone(),
            ),
            (
                "S3BucketPublicReadProhibited",
                "api-a",
                "us-east-1",
                web.clone(),
            ),
            (
                "S3BucketPublicReadProhibited",
                "www-a",
                "eu-west-1",
                web.clone(),
            ),
            (
                "S3BucketPublicReadProhibited",
                "www-a",
                "us-east-1",
                json!({"Environment": "prod"}),
            ),
            (
                "S3BucketPublicReadProhibited",
                "www-a",
                "us-east-1",
                Value::Null,
            ),
        ] {
            assert!(
                !site.matches(policy, &bucket(name, region, tags), now),
                "{policy} {name} {region}"
            );
        }
        let mut other = bucket("www-a", "us-east-1", web);
        other.account_id = "999988887777".into();
        assert!(!site.matches("S3BucketPublicReadProhibited", &other, now));
        // And `*` covers every policy
        let sandbox = &rules[1];
        let b = bucket("x", "eu-west-1", json!({"Environment": "sandbox"}));
        assert!(sandbox.matches("S3BucketVersioningEnabled", &b, now));
        assert!(sandbox.matches("AnyPolicyAtAll", &b, now));
    }

    #[test]
    fn a_rule_stops_matching_when_it_expires() {
        // Given the rules, one until a date and one until a time
        let (rules, _) = parse(FILE, RULES, known);
        let b = bucket("www-a", "us-east-1", json!({"Environment": "web"}));
        let at = |t: &str| t.parse::<DateTime<Utc>>().unwrap();
        // Then a date includes its whole day, and the rule ends right after it
        let site = &rules[0];
        assert!(site.matches(
            "S3BucketPublicReadProhibited",
            &b,
            at("2027-06-30T23:59:59Z")
        ));
        assert!(!site.matches(
            "S3BucketPublicReadProhibited",
            &b,
            at("2027-07-01T00:00:00Z")
        ));
        // And a time ends at that instant
        let s = bucket("s", "us-east-1", json!({"Environment": "sandbox"}));
        assert!(rules[1].matches("P", &s, at("2027-01-01T11:59:59Z")));
        assert!(!rules[1].matches("P", &s, at("2027-01-01T12:00:00Z")));
    }

    #[test]
    fn bad_rules_are_rejected_by_position_and_the_others_apply() {
        let good = "  - {id: ok, reason: r, by: b, until: 2027-01-01, policies: ['*']}\n";
        for (bad, expected) in [
            ("  - {id: x, reason: '', by: b, until: 2027-01-01, policies: ['*']}\n", "`reason` must not be empty"),
            ("  - {id: x, reason: r, by: b, until: next year, policies: ['*']}\n", "`until` \"next year\" is neither"),
            ("  - {id: x, reason: r, by: b, until: 2027-01-01, policies: [S3BucketPublicReadProhibitd]}\n", "names \"S3BucketPublicReadProhibitd\", which is no policy"),
            ("  - {id: x, reason: r, by: b, until: 2027-01-01, policies: []}\n", "`policies` must list"),
            ("  - {id: x, reason: r, by: b, until: 2027-01-01, policies: ['*'], regions: []}\n", "`regions` is empty"),
            ("  - {id: x, reason: r, by: b, until: 2027-01-01, policies: ['*'], accounts: ['1234']}\n", "not a 12-digit account id"),
            ("  - {id: x, reason: r, by: b, until: 2027-01-01, policies: ['*'], region: [us-east-1]}\n", "unknown field `region`"),
            ("  - {id: ok, reason: r, by: b, until: 2027-01-01, policies: ['*']}\n", "duplicate rule id \"ok\""),
            ("  - {reason: r, by: b, until: 2027-01-01, policies: ['*']}\n", "missing field `id`"),
        ] {
            // Given a valid rule followed by a bad one
            let text = format!("rules:\n{good}{bad}");
            // When the file is parsed
            let (rules, errors) = parse(FILE, &text, known);
            // Then the good rule applies and the bad one is reported with its position
            assert_eq!(rules.len(), 1, "{bad}");
            assert_eq!(errors.len(), 1, "{bad}");
            let message = errors[0].to_string();
            assert!(message.contains("rules[1]") && message.contains(expected), "{message}");
        }
        // And a file that is not a rules document is one error
        let (rules, errors) = parse(FILE, "mutelist: {}", known);
        assert!(rules.is_empty() && errors[0].to_string().contains("unknown field `mutelist`"));
    }

    #[test]
    fn arn_patterns_match_like_shell_globs() {
        for (pattern, text, expected) in [
            ("arn:aws:s3:::www-*", "arn:aws:s3:::www-a", true),
            ("arn:aws:s3:::www-*", "arn:aws:s3:::api-www-a", false),
            ("*:role/admin-?", "arn:aws:iam::1:role/admin-1", true),
            ("*:role/admin-?", "arn:aws:iam::1:role/admin-12", false),
            ("*", "anything", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("exact", "exact", true),
        ] {
            assert_eq!(glob(pattern, text), expected, "{pattern} {text}");
        }
    }
}
