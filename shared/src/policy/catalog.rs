//! The catalog: every policy qrie ships (or a folder of the user's own), validated together.
//!
//! Policies are discovered from `policies/<service>/<PolicyId>.yaml`; the compliance frameworks
//! their controls refer to are the control lists in `policies/frameworks/<framework>.tsv`. The
//! shipped set is compiled into each binary; `QRIE_POLICY_DIR` loads a folder instead. A file that
//! does not validate is reported and skipped; the others still load.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use thiserror::Error;

use super::def::{Policy, PolicyError};

include!(concat!(env!("OUT_DIR"), "/policies.rs"));

/// A problem that stops the catalog from loading at all.
#[derive(Debug, Error)]
pub enum CatalogError {
    #[error("cannot read policy folder {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// One compliance control: its id and title, and whether the framework assesses it by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    pub id: String,
    pub title: String,
    /// The framework lists it as a manual assessment (CIS's `Manual` assessment status): no
    /// configuration can decide it, so it is reported as manual, never as not evaluated.
    pub manual: bool,
}

/// The loaded policies, the frameworks, and the files that were rejected.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    policies: Vec<Policy>,
    by_id: HashMap<String, usize>,
    frameworks: BTreeMap<String, BTreeMap<String, Control>>,
    /// The suppression rules of `suppressions.yaml` that validated.
    suppressions: Vec<super::suppressions::SuppressionRule>,
    /// Files (and suppression rules) that failed validation, with the reason; they are not in the catalog.
    pub rejected: Vec<PolicyError>,
}

impl Catalog {
    /// The policies compiled into this binary.
    pub fn embedded() -> Self {
        Self::from_files(
            EMBEDDED_POLICY_FILES
                .iter()
                .map(|(name, text)| ((*name).to_owned(), (*text).to_owned())),
        )
    }

    /// The policies compiled into this binary for the given service folders only (with every
    /// framework list): a catalogue in which the other services have no policy.
    #[cfg(test)]
    pub(crate) fn embedded_of(services: &[&str]) -> Self {
        Self::from_files(embedded_files_of(services))
    }

    /// [`Self::embedded_of`] with `rules` as the suppression rules file.
    #[cfg(test)]
    pub(crate) fn embedded_of_with_rules(services: &[&str], rules: &str) -> Self {
        Self::from_files(
            embedded_files_of(services)
                .chain([(super::suppressions::FILE.to_owned(), rules.to_owned())]),
        )
    }

    /// Loads `dir` (same layout as the repository's `policies/`).
    pub fn from_dir(dir: &Path) -> Result<Self, CatalogError> {
        let mut files = Vec::new();
        read_tree(dir, dir, &mut files).map_err(|source| CatalogError::Read {
            path: dir.display().to_string(),
            source,
        })?;
        files.sort();
        Ok(Self::from_files(files))
    }

