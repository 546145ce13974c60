//! Masked forms of matched values: the only representation of a match that leaves this crate.
//!
//! Rules (from the Macie-style reporting requirements): an SSN or card keeps its last four
//! digits, a phone number its last four, an access key ID its first four characters, an email
//! its first local character, the first domain character and the top-level domain, and a secret
//! key nothing at all.

use crate::kind::DetectorKind;

/// Masked form of a secret access key: forty asterisks, nothing of the value.
pub const MASKED_SECRET_KEY: &str = "****************************************";

/// Masks `raw`, the exact matched bytes of a detection of `kind`.
pub fn mask_value(kind: DetectorKind, raw: &[u8]) -> String {
    match kind {
        DetectorKind::UsSsn => format!("***-**-{}", last_digits(raw, 4)),
        DetectorKind::CreditCard => {
            let digit_count = raw.iter().filter(|b| b.is_ascii_digit()).count();
            let mut masked = "*".repeat(digit_count.saturating_sub(4));
            masked.push_str(&last_digits(raw, 4));
            masked
        }
        DetectorKind::UsPhone => format!("***-***-{}", last_digits(raw, 4)),
        DetectorKind::AwsAccessKeyId => {
            let prefix: String = raw.iter().take(4).map(|&b| char::from(b)).collect();
            format!("{prefix}{}", "*".repeat(raw.len().saturating_sub(4)))
        }
        DetectorKind::AwsSecretAccessKey => MASKED_SECRET_KEY.to_string(),
        DetectorKind::Email => mask_email(raw),
    }
}

fn last_digits(raw: &[u8], count: usize) -> String {
    let digits: Vec<u8> = raw.iter().copied().filter(u8::is_ascii_digit).collect();
    let from = digits.len().saturating_sub(count);
    digits[from..].iter().map(|&b| char::from(b)).collect()
}

/// `jane.doe@example.co.uk` becomes `j***@e***.uk`.
fn mask_email(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let Some((local, domain)) = text.split_once('@') else {
        return "***@***".to_string();
    };
    let first_local = local.chars().next().unwrap_or('*');
    let first_domain = domain.chars().next().unwrap_or('*');
    let tld = domain.rsplit('.').next().unwrap_or("");
    format!("{first_local}***@{first_domain}***.{tld}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_each_kind_when_masked_then_only_the_permitted_part_remains() {
        assert_eq!(
            mask_value(DetectorKind::UsSsn, b"536-22-1987"),
            "***-**-1987"
        );
        assert_eq!(
            mask_value(DetectorKind::CreditCard, b"4539 1488 0343 6467"),
            "************6467"
        );
        assert_eq!(
            mask_value(DetectorKind::UsPhone, b"(202) 555-0143"),
            "***-***-0143"
        );
        assert_eq!(
            mask_value(DetectorKind::AwsAccessKeyId, b"AKIAZ7VRSQ5TEXAMPLE2"),
            "AKIA****************"
        );
        assert_eq!(
            mask_value(
                DetectorKind::AwsSecretAccessKey,
                b"Zk3xQ9vW2mN7pL4rT8yB1cD6fG0hJ5kM9nP2qR7s"
            ),
            MASKED_SECRET_KEY
        );
        assert_eq!(
            mask_value(DetectorKind::Email, b"jane.doe@example.co.uk"),
            "j***@e***.uk"
        );
    }
}
