//! One policy: what it checks, how serious it is, the compliance controls it maps to, and the
//! condition under which a resource fails it.
//!
//! Policies are YAML files in `policies/` (the format is in the README's "Policies" section and
//! [`super::cond`]). Each carries passing and failing example configurations, which are evaluated
//! when the policy loads: a policy whose own examples disagree with its condition is rejected.
//! The condition and the examples are first checked against the schema of the policy's
//! `resource_type` ([`super::schema`]): an unknown type, path or an operator that cannot apply to
//! the path's type is rejected with the place and the nearest name.
//!
//! A policy knows which configuration paths its condition reads ([`Policy::reads`], derived from
//! the compiled condition). When a collector lists one of them as unreadable (see
//! [`crate::model::UNREADABLE`]), the policy is not evaluated for that resource
//! ([`Outcome::NotEvaluated`]): a setting that could not be read is neither a failure nor a pass.
//!
//! A policy may also name the checks of other tools it is equivalent to (`references`, e.g.
//! `{prowler: [s3_bucket_default_encryption]}`), so a user of that tool can map one onto the other.
//! Only the sources in [`REFERENCE_SOURCES`] are accepted, each with its own id syntax.
//!
//! A policy may declare its risk factors (`risk: {exposure: internet, privilege: admin, data:
//! sensitive}`): what a failure exposes and to whom, the privilege and the data it involves.
//! They raise its findings' risk score above what the severity alone gives ([`crate::risk`]).
//!
//! A policy maps to at least one compliance control, except a check that no framework has (a role
//! trusting any principal, a privilege-escalation path): it says `controls: {}` and must then name
//! the checks it is equivalent to in `references`. It is evaluated and reported like any other,
//! and counts in no framework's score.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use super::cond::{ConditionError, Path, PolicyCondition, RawCondition};
use super::schema::{self, Violation};
use crate::model::{unreadable_parts, Service, Severity, UnreadablePart};
use crate::risk::RiskFactors;

/// A policy file that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    #[error("{file}: not a valid policy document: {message}")]
    Syntax { file: String, message: String },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{file}: condition {0}", .source)]
    Condition {
        file: String,
        #[source]
        source: ConditionError,
    },
    /// The condition or an example does not fit the schema of the resource type's configuration.
    #[error("{file}: {0}", .violation)]
    Schema { file: String, violation: Violation },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    id: String,
    title: String,
    description: String,
    severity: String,
    resource_type: String,
    remediation: String,
    controls: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    references: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    risk: Option<RawRisk>,
    fails_when: RawCondition,
    examples: Examples,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Examples {
    /// The evaluation time of the examples (for `older_than_days`); the load time when absent.
    at: Option<DateTime<Utc>>,
    pass: Vec<Value>,
    fail: Vec<Value>,
}

/// The `risk:` block: what a failure exposes, the privilege it involves, the data it holds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRisk {
    exposure: Option<String>,
    privilege: Option<String>,
    data: Option<String>,
}

/// Validates the `risk` block: known values of known factors, at least one factor.
fn parse_risk(raw: Option<&RawRisk>) -> Result<RiskFactors, String> {
    let Some(raw) = raw else {
        return Ok(RiskFactors::default());
    };
    if raw.exposure.is_none() && raw.privilege.is_none() && raw.data.is_none() {
        return Err("`risk` must name at least one of `exposure`, `privilege`, `data`".into());
    }
    let field = |e: crate::risk::UnknownFactor| {
        format!(
            "risk.{}: unknown {} {:?}{}",
            e.factor,
            e.factor,
            e.value,
            schema::suggestion(&e.value, &e.known)
        )
    };
    Ok(RiskFactors {
        exposure: raw
            .exposure
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(field)?
            .unwrap_or_default(),
        privilege: raw
            .privilege
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(field)?
            .unwrap_or_default(),
        data: raw
            .data
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(field)?
            .unwrap_or_default(),
    })
}

/// A compliance control a policy maps to, e.g. (`fsbp`, `S3.2`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ControlRef {
    pub framework: String,
    pub id: String,
}

/// The tools whose check ids a policy's `references` may name.
pub const REFERENCE_SOURCES: &[&str] = &["prowler"];