    /// Builds a catalog from (relative path, contents) pairs.
    pub fn from_files(files: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut catalog = Catalog::default();
        let mut policy_files = Vec::new();
        let mut rules_file = None;
        for (name, text) in files {
            if let Some(framework) = name
                .strip_prefix("frameworks/")
                .and_then(|n| n.strip_suffix(".tsv"))
            {
                catalog
                    .frameworks
                    .insert(framework.to_owned(), parse_framework(&text));
            } else if name == super::suppressions::FILE {
                rules_file = Some(text);
            } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                policy_files.push((name, text));
            }
        }
        for (name, text) in policy_files {
            match Policy::parse(&name, &text).and_then(|p| catalog.check(&name, p)) {
                Ok(policy) => {
                    catalog
                        .by_id
                        .insert(policy.id.clone(), catalog.policies.len());
                    catalog.policies.push(policy);
                }
                Err(e) => catalog.rejected.push(e),
            }
        }
        if let Some(text) = rules_file {
            let (rules, rejected) =
                super::suppressions::parse(super::suppressions::FILE, &text, |id| {
                    catalog.by_id.contains_key(id)
                });
            catalog.suppressions = rules;
            catalog.rejected.extend(rejected);
        }
        catalog
    }

    /// The suppression rules that validated (see [`super::suppressions`]).
    pub fn suppressions(&self) -> &[super::suppressions::SuppressionRule] {
        &self.suppressions
    }

    /// Checks what only the whole catalog can: unique ids, file named after the id, controls
    /// that exist in a known framework.
    fn check(&self, file: &str, policy: Policy) -> Result<Policy, PolicyError> {
        let invalid = |message: String| PolicyError::Invalid {
            file: file.to_owned(),
            message,
        };
        let stem = Path::new(file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if stem != policy.id {
            return Err(invalid(format!(
                "file name must be the policy id: expected {}.yaml",
                policy.id
            )));
        }
        if self.by_id.contains_key(&policy.id) {
            return Err(invalid(format!("duplicate policy id {}", policy.id)));
        }
        for control in &policy.controls {
            let Some(framework) = self.frameworks.get(&control.framework) else {
                let known: Vec<&str> = self.frameworks.keys().map(String::as_str).collect();
                return Err(invalid(format!(
                    "unknown framework {:?} (known: {}){}",
                    control.framework,
                    known.join(", "),
                    super::schema::suggestion(&control.framework, &known)
                )));
            };
            if !framework.contains_key(&control.id) {
                return Err(invalid(format!(
                    "control {} is not in framework {}",
                    control.id, control.framework
                )));
            }
        }
        Ok(policy)
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    pub fn get(&self, id: &str) -> Option<&Policy> {
        self.by_id.get(id).map(|&i| &self.policies[i])
    }

    /// The title of a control, e.g. (`fsbp`, `S3.2`).
    pub fn control(&self, framework: &str, id: &str) -> Option<&Control> {
        self.frameworks.get(framework)?.get(id)
    }

    /// The controls of one framework (its file's stem, e.g. `cis-aws-v5.0`), in id order.
    pub fn framework(&self, framework: &str) -> Option<&BTreeMap<String, Control>> {
        self.frameworks.get(framework)
    }

    /// The names of the loaded frameworks, in order.
    pub fn framework_names(&self) -> impl Iterator<Item = &str> {
        self.frameworks.keys().map(String::as_str)
    }
}

/// The embedded files of the given service folders and every framework list.
#[cfg(test)]
fn embedded_files_of<'a>(services: &'a [&'a str]) -> impl Iterator<Item = (String, String)> + 'a {
    EMBEDDED_POLICY_FILES
        .iter()
        .filter(move |(name, _)| {
            let folder = name.split('/').next().unwrap_or_default();
            folder == "frameworks" || services.contains(&folder)
        })
        .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
}

fn parse_framework(text: &str) -> BTreeMap<String, Control> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut cells = l.split('\t');
            let id = cells.next()?.trim().to_owned();
            let title = cells.next().unwrap_or_default().trim().to_owned();
            let manual = cells.any(|cell| cell.trim() == "Manual");
            Some((id.clone(), Control { id, title, manual }))
        })
        .collect()
}

