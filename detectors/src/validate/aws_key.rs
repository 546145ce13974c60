//! AWS access key IDs and secret access keys.
//!
//! Key ID: `AKIA`, `ASIA`, `ABIA` or `ACCA` plus 16 base32 characters (`A-Z`, `2-7`) with a
//! non-alphanumeric byte (or the edge of the data) on both sides, Shannon entropy >= 3.0, not
//! a documentation example (ending in `EXAMPLE`). IAM entity IDs (`AIDA`, `AROA`, `AGPA`, ...)
//! are not credentials and are not matched.
//!
//! Secret key: exactly 40 characters of `[A-Za-z0-9/+]` with a non-base64 byte on both sides,
//! entropy >= 4.25, not all hex, not a documentation key (ending in `EXAMPLEKEY`). A 40-character
//! string alone is never reported: it must start within [`SECRET_AFTER_KEYWORD`] bytes after
//! the keyword `secret` (`aws_secret_access_key`, `SecretAccessKey`, `secret_key`, ...) or
//! within [`SECRET_NEAR_KEY_ID`] bytes of an access key ID, before or after it.

use super::{shannon_entropy, Span, Window};
use crate::kind::DetectorKind;

/// How far after the end of the keyword `secret` the secret key may start.
pub(crate) const SECRET_AFTER_KEYWORD: usize = 48;
/// How far from an access key ID (either side) a secret key may be.
pub(crate) const SECRET_NEAR_KEY_ID: usize = 200;

const KEY_ID_LENGTH: usize = 20;
const SECRET_LENGTH: usize = 40;
const KEY_ID_MIN_ENTROPY: f64 = 3.0;
const SECRET_MIN_ENTROPY: f64 = 4.25;

fn is_base32_byte(byte: u8) -> bool {
    byte.is_ascii_uppercase() || (b'2'..=b'7').contains(&byte)
}

fn is_base64_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'/' || byte == b'+'
}

/// Whether an access-key-ID-shaped token (documentation examples included) starts at `start`.
fn key_id_shape_at(window: &Window<'_>, start: usize) -> bool {
    let prefix = window.slice(start, start + 4);
    matches!(prefix, b"AKIA" | b"ASIA" | b"ABIA" | b"ACCA")
        && window.slice(start + 4, start + KEY_ID_LENGTH).len() == KEY_ID_LENGTH - 4
        && window
            .slice(start + 4, start + KEY_ID_LENGTH)
            .iter()
            .all(|&b| is_base32_byte(b))
        && !window
            .before(start)
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && !window
            .get(start + KEY_ID_LENGTH)
            .is_some_and(|b| b.is_ascii_alphanumeric())
}

/// The key ID at `start` (an `A`) and a secret key near it, in offset order.
pub(crate) fn access_key_at(window: &Window<'_>, start: usize, found: &mut Vec<Span>) {
    if !key_id_shape_at(window, start) {
        return;
    }
    let end = start + KEY_ID_LENGTH;
    let id = window.slice(start, end);
    let reportable = !id.ends_with(b"EXAMPLE") && shannon_entropy(id) >= KEY_ID_MIN_ENTROPY;
    let key_span = Span {
        kind: DetectorKind::AwsAccessKeyId,
        start,
        end,
    };
    let before = last_secret_in(
        window,
        start
            .saturating_sub(SECRET_NEAR_KEY_ID)
            .max(window.min_start),
        start,
    );
    if let Some(secret) = before {
        found.push(secret);
    }
    if reportable {
        found.push(key_span);
    }
    if before.is_none() {
        if let Some(secret) = first_secret_in(window, end, end + SECRET_NEAR_KEY_ID) {
            found.push(secret);
        }
    }
}

/// A secret key after the keyword `secret` whose `e` is at `e_index`.
pub(crate) fn secret_after_keyword(window: &Window<'_>, e_index: usize) -> Option<Span> {
    let keyword_start = e_index.checked_sub(1)?;
    if !window.eq_ignore_case(keyword_start, b"secret") {
        return None;
    }
    let from = keyword_start + 6;
    first_secret_in(window, from, from + SECRET_AFTER_KEYWORD)
}

/// Token starts in `from..to` (each a base64 byte after a non-base64 byte).
fn token_starts<'a>(
    window: &'a Window<'a>,
    from: usize,
    to: usize,
) -> impl Iterator<Item = usize> + 'a {
    let to = to.min(window.bytes.len());
    (from..to).filter(move |&i| {
        window.get(i).is_some_and(is_base64_byte) && !window.before(i).is_some_and(is_base64_byte)
    })
}

fn first_secret_in(window: &Window<'_>, from: usize, to: usize) -> Option<Span> {
    token_starts(window, from.max(window.min_start), to).find_map(|i| secret_at(window, i))
}

fn last_secret_in(window: &Window<'_>, from: usize, to: usize) -> Option<Span> {
    token_starts(window, from, to)
        .filter_map(|i| secret_at(window, i))
        .filter(|span| span.end <= to)
        .last()
}