/// Another tool's check that a policy is equivalent to, e.g. (`prowler`,
/// `s3_bucket_default_encryption`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    pub source: String,
    pub id: String,
}

/// Why an id is not a valid check id of `source`, if it is not.
fn reference_id_error(source: &str, id: &str) -> Option<String> {
    match source {
        // Prowler's CheckID: lower-case snake case (`s3_bucket_default_encryption`).
        "prowler" => (id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
        .then(|| {
            format!(
                "references.prowler: {id:?} is not a Prowler check id \
                 (lower-case letters, digits and `_`)"
            )
        }),
        _ => Some(format!("references: unknown source {source:?}")),
    }
}

/// Validates the `references` field: known sources, each with at least one well-formed,
/// distinct id.
fn parse_references(raw: Option<&BTreeMap<String, Vec<String>>>) -> Result<Vec<Reference>, String> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    if raw.is_empty() {
        return Err(format!(
            "`references` must name at least one source ({})",
            REFERENCE_SOURCES.join(", ")
        ));
    }
    let mut references = Vec::new();
    for (source, ids) in raw {
        if !REFERENCE_SOURCES.contains(&source.as_str()) {
            return Err(format!(
                "references: unknown source `{source}`{}",
                schema::suggestion(source, REFERENCE_SOURCES)
            ));
        }
        if ids.is_empty() {
            return Err(format!("references.{source}: must list at least one id"));
        }
        for id in ids {
            if let Some(message) = reference_id_error(source, id) {
                return Err(message);
            }
            let reference = Reference {
                source: source.clone(),
                id: id.clone(),
            };
            if references.contains(&reference) {
                return Err(format!("references.{source}: {id} is listed twice"));
            }
            references.push(reference);
        }
    }
    Ok(references)
}

/// A loaded, validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub id: String,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    pub resource_type: String,
    pub service: Service,
    pub remediation: String,
    pub controls: Vec<ControlRef>,
    /// The equivalent checks of other tools (empty when the file names none).
    pub references: Vec<Reference>,
    /// What a failure exposes, the privilege and data it involves (`risk:`; all `none` when
    /// the file has no such block): the factors of its findings' risk score
    /// ([`crate::risk::score`]).
    pub risk: RiskFactors,
    pub condition: PolicyCondition,
    /// Every configuration path the condition reads (derived from it).
    pub reads: Vec<Path>,
    /// The relations the condition follows (`Related.<name>`, derived from its paths): empty
    /// for a policy of one resource.
    pub related: crate::relate::RelatedReads,
    pub pass_examples: Vec<Value>,
    pub fail_examples: Vec<Value>,
    /// When the examples are evaluated (`examples.at`); `None`: the current time.
    pub examples_at: Option<DateTime<Utc>>,
}

/// The result of evaluating one policy against one configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Pass,
    /// The configuration fails; the evidence is the part of it that failed.
    Fail {
        evidence: Value,
    },
    /// The condition reads a part of the configuration that could not be collected: the policy
    /// says nothing about this resource (its finding, if any, stays as it was).
    NotEvaluated {
        unreadable: Vec<UnreadablePart>,
    },
}