fn read_tree(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            read_tree(root, &path, out)?;
        } else {
            let rel = path
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            if rel.ends_with(".yaml") || rel.ends_with(".yml") || rel.ends_with(".tsv") {
                out.push((rel, std::fs::read_to_string(&path)?));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Outcome;

    #[test]
    fn every_shipped_policy_loads_and_its_examples_hold() {
        let catalog = Catalog::embedded();
        assert!(
            catalog.rejected.is_empty(),
            "rejected: {:#?}",
            catalog.rejected
        );
        assert!(
            catalog.policies().len() >= 9,
            "{}",
            catalog.policies().len()
        );
        for policy in catalog.policies() {
            let at = policy.examples_time();
            for example in &policy.pass_examples {
                assert_eq!(
                    policy.evaluate_at(example, at),
                    Outcome::Pass,
                    "{}",
                    policy.id
                );
            }
            for example in &policy.fail_examples {
                match policy.evaluate_at(example, at) {
                    Outcome::Fail { evidence } => assert!(
                        evidence.as_object().is_some_and(|m| !m.is_empty()),
                        "{}: a failure must carry evidence",
                        policy.id
                    ),
                    other => panic!("{}: fail example gave {other:?}", policy.id),
                }
            }
            for control in &policy.controls {
                assert!(catalog.control(&control.framework, &control.id).is_some());
            }
        }
    }

    #[test]
    fn every_shipped_policy_is_of_a_registered_kind_and_in_its_services_folder() {
        let catalog = Catalog::embedded();
        for policy in catalog.policies() {
            // given a shipped policy
            // then its type is a kind qrie collects, of the policy's service
            let kind = crate::registry::kind(&policy.resource_type).unwrap_or_else(|| {
                panic!("{}: {} is not registered", policy.id, policy.resource_type)
            });
            assert_eq!(kind.shape.service, policy.service, "{}", policy.id);
            // and its file is under policies/<service>/, or policies/combinations/ exactly when
            // it follows related resources
            let folder = if policy.follows_relations() {
                "combinations".to_owned()
            } else {
                policy.service.to_string()
            };
            let file = format!("{folder}/{}.yaml", policy.id);
            assert!(
                EMBEDDED_POLICY_FILES.iter().any(|(name, _)| *name == file),
                "{} is not at policies/{file}",
                policy.id
            );
        }
    }

    #[test]
    fn shipped_risk_factors_follow_what_the_policies_check() {
        use crate::risk::{DataSensitivity, Exposure, Privilege};
        let catalog = Catalog::embedded();
        let text = |id: &str| {
            let policy = catalog.get(id).unwrap();
            let folder = if policy.follows_relations() {
                "combinations".to_owned()
            } else {
                policy.service.to_string()
            };
            let file = format!("{folder}/{id}.yaml");
            EMBEDDED_POLICY_FILES
                .iter()
                .find(|(name, _)| *name == file)
                .map(|(_, text)| *text)
                .unwrap()
        };
        // `op: allows` with the value `*` (block or flow YAML, any quotes)
        let full_admin =
            regex::Regex::new(r#"op"?: *"?allows"?,?\s+"?value"?: *['"]\*['"]"#).unwrap();
        let mut admin_checks = 0;
        for p in catalog.policies() {
            let body = text(&p.id);
            if p.follows_relations() {
                // A combination declares what its whole path exposes: a step through an
                // administrator or an escalation role is the administrator's privilege, and
                // sensitive data only where the path reads secrets or the object scanner's data
                if full_admin.is_match(body) {
                    assert_eq!(p.risk.privilege, Privilege::Admin, "{}", p.id);
                }
                if p.risk.data == DataSensitivity::Sensitive {
                    assert!(
                        body.contains("UserDataSecrets") || body.contains("Related.ObjectData"),
                        "{}",
                        p.id
                    );
                }
                // and a combination about logging or deletion guards exposes nothing
                if p.id.contains("Logging") || p.id.contains("MfaDelete") {
                    assert!(p.risk.is_none(), "{} has risk factors", p.id);
                } else {
                    assert!(
                        p.risk.exposure != Exposure::None,
                        "{} exposes nothing",
                        p.id
                    );
                }
                continue;
            }
            // Given a policy that checks full administrative access or an escalation path
            // Then its findings involve that privilege
            if full_admin.is_match(body) || p.id.ends_with("NoAdministratorAccess") {
                admin_checks += 1;
                assert_eq!(p.risk.privilege, Privilege::Admin, "{}", p.id);
            }
            if body.contains("escalates_privilege") {
                assert_eq!(p.risk.privilege, Privilege::Escalation, "{}", p.id);
            }
            // And a security group opened to the whole internet is reachable from it
            if p.resource_type == "AWS::EC2::SecurityGroup" && p.id.ends_with("OpenToInternet") {
                assert_eq!(p.risk.exposure, Exposure::Internet, "{}", p.id);
            }
            // And a check of logging, encryption, rotation or a missing guard exposes nothing
            for quiet in [
                "Logging",
                "Logs",
                "Encrypt",
                "Rotation",
                "Tls",
                "PublicAccessBlock",
                "BlockPublicAccess",
                "Versioning",
                "Backup",
                "Monitoring",
            ] {
                if p.id.contains(quiet) {
                    assert!(p.risk.is_none(), "{} has risk factors", p.id);
                }
            }
            // And only a check of secrets declares sensitive data
            if p.risk.data == DataSensitivity::Sensitive {
                assert!(p.id.contains("NoSecrets"), "{}", p.id);
            }
        }
        // (the seven `allows: "*"` checks and the three AdministratorAccess ones were seen)
        assert_eq!(admin_checks, 10);
    }

    #[test]
    fn the_repository_folder_matches_the_embedded_set() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
        let from_dir = Catalog::from_dir(&dir).unwrap();
        let ids = |c: &Catalog| {
            c.policies()
                .iter()
                .map(|p| p.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&from_dir), ids(&Catalog::embedded()));
    }

    #[test]
    fn an_invalid_file_is_rejected_and_the_rest_still_load() {
        let mut files: Vec<(String, String)> = EMBEDDED_POLICY_FILES
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect();
        let total = Catalog::embedded().policies().len();
        files.push(("s3/Broken.yaml".into(), "id: Broken\ntitle: [".into()));
        files.push((
            "s3/WrongName.yaml".into(),
            files
                .iter()
                .find(|(n, _)| n.ends_with("S3BucketVersioningEnabled.yaml"))
                .map(|(_, t)| t.clone())
                .unwrap(),
        ));
        let catalog = Catalog::from_files(files);
        assert_eq!(catalog.policies().len(), total);
        assert_eq!(catalog.rejected.len(), 2, "{:#?}", catalog.rejected);
        let messages: Vec<String> = catalog.rejected.iter().map(|e| e.to_string()).collect();
        assert!(messages.iter().any(|m| m.starts_with("s3/Broken.yaml")));
        assert!(messages
            .iter()
            .any(|m| m.contains("file name must be the policy id")));
    }

    #[test]
    fn a_shipped_policy_copied_with_a_guessed_shape_is_rejected_and_skipped() {
        // Given the shipped versioning policy with `Versioning.Statuss` in its condition and
        // examples alike (as an author who guessed the shape would write it)
        let mut files: Vec<(String, String)> = EMBEDDED_POLICY_FILES
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect();
        let total = Catalog::embedded().policies().len();
        let (_, text) = files
            .iter_mut()
            .find(|(n, _)| n.ends_with("S3BucketVersioningEnabled.yaml"))
            .unwrap();
        *text = text
            .replace("Versioning.Status,", "Versioning.Statuss,")
            .replace("{Status: ", "{Statuss: ");
        // When the catalog loads
        let catalog = Catalog::from_files(files);
        // Then that one file is rejected with the place and the suggestion; the others load
        assert_eq!(catalog.policies().len(), total - 1);
        assert!(catalog.get("S3BucketVersioningEnabled").is_none());
        let messages: Vec<String> = catalog.rejected.iter().map(|e| e.to_string()).collect();
        assert_eq!(messages.len(), 1, "{messages:?}");
        // (the message the README shows)
        assert_eq!(
            messages[0],
            "s3/S3BucketVersioningEnabled.yaml: fails_when.path: `Statuss` is not a field of \
             `Versioning`; did you mean `Status`?"
        );
    }

    #[test]
    fn the_nist_and_pci_lists_title_their_ids() {
        // Given the shipped frameworks
        let catalog = Catalog::embedded();
        // Then a NIST enhancement, a lettered part of a control and a PCI requirement carry
        // their published titles
        for (framework, id, title) in [
            (
                "nist-800-53-r5",
                "AC-2(1)",
                "Automated System Account Management",
            ),
            ("nist-800-53-r5", "SC-7(a)", "Boundary Protection, part (a)"),
            (
                "nist-800-53-r5",
                "AC-17(4)(a)",
                "Privileged Commands and Access, part (a)",
            ),
            (
                "pci-dss-4.0",
                "8.4.2",
                "MFA is implemented for all access into the CDE",
            ),
        ] {
            let control = catalog.control(framework, id);
            assert_eq!(control.map(|c| c.title.as_str()), Some(title), "{id}");
        }
        // And every control a shipped policy maps to has a title
        for policy in catalog.policies() {
            for control in &policy.controls {
                let title = &catalog
                    .control(&control.framework, &control.id)
                    .unwrap()
                    .title;
                assert!(!title.is_empty(), "{}: {}", policy.id, control.id);
            }
        }
    }

    #[test]
    fn a_misspelt_framework_is_rejected_with_the_nearest_name() {
        // Given the versioning policy with its framework key misspelt
        let text = EMBEDDED_POLICY_FILES
            .iter()
            .find(|(n, _)| n.ends_with("S3BucketVersioningEnabled.yaml"))
            .map(|(_, t)| t.replace("fsbp:", "fsbq:"))
            .unwrap();
        let mut files: Vec<(String, String)> = EMBEDDED_POLICY_FILES
            .iter()
            .filter(|(n, _)| n.starts_with("frameworks/"))
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect();
        files.push(("s3/S3BucketVersioningEnabled.yaml".into(), text));
        // When the catalog loads, Then the error suggests the framework that exists
        let catalog = Catalog::from_files(files);
        let message = catalog.rejected[0].to_string();
        assert!(message.contains("unknown framework \"fsbq\""), "{message}");
        assert!(message.ends_with("did you mean `fsbp`?"), "{message}");
    }

    #[test]
    fn unknown_controls_are_rejected() {
        let text = EMBEDDED_POLICY_FILES
            .iter()
            .find(|(n, _)| n.ends_with("S3BucketVersioningEnabled.yaml"))
            .map(|(_, t)| t.replace("S3.14", "S3.999"))
            .unwrap();
        let mut files: Vec<(String, String)> = EMBEDDED_POLICY_FILES
            .iter()
            .filter(|(n, _)| n.starts_with("frameworks/"))
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect();
        files.push(("s3/S3BucketVersioningEnabled.yaml".into(), text));
        let catalog = Catalog::from_files(files);
        assert!(catalog.rejected[0].to_string().contains("S3.999"));
    }
}