/// A secret key token starting exactly at `start`.
fn secret_at(window: &Window<'_>, start: usize) -> Option<Span> {
    if start < window.min_start {
        return None;
    }
    let token = window.slice(start, start + SECRET_LENGTH);
    if token.len() != SECRET_LENGTH || !token.iter().all(|&b| is_base64_byte(b)) {
        return None;
    }
    let end = start + SECRET_LENGTH;
    if window
        .get(end)
        .is_some_and(|b| is_base64_byte(b) || b == b'=')
    {
        return None;
    }
    let all_hex = token.iter().all(u8::is_ascii_hexdigit);
    let example = token.ends_with(b"EXAMPLEKEY");
    (!all_hex && !example && shannon_entropy(token) >= SECRET_MIN_ENTROPY).then_some(Span {
        kind: DetectorKind::AwsSecretAccessKey,
        start,
        end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "Zk3xQ9vW2mN7pL4rT8yB1cD6fG0hJ5kM9nP2qR7s";

    fn scan_key(text: &str) -> Vec<(DetectorKind, &str)> {
        let window = Window {
            bytes: text.as_bytes(),
            min_start: 0,
        };
        let mut found = Vec::new();
        if let Some(start) = text.find("AKIA").or(text.find("ASIA")) {
            access_key_at(&window, start, &mut found);
        }
        found
            .iter()
            .map(|span| (span.kind, &text[span.start..span.end]))
            .collect()
    }

    fn scan_keyword(text: &str) -> Option<&str> {
        let window = Window {
            bytes: text.as_bytes(),
            min_start: 0,
        };
        let lower = text.to_ascii_lowercase();
        let e_index = lower.find("secret")? + 1;
        secret_after_keyword(&window, e_index).map(|span| &text[span.start..span.end])
    }

    #[test]
    fn given_access_key_ids_when_validated_then_found_with_word_boundaries() {
        assert_eq!(
            scan_key("key=AKIAZ7VRSQ5TJN2K4LMB;"),
            vec![(DetectorKind::AwsAccessKeyId, "AKIAZ7VRSQ5TJN2K4LMB")]
        );
        assert_eq!(
            scan_key("\"ASIAQWERTY234567ZXCV\""),
            vec![(DetectorKind::AwsAccessKeyId, "ASIAQWERTY234567ZXCV")]
        );
    }

    #[test]
    fn given_key_id_decoys_when_validated_then_rejected() {
        for decoy in [
            "AKIAIOSFODNN7EXAMPLE",
            "AKIAZ7VRSQ5TJN2K4LMBX",
            "XAKIAZ7VRSQ5TJN2K4LMB",
            "AKIAZ7VRSQ5TJN2K4LM",
            "AKIAZ7VRSQ5TJN2K4LM1",
            "AKIAAAAAAAAAAAAAAAAA",
            "AIDAZ7VRSQ5TJN2K4LMB",
            "AROAZ7VRSQ5TJN2K4LMB",
        ] {
            assert_eq!(scan_key(decoy), vec![], "{decoy}");
        }
    }

    #[test]
    fn given_secret_after_keyword_when_validated_then_found() {
        let text = format!("aws_secret_access_key = {SECRET}\n");
        assert_eq!(scan_keyword(&text), Some(SECRET));
        let json = format!("{{\"SecretAccessKey\": \"{SECRET}\"}}");
        assert_eq!(scan_keyword(&json), Some(SECRET));
    }

    #[test]
    fn given_secret_decoys_when_validated_then_rejected() {
        for decoy in [
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "secret_key: je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
            "secret = 3f786850e387550fdab836ed7e6dc881de23001b",
            "secret = aaaaaaaaaabbbbbbbbbbccccccccccdddddddddd",
            "secret = Zk3xQ9vW2mN7pL4rT8yB1cD6fG0hJ5kM9nP2qR7sX",
            "secret = Zk3xQ9vW2mN7pL4rT8yB1cD6fG0hJ5kM9nP2qR7s==",
        ] {
            assert_eq!(scan_keyword(decoy), None, "{decoy}");
        }
    }

    #[test]
    fn given_bare_forty_char_string_when_no_keyword_or_key_id_then_not_found_by_keyword() {
        assert_eq!(scan_keyword(&format!("token {SECRET}")), None);
    }

    #[test]
    fn given_secret_next_to_key_id_when_validated_then_both_found_in_order() {
        let csv = format!("AKIAZ7VRSQ5TJN2K4LMB,{SECRET}\n");
        assert_eq!(
            scan_key(&csv),
            vec![
                (DetectorKind::AwsAccessKeyId, "AKIAZ7VRSQ5TJN2K4LMB"),
                (DetectorKind::AwsSecretAccessKey, SECRET)
            ]
        );
        let reversed = format!("{SECRET} AKIAZ7VRSQ5TJN2K4LMB");
        assert_eq!(
            scan_key(&reversed),
            vec![
                (DetectorKind::AwsSecretAccessKey, SECRET),
                (DetectorKind::AwsAccessKeyId, "AKIAZ7VRSQ5TJN2K4LMB")
            ]
        );
    }
}
