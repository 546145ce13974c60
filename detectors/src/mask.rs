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
        DetectorKind::UsSsn => masked_last_digits(b"***-**-", raw),
        DetectorKind::CreditCard => {
            let digit_count = raw.iter().filter(|b| b.is_ascii_digit()).count();
            let mut masked = Masked::new();
            masked.stars(digit_count.saturating_sub(4));
            masked.last_digits(raw, 4);
            masked.into_string()
        }
        DetectorKind::UsPhone => masked_last_digits(b"***-***-", raw),
        DetectorKind::AwsAccessKeyId => {
            let mut masked = Masked::new();
            masked.push(&raw[..raw.len().min(4)]);
            masked.stars(raw.len().saturating_sub(4));
            masked.into_string()
        }
        DetectorKind::AwsSecretAccessKey => MASKED_SECRET_KEY.to_string(),
        DetectorKind::Email => mask_email(raw),
    }
}

/// `prefix` followed by the last four digits of `raw`.
fn masked_last_digits(prefix: &[u8], raw: &[u8]) -> String {
    let mut masked = Masked::new();
    masked.push(prefix);
    masked.last_digits(raw, 4);
    masked.into_string()
}

/// A masked value built on the stack, then allocated once at its final length.
struct Masked {
    bytes: [u8; 64],
    length: usize,
}

impl Masked {
    fn new() -> Self {
        Masked {
            bytes: [0; 64],
            length: 0,
        }
    }

    /// Appends `text`, as much of it as fits (masked values are far shorter than 64 bytes).
    fn push(&mut self, text: &[u8]) {
        let room = self.bytes.len() - self.length;
        let text = &text[..text.len().min(room)];
        self.bytes[self.length..self.length + text.len()].copy_from_slice(text);
        self.length += text.len();
    }

    fn stars(&mut self, count: usize) {
        let count = count.min(self.bytes.len() - self.length);
        self.bytes[self.length..self.length + count].fill(b'*');
        self.length += count;
    }

    /// Appends the last `count` ASCII digits of `raw` (fewer if it has fewer), in order.
    fn last_digits(&mut self, raw: &[u8], count: usize) {
        let mut last = [0u8; 8];
        let wanted = count.min(last.len());
        let mut found = 0;
        for &b in raw.iter().rev() {
            if found == wanted {
                break;
            }
            if b.is_ascii_digit() {
                found += 1;
                last[wanted - found] = b;
            }
        }
        self.push(&last[wanted - found..wanted]);
    }

    fn into_string(self) -> String {
        let bytes = &self.bytes[..self.length];
        match std::str::from_utf8(bytes) {
            Ok(text) => text.to_owned(),
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        }
    }
}

/// `jane.doe@example.co.uk` becomes `j***@e***.uk`.
fn mask_email(raw: &[u8]) -> String {
    if raw.is_ascii() {
        // Every detected address: the same result without going through `str`.
        let Some(at) = raw.iter().position(|&b| b == b'@') else {
            return "***@***".to_string();
        };
        let (local, domain) = (&raw[..at], &raw[at + 1..]);
        let tld = domain.rsplit(|&b| b == b'.').next().unwrap_or(&[]);
        let mut masked = Masked::new();
        masked.push(&[local.first().copied().unwrap_or(b'*')]);
        masked.push(b"***@");
        masked.push(&[domain.first().copied().unwrap_or(b'*')]);
        masked.push(b"***.");
        if tld.len() <= 48 {
            masked.push(tld);
            return masked.into_string();
        }
    }
    mask_email_text(raw)
}

/// [`mask_email`] on any bytes, through lossy UTF-8.
fn mask_email_text(raw: &[u8]) -> String {
    // Detected addresses are ASCII; the lossy conversion is only for other callers.
    let text = match std::str::from_utf8(raw) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(raw),
    };
    let Some((local, domain)) = text.split_once('@') else {
        return "***@***".to_string();
    };
    let first_local = local.chars().next().unwrap_or('*');
    let first_domain = domain.chars().next().unwrap_or('*');
    let tld = domain.rsplit('.').next().unwrap_or("");
    let mut masked = String::with_capacity(tld.len() + 16);
    masked.push(first_local);
    masked.push_str("***@");
    masked.push(first_domain);
    masked.push_str("***.");
    masked.push_str(tld);
    masked
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