impl Policy {
    /// Parses and validates one policy file. `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, PolicyError> {
        let raw: PolicyFile = serde_yaml::from_str(text).map_err(|e| PolicyError::Syntax {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        let invalid = |message: String| PolicyError::Invalid {
            file: file.to_owned(),
            message,
        };
        if raw.id.is_empty() || !raw.id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid(format!(
                "id {:?} must be non-empty PascalCase letters and digits",
                raw.id
            )));
        }
        for (field, value) in [
            ("title", &raw.title),
            ("description", &raw.description),
            ("remediation", &raw.remediation),
        ] {
            if value.trim().is_empty() {
                return Err(invalid(format!("`{field}` must not be empty")));
            }
        }
        let severity = raw
            .severity
            .parse::<Severity>()
            .map_err(|e| invalid(e.to_string()))?;
        let kind = schema::kind_for(&raw.resource_type).map_err(invalid)?;
        let schema = kind.schema();
        let service = kind.shape.service;
        let controls: Vec<ControlRef> = raw
            .controls
            .iter()
            .flat_map(|(framework, ids)| {
                ids.iter().map(move |id| ControlRef {
                    framework: framework.clone(),
                    id: id.clone(),
                })
            })
            .collect();
        let references = parse_references(raw.references.as_ref()).map_err(invalid)?;
        let risk = parse_risk(raw.risk.as_ref()).map_err(invalid)?;
        if controls.is_empty() && references.is_empty() {
            return Err(invalid(
                "`controls` must map to at least one control (or, for a check no framework \
                 has, `controls: {}` with the `references` it is equivalent to)"
                    .into(),
            ));
        }
        let condition =
            PolicyCondition::compile(&raw.fails_when, "fails_when").map_err(|source| {
                PolicyError::Condition {
                    file: file.to_owned(),
                    source,
                }
            })?;
        let misfit = |violation: Violation| PolicyError::Schema {
            file: file.to_owned(),
            violation,
        };
        schema
            .check_condition(&condition, "fails_when")
            .map_err(misfit)?;
        if raw.examples.pass.is_empty() || raw.examples.fail.is_empty() {
            return Err(invalid(
                "`examples` needs at least one `pass` and one `fail` configuration".into(),
            ));
        }
        for (kind, examples) in [("pass", &raw.examples.pass), ("fail", &raw.examples.fail)] {
            for (i, example) in examples.iter().enumerate() {
                let location = format!("examples.{kind}[{i}]");
                if let Some(violation) = schema.check_example(example, &location).into_iter().next()
                {
                    return Err(misfit(violation));
                }
            }
        }
        let related =
            crate::relate::RelatedReads::from_reads(&raw.resource_type, &condition.reads());
        let policy = Policy {
            related,
            id: raw.id,
            title: raw.title,
            description: raw.description,
            severity,
            resource_type: raw.resource_type,
            service,
            remediation: raw.remediation,
            controls,
            references,
            risk,
            reads: condition.reads(),
            condition,
            pass_examples: raw.examples.pass,
            fail_examples: raw.examples.fail,
            examples_at: raw.examples.at,
        };
        policy.check_examples().map_err(invalid)?;
        Ok(policy)
    }

    /// Evaluates the policy against one configuration: not at all if it reads an unreadable
    /// part.
    pub fn evaluate(&self, configuration: &Value) -> Outcome {
        self.evaluate_at(configuration, Utc::now())
    }

    /// [`Self::evaluate`] at the evaluation time `now` (the scan's or the event's: what
    /// `older_than_days` compares dates with).
    pub fn evaluate_at(&self, configuration: &Value, now: DateTime<Utc>) -> Outcome {
        let unreadable = self.unreadable_inputs(configuration);
        if !unreadable.is_empty() {
            return Outcome::NotEvaluated { unreadable };
        }
        if self.condition.holds_at(configuration, now) {
            Outcome::Fail {
                evidence: Value::Object(self.condition.evidence_at(configuration, now)),
            }
        } else {
            Outcome::Pass
        }
    }

    /// The unreadable parts of `configuration` that this policy's condition reads, and those of
    /// the related resources it follows (in a document with `Related`).
    pub fn unreadable_inputs(&self, configuration: &Value) -> Vec<UnreadablePart> {
        let reads: Vec<Vec<&str>> = self
            .reads
            .iter()
            .map(|p| p.segments().iter().map(String::as_str).collect())
            .collect();
        let mut out = Vec::new();
        unreadable_under(configuration, &reads, &mut out);
        out
    }

    /// True when the policy follows related resources (its document needs `Related`).
    pub fn follows_relations(&self) -> bool {
        !self.related.is_empty()
    }

    /// True when the configuration fails the policy (the fast path, no evidence, and no check of
    /// unreadable parts: for benchmarks and the policy's own examples).
    pub fn fails(&self, configuration: &Value) -> bool {
        self.condition.holds(configuration)
    }

    /// [`Self::fails`] at the evaluation time `now`.
    pub fn fails_at(&self, configuration: &Value, now: DateTime<Utc>) -> bool {
        self.condition.holds_at(configuration, now)
    }

    /// The time the policy's examples are evaluated at: `examples.at`, or now.
    pub fn examples_time(&self) -> DateTime<Utc> {
        self.examples_at.unwrap_or_else(Utc::now)
    }

    fn check_examples(&self) -> Result<(), String> {
        let now = self.examples_time();
        for (i, example) in self.pass_examples.iter().enumerate() {
            if self.fails_at(example, now) {
                return Err(format!(
                    "examples.pass[{i}] fails the policy's own condition"
                ));
            }
        }
        for (i, example) in self.fail_examples.iter().enumerate() {
            if !self.fails_at(example, now) {
                return Err(format!(
                    "examples.fail[{i}] passes the policy's own condition"
                ));
            }
        }
        Ok(())
    }
}

