//! Secrets in a function's environment variables, found with `qrie-detectors` and kept masked.
//!
//! Each variable is scanned as `NAME=value`, so that the name serves as the keyword the secret
//! key detector wants next to a 40-character key (`BILLING_SECRET_ACCESS_KEY=...`); only detections
//! inside the value count. What is kept is the variable's name, the detector and the masked
//! value: the raw value never leaves this function, in the configuration or in a log line.

use std::collections::HashMap;
use std::sync::OnceLock;

use qrie_detectors::{DetectorKind, Detectors};
use serde_json::{json, Value};

/// The detectors that find credentials (not personal data, which is the object scanner's).
const SECRET_KINDS: &[DetectorKind] = &[
    DetectorKind::AwsAccessKeyId,
    DetectorKind::AwsSecretAccessKey,
];

fn detectors() -> &'static Detectors {
    static DETECTORS: OnceLock<Detectors> = OnceLock::new();
    DETECTORS.get_or_init(|| Detectors::with_kinds(SECRET_KINDS))
}

/// The masked detections in `variables`, sorted by variable name:
/// `[{Variable, Detector, Masked}]`.
pub fn masked_detections(variables: &HashMap<String, String>) -> Vec<Value> {
    let mut names: Vec<&String> = variables.keys().collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let value = &variables[name];
        let text = format!("{name}={value}");
        let value_start = (name.len() + 1) as u64;
        for detection in detectors().scan(text.as_bytes()) {
            if detection.start >= value_start {
                out.push(json!({
                    "Variable": name,
                    "Detector": detection.kind.as_str(),
                    "Masked": detection.masked,
                }));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Synthetic credentials of the right shape (the detectors' own test values; AWS's
    /// documentation examples are deliberately not reported).
    const KEY_ID: &str = "AKIAZ7VRSQ5TJN2K4LMB";
    const SECRET: &str = "Zk3xQ9vW2mN7pL4rT8yB1cD6fG0hJ5kM9nP2qR7s";

    #[test]
    fn a_secret_key_in_a_variable_is_reported_masked_and_never_raw() {
        // given a function environment with a secret key, a key id and a harmless variable
        let vars: HashMap<String, String> = [
            ("BILLING_SECRET_ACCESS_KEY", SECRET),
            ("DEPLOY_KEY_ID", KEY_ID),
            ("LOG_LEVEL", "debug"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        // when
        let found = masked_detections(&vars);
        // then the secret is named by variable and detector, masked
        let text = serde_json::to_string(&found).expect("serialises");
        assert!(
            found
                .iter()
                .any(|d| d["Variable"] == "BILLING_SECRET_ACCESS_KEY"
                    && d["Detector"] == "aws_secret_access_key"),
            "{text}"
        );
        assert!(found.iter().all(|d| d["Variable"] != "LOG_LEVEL"), "{text}");
        // and neither raw value appears anywhere in what is kept
        assert!(!text.contains(SECRET), "{text}");
        assert!(!text.contains(KEY_ID), "{text}");
    }

    #[test]
    fn a_variable_without_a_secret_gives_nothing() {
        let vars: HashMap<String, String> = [("TABLE", "orders"), ("REGION", "eu-west-1")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert!(masked_detections(&vars).is_empty());
    }
}