/// The unreadable parts of `doc` that `reads` (paths from its root) overlap, then those of
/// its related resources under the paths that continue into them.
fn unreadable_under(doc: &Value, reads: &[Vec<&str>], out: &mut Vec<UnreadablePart>) {
    let overlaps = |a: &[&str], b: &[&str]| a.iter().zip(b).all(|(x, y)| x == y);
    let mut parts = unreadable_parts(doc);
    parts.retain(|part| {
        let segments = part.segments();
        reads.iter().any(|read| overlaps(read, &segments))
    });
    out.extend(parts);
    let mut below: BTreeMap<&str, Vec<Vec<&str>>> = BTreeMap::new();
    for read in reads {
        if let [first, name, rest @ ..] = read.as_slice() {
            if *first == schema::RELATED {
                let rest: Vec<&str> = rest
                    .iter()
                    .copied()
                    .skip_while(|s| s.parse::<usize>().is_ok())
                    .collect();
                // The relation's own path only ranges over its items.
                if !rest.is_empty() {
                    below.entry(name).or_default().push(rest);
                }
            }
        }
    }
    for (name, reads) in below {
        let items = doc
            .get(schema::RELATED)
            .and_then(|r| r.get(name))
            .and_then(Value::as_array);
        for item in items.into_iter().flatten() {
            unreadable_under(item, &reads, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id: S3BucketVersioningEnabled
title: S3 buckets should use versioning
description: Versioning keeps prior object versions.
severity: low
resource_type: AWS::S3::Bucket
remediation: Enable versioning.
controls: {fsbp: [S3.14]}
fails_when: {path: Versioning.Status, op: neq, value: Enabled}
examples:
  pass: [{Versioning: {Status: Enabled}}]
  fail: [{Versioning: {Status: Suspended}}, {}]
"#;

    #[test]
    fn a_valid_policy_loads_and_evaluates() {
        let p = Policy::parse("v.yaml", GOOD).unwrap();
        assert_eq!(p.service, Service::S3);
        assert_eq!(p.severity, Severity::Low);
        assert_eq!(
            p.evaluate(&serde_json::json!({"Versioning": {"Status": "Enabled"}})),
            Outcome::Pass
        );
        match p.evaluate(&serde_json::json!({})) {
            Outcome::Fail { evidence } => {
                assert_eq!(evidence, serde_json::json!({"Versioning.Status": null}))
            }
            other => panic!("an unversioned bucket must fail: {other:?}"),
        }
    }

    #[test]
    fn a_policy_reading_an_unreadable_part_is_not_evaluated() {
        // Given the versioning policy and configurations with unreadable parts
        let p = Policy::parse("v.yaml", GOOD).unwrap();
        let unreadable = |path: &str| {
            serde_json::json!({"Unreadable": [
                {"Path": path, "Operation": "GetBucketVersioning", "Code": "AccessDenied"}
            ]})
        };
        // When the part it reads is unreadable, Then it is not evaluated (neither fail nor pass)
        for path in ["Versioning", "Versioning.Status", ""] {
            match p.evaluate(&unreadable(path)) {
                Outcome::NotEvaluated { unreadable } => {
                    assert_eq!(unreadable[0].code, "AccessDenied", "{path}")
                }
                other => panic!("{path}: {other:?}"),
            }
        }
        // When only another part is unreadable, Then it is evaluated as usual
        assert!(matches!(
            p.evaluate(&unreadable("Logging")),
            Outcome::Fail { .. }
        ));
    }

    #[test]
    fn a_misspelt_resource_type_is_rejected_with_the_nearest_type() {
        // Given the versioning policy with a misspelt resource type
        let text = GOOD.replace("AWS::S3::Bucket", "AWS::S3::Buckett");
        // When it loads, Then the error names the file and suggests the registered type
        let err = Policy::parse("v.yaml", &text).unwrap_err().to_string();
        assert!(err.starts_with("v.yaml: "), "{err}");
        assert!(err.contains("AWS::S3::Buckett"), "{err}");
        assert!(err.contains("did you mean `AWS::S3::Bucket`?"), "{err}");
    }

    #[test]
    fn a_path_misspelt_in_condition_and_examples_alike_is_rejected() {
        // Given the issue's example: a copy of the versioning policy whose condition and
        // examples both read `Versioning.Statuss`, so the examples agree with the condition
        let text = GOOD
            .replace("Versioning.Status,", "Versioning.Statuss,")
            .replace("{Status: ", "{Statuss: ");
        assert!(text.contains("Versioning.Statuss") && text.contains("{Statuss: Enabled}"));
        // When it loads, Then it is rejected at the condition's path, with the suggestion
        let err = Policy::parse("s3/S3BucketVersioningEnabled.yaml", &text)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("s3/S3BucketVersioningEnabled.yaml: fails_when.path: "),
            "{err}"
        );
        assert!(err.contains("`Statuss`"), "{err}");
        assert!(err.contains("did you mean `Status`?"), "{err}");
    }

    #[test]
    fn an_example_with_a_path_the_schema_lacks_is_rejected() {
        // Given a correct condition whose fail example misspells a field
        let text = GOOD.replace(
            "fail: [{Versioning: {Status: Suspended}}, {}]",
            "fail: [{Versioning: {Status: Suspended}}, {Versionning: {Status: Suspended}}]",
        );
        // When it loads, Then the example is named with the place and the nearest field
        let err = Policy::parse("v.yaml", &text).unwrap_err().to_string();
        assert!(err.contains("examples.fail[1].Versionning"), "{err}");
        assert!(err.contains("did you mean `Versioning`?"), "{err}");
        // And an example value of the wrong type is rejected too
        let text = GOOD.replace(
            "pass: [{Versioning: {Status: Enabled}}]",
            "pass: [{Versioning: {Status: Enabled}, Name: 7}]",
        );
        let err = Policy::parse("v.yaml", &text).unwrap_err().to_string();
        assert!(
            err.contains("examples.pass[0].Name: expected string, found number"),
            "{err}"
        );
    }

    #[test]
    fn an_operator_that_cannot_apply_to_the_path_is_rejected() {
        // Given operators applied to paths of the wrong type
        for (condition, expected) in [
            (
                "fails_when: {path: PublicAccessBlock.BlockPublicAcls, op: cidr_contains, value: 10.0.0.1}",
                "`cidr_contains` applies to strings, but the path is a boolean",
            ),
            (
                "fails_when: {path: Versioning.Status, op: gt, value: 1}",
                "`gt` compares numbers, but the path is a string",
            ),
            (
                "fails_when: {any: [{path: Name, op: exists}, {path: Versioning, op: eq, value: Enabled}]}",
                "`eq` cannot apply to an object",
            ),
        ] {
            let text = GOOD.replace(
                "fails_when: {path: Versioning.Status, op: neq, value: Enabled}",
                condition,
            );
            // When the policy loads, Then the operator's place and the mismatch are named
            let err = Policy::parse("v.yaml", &text).unwrap_err().to_string();
            assert!(err.contains(expected), "{condition}: {err}");
            assert!(err.starts_with("v.yaml: fails_when."), "{err}");
            assert!(err.contains(".op: "), "{err}");
        }
    }

    /// A date rule whose pass example is fresh only at its `examples.at`.
    fn aged(at: &str) -> String {
        format!(
            r#"
id: S3BucketYoung
title: Buckets younger than 90 days
description: Age rule.
severity: low
resource_type: AWS::S3::Bucket
remediation: None.
controls: {{fsbp: [S3.14]}}
fails_when: {{path: CreationDate, op: older_than_days, value: 90}}
examples:
  {at}
  pass: [{{CreationDate: "2026-11-01T00:00:00Z"}}]
  fail: [{{CreationDate: "2026-01-01T00:00:00Z"}}]
"#
        )
    }

    #[test]
    fn examples_are_evaluated_at_their_own_time_and_scans_at_theirs() {
        // Given a date rule whose examples are dated 2026-12-01
        let p = Policy::parse("a.yaml", &aged("at: 2026-12-01T00:00:00Z")).unwrap();
        let fresh = serde_json::json!({"CreationDate": "2026-11-01T00:00:00Z"});
        let at = |t: &str| crate::policy::cond::parse_date(t).unwrap();
        // Then the configuration passes when evaluated then, and fails a year later
        assert_eq!(p.evaluate_at(&fresh, at("2026-12-01")), Outcome::Pass);
        assert!(matches!(
            p.evaluate_at(&fresh, at("2027-12-01")),
            Outcome::Fail { .. }
        ));
        // And the same file evaluated at a time when its pass example is old is rejected
        let late = Policy::parse("a.yaml", &aged("at: 2030-01-01T00:00:00Z")).unwrap_err();
        assert!(
            late.to_string().contains("examples.pass[0] fails"),
            "{late}"
        );
    }

    #[test]
    fn references_to_prowler_checks_load_in_order() {
        // Given the versioning policy naming two Prowler checks
        let text = GOOD.replace(
            "controls: {fsbp: [S3.14]}",
            "controls: {fsbp: [S3.14]}\nreferences: {prowler: [s3_bucket_object_versioning, s3_bucket_2_x]}",
        );
        // When it loads, Then both are kept, in the file's order
        let p = Policy::parse("v.yaml", &text).unwrap();
        let ids: Vec<(&str, &str)> = p
            .references
            .iter()
            .map(|r| (r.source.as_str(), r.id.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("prowler", "s3_bucket_object_versioning"),
                ("prowler", "s3_bucket_2_x")
            ]
        );
        // And a policy without the field has none
        assert!(Policy::parse("v.yaml", GOOD).unwrap().references.is_empty());
    }

    #[test]
    fn a_check_no_framework_has_loads_with_references_alone() {
        // Given the versioning policy with no control but a Prowler reference
        let text = GOOD.replace(
            "controls: {fsbp: [S3.14]}",
            "controls: {}\nreferences: {prowler: [s3_bucket_object_versioning]}",
        );
        // When it loads, Then it has no control and its reference
        let p = Policy::parse("v.yaml", &text).unwrap();
        assert!(p.controls.is_empty());
        assert_eq!(p.references[0].id, "s3_bucket_object_versioning");
        // And without the reference it is refused, saying what it lacks
        let bare = GOOD.replace("controls: {fsbp: [S3.14]}", "controls: {}");
        let err = Policy::parse("v.yaml", &bare).unwrap_err().to_string();
        assert!(
            err.contains("`controls` must map to at least one control")
                && err.contains("`references`"),
            "{err}"
        );
    }

    #[test]
    fn bad_references_are_named() {
        for (references, expected) in [
            (
                "{prowlr: [s3_bucket_object_versioning]}",
                "references: unknown source `prowlr`; did you mean `prowler`?",
            ),
            (
                "{securityhub: [S3.14]}",
                "references: unknown source `securityhub`; expected one of: prowler",
            ),
            (
                "{prowler: []}",
                "references.prowler: must list at least one id",
            ),
            (
                "{prowler: [S3_Bucket_Versioning]}",
                "references.prowler: \"S3_Bucket_Versioning\" is not a Prowler check id",
            ),
            (
                "{prowler: [\"s3 bucket\"]}",
                "references.prowler: \"s3 bucket\" is not a Prowler check id",
            ),
            (
                "{prowler: [\"\"]}",
                "references.prowler: \"\" is not a Prowler check id",
            ),
            (
                "{prowler: [s3_a, s3_a]}",
                "references.prowler: s3_a is listed twice",
            ),
            ("{}", "`references` must name at least one source (prowler)"),
        ] {
            // Given the versioning policy with bad references
            let text = GOOD.replace(
                "controls: {fsbp: [S3.14]}",
                &format!("controls: {{fsbp: [S3.14]}}\nreferences: {references}"),
            );
            // When it loads, Then the file and the problem are named
            let err = Policy::parse("v.yaml", &text).unwrap_err().to_string();
            assert!(err.starts_with("v.yaml: "), "{references}: {err}");
            assert!(err.contains(expected), "{references}: {err}");
        }
        // And a reference that is not a map of lists is a syntax error
        let text = GOOD.replace(
            "controls: {fsbp: [S3.14]}",
            "controls: {fsbp: [S3.14]}\nreferences: [s3_bucket_object_versioning]",
        );
        assert!(matches!(
            Policy::parse("v.yaml", &text),
            Err(PolicyError::Syntax { .. })
        ));
    }

    #[test]
    fn a_risk_block_loads_its_factors() {
        // Given the versioning policy with a full and a partial risk block
        let with = |risk: &str| {
            GOOD.replace(
                "controls: {fsbp: [S3.14]}",
                &format!("controls: {{fsbp: [S3.14]}}\nrisk: {risk}"),
            )
        };
        // When they load, Then the factors are kept and the others are none
        let p = Policy::parse(
            "v.yaml",
            &with("{exposure: internet, privilege: admin, data: sensitive}"),
        )
        .unwrap();
        assert_eq!(
            p.risk,
            RiskFactors {
                exposure: crate::risk::Exposure::Internet,
                privilege: crate::risk::Privilege::Admin,
                data: crate::risk::DataSensitivity::Sensitive,
            }
        );
        let p = Policy::parse("v.yaml", &with("{exposure: cross_account}")).unwrap();
        assert_eq!(p.risk.exposure, crate::risk::Exposure::CrossAccount);
        assert_eq!(p.risk.privilege, crate::risk::Privilege::None);
        // And a policy without the block has no factor
        assert!(Policy::parse("v.yaml", GOOD).unwrap().risk.is_none());
    }

    #[test]
    fn bad_risk_blocks_are_named() {
        for (risk, expected) in [
            (
                "{exposure: interent}",
                "v.yaml: risk.exposure: unknown exposure \"interent\"; did you mean `internet`?",
            ),
            (
                "{exposure: public, privilege: adimn}",
                "risk.privilege: unknown privilege \"adimn\"; did you mean `admin`?",
            ),
            (
                "{data: secret}",
                "risk.data: unknown data \"secret\"; expected one of: none, sensitive",
            ),
            (
                "{}",
                "`risk` must name at least one of `exposure`, `privilege`, `data`",
            ),
        ] {
            // Given the versioning policy with a bad risk block
            let text = GOOD.replace(
                "controls: {fsbp: [S3.14]}",
                &format!("controls: {{fsbp: [S3.14]}}\nrisk: {risk}"),
            );
            // When it loads, Then the file, the field and the problem are named
            let err = Policy::parse("v.yaml", &text).unwrap_err().to_string();
            assert!(err.starts_with("v.yaml: "), "{risk}: {err}");
            assert!(err.contains(expected), "{risk}: {err}");
        }
        // And an unknown factor is refused as an unknown field
        let text = GOOD.replace(
            "controls: {fsbp: [S3.14]}",
            "controls: {fsbp: [S3.14]}\nrisk: {exposure: public, reach: far}",
        );
        let err = Policy::parse("v.yaml", &text).unwrap_err().to_string();
        assert!(err.contains("unknown field `reach`"), "{err}");
    }

    #[test]
    fn contradicting_examples_are_rejected() {
        let text = GOOD.replace("pass: [{Versioning: {Status: Enabled}}]", "pass: [{}]");
        let err = Policy::parse("v.yaml", &text).unwrap_err().to_string();
        assert!(err.contains("examples.pass[0]"), "{err}");
    }

    #[test]
    fn bad_fields_are_named() {
        let err = Policy::parse("v.yaml", &GOOD.replace("severity: low", "severity: urgent"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("urgent"), "{err}");
        let err = Policy::parse(
            "v.yaml",
            &GOOD.replace("AWS::S3::Bucket", "AWS::SQS::Queue"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("AWS::SQS::Queue"), "{err}");
        let err = Policy::parse("v.yaml", &format!("{GOOD}\nextra: 1"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field"), "{err}");
        let err = Policy::parse("v.yaml", &GOOD.replace("op: neq", "op: differs"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("fails_when") && err.contains("differs"),
            "{err}"
        );
    }
}
