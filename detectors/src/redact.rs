//! What a context hides besides the detections: every value a detector does not report but
//! that a reader, or someone putting two neighbouring contexts side by side, could use.
//!
//! A context is shown to people and stored next to a finding, so it must not carry the
//! sensitive values the detectors chose not to report (an undetected secret after `token`, a
//! bare nine-digit number, a dotted card number, a key ID broken by spaces). [`redactions`]
//! finds, in raw bytes, the spans to hide and what to show instead:
//!
//! - **credential-looking tokens**: a run of `[A-Za-z0-9+/_%-]` of at least
//!   [`MIN_CREDENTIAL_TOKEN`] bytes that is not made only of ordinary words, numbers and short
//!   tags such as `sha256` (see [`is_credential_token`]), or a shorter run of at least
//!   [`MIN_MIXED_TOKEN`] bytes mixing upper case, lower case and digits; shown as
//!   [`HIDDEN_VALUE`];
//! - **values after a credential keyword** (`token`, `secret`, `password`, `key`, `auth`, ...
//!   as a word of an identifier such as `aws_secret_access_key`, `X-Api-Key`, `dbPassword`),
//!   written `k=v`, `k: v`, `"k": "v"`, `<k>v</k>`, `--k v`, or `k v` when `v` is not an
//!   ordinary word; shown as [`HIDDEN_VALUE`], quotes kept;
//! - **AWS key IDs**, contiguous or broken by separators (spaces, dashes, newlines, quotes,
//!   `\n` escapes): `AKIA`/`ASIA`/`ABIA`/`ACCA` plus 16 base32 characters with at least one
//!   digit; shown as the prefix and 16 asterisks, as a detection would be;
//! - **email addresses** (as the email detector masks them) and the local part of anything
//!   before an `@`, and the user and password of a URL (`//user:pass@host`).
//!
//! Every digit outside these spans is masked by the context builder itself (separators kept),
//! so numbers of any format never survive. Ordinary words, punctuation and layout stay, so
//! that the context still tells a person where the value sits.
//!
//! The rules look at whole tokens. The context builder therefore runs them over the window
//! plus [`REDACTION_MARGIN`] bytes either side, so that a token cut by the window edge is
//! judged on all of it, the same way in every context that shows a piece of it: two
//! overlapping contexts cannot be put together to rebuild it.

use crate::kind::DetectorKind;
use crate::mask::mask_value;

/// Bytes read on each side of a context window to judge the tokens that cross its edges.
/// Longer than any span a rule hides other than a long token (a keyword with its value, a key
/// ID with its gaps, an address), so a rule sees the whole of what it hides; a token longer
/// than this is judged on the 256 bytes or more of it that are read.
pub(crate) const REDACTION_MARGIN: usize = 256;
/// Shortest token judged by its shape alone.
pub(crate) const MIN_CREDENTIAL_TOKEN: usize = 16;
/// Shortest token judged credential-like for mixing upper case, lower case and digits
/// (`Zk3xQ9vW`).
pub(crate) const MIN_MIXED_TOKEN: usize = 8;
/// What a hidden credential or keyword value is shown as (fixed length, so nothing of the
/// value, not even its length, is shown).
pub const HIDDEN_VALUE: &str = "********";

/// Longest identifier read as a possible keyword (`aws_secret_access_key`, `X-Amz-Security-Token`).
const MAX_IDENTIFIER: usize = 64;
/// Longest value hidden after a keyword (a quoted value is hidden up to its closing quote or
/// the end of the line, within this bound).
const MAX_VALUE: usize = 160;
/// Longest run of separators inside a broken key ID (`"AKIAZ7VR" + "SQ5T..."`).
const MAX_KEY_ID_GAP: usize = 8;
const KEY_ID_PREFIXES: [&[u8; 4]; 4] = [b"AKIA", b"ASIA", b"ABIA", b"ACCA"];
const KEY_ID_SUFFIX: usize = 16;
const MAX_LOCAL: usize = 64;
/// Longest domain read after an `@` (shorter than DNS allows, so that an address stays
/// within [`REDACTION_MARGIN`]; a longer one is hidden in part, its local part always).
const MAX_DOMAIN: usize = 128;
/// Longest run of blanks read around a keyword's separator.
const MAX_BLANKS: usize = 16;

/// Words of an identifier that announce a credential as its value. Compared with each word of
/// the identifier (split on punctuation and camel case), lower-cased.
const KEYWORDS: [&str; 27] = [
    "token",
    "tokens",
    "secret",
    "secrets",
    "password",
    "passwords",
    "passwd",
    "pwd",
    "pw",
    "pass",
    "passphrase",
    "key",
    "keys",
    "apikey",
    "auth",
    "authorization",
    "bearer",
    "credential",
    "credentials",
    "cred",
    "creds",
    "signature",
    "sig",
    "session",
    "cookie",
    "otp",
    "pin",
];
/// The shortest pieces of the keywords that start with `first`: every keyword holds one
/// (`tokens` holds `token`, `authorization` holds `auth`). Checked by a test.
fn keyword_cores(first: u8) -> &'static [&'static [u8]] {
    match first.to_ascii_lowercase() {
        b't' => &[b"token"],
        b's' => &[b"secret", b"sig", b"session"],
        b'p' => &[b"pass", b"pw", b"pin"],
        b'k' => &[b"key"],
        b'a' => &[b"auth"],
        b'b' => &[b"bearer"],
        b'c' => &[b"cred", b"cookie"],
        b'o' => &[b"otp"],
        _ => &[],
    }
}
/// Keywords also recognised glued inside a lower-case word (`accesstoken`, `secretkey`).
const GLUED_KEYWORDS: [&str; 6] = [
    "token",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "apikey",
];
/// Authorization schemes: after `Authorization:` the scheme stays, the value after it goes.
const SCHEMES: [&str; 5] = ["bearer", "basic", "digest", "token", "negotiate"];

/// One span of raw bytes to hide, in offsets of the bytes given to [`redactions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Redaction {
    pub start: usize,
    pub end: usize,
    /// What is shown instead.
    pub replacement: String,
}

impl Redaction {
    fn hidden(start: usize, end: usize) -> Self {
        Redaction {
            start,
            end,
            replacement: HIDDEN_VALUE.to_string(),
        }
    }
}

/// Every span of `bytes` a context must hide (besides the detections), sorted by offset and
/// non-overlapping (overlapping spans are merged and shown as [`HIDDEN_VALUE`]).
pub(crate) fn redactions(bytes: &[u8]) -> Vec<Redaction> {
    let mut found = Vec::new();
    credential_tokens(bytes, &mut found);
    keyword_values(bytes, &mut found);
    key_ids(bytes, &mut found);
    email_parts(bytes, &mut found);
    found.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut merged: Vec<Redaction> = Vec::with_capacity(found.len());
    for next in found {
        match merged.last_mut() {
            Some(last) if next.start < last.end => {
                if next.end <= last.end {
                    // Contained: the same span found by a more specific rule keeps its form.
                    if next.start == last.start
                        && next.end == last.end
                        && last.replacement == HIDDEN_VALUE
                    {
                        last.replacement = next.replacement;
                    }
                } else {
                    last.end = next.end;
                    last.replacement = HIDDEN_VALUE.to_string();
                }
            }
            _ => merged.push(next),
        }
    }
    merged
}

fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'/' | b'_' | b'-' | b'%')
}

/// Maximal runs of `is_byte` in `bytes`, as `(start, end)`.
fn runs<'a, F: Fn(u8) -> bool + 'a>(
    bytes: &'a [u8],
    is_byte: F,
) -> impl Iterator<Item = (usize, usize)> + 'a {
    let mut index = 0;
    std::iter::from_fn(move || {
        while index < bytes.len() && !is_byte(bytes[index]) {
            index += 1;
        }
        if index >= bytes.len() {
            return None;
        }
        let start = index;
        while index < bytes.len() && is_byte(bytes[index]) {
            index += 1;
        }
        Some((start, index))
    })
}

fn credential_tokens(bytes: &[u8], found: &mut Vec<Redaction>) {
    for (start, end) in runs(bytes, is_token_byte) {
        if end - start >= MIN_MIXED_TOKEN && is_credential_token(&bytes[start..end]) {
            found.push(Redaction::hidden(start, end));
        }
    }
}

/// Whether a token (a run of `[A-Za-z0-9+/_%-]`) looks like a credential rather than words,
/// numbers, paths or identifiers.
///
/// From [`MIN_CREDENTIAL_TOKEN`] bytes: credential-like if it joins two alphanumerics with `+`
/// (base64), or if one of its alphanumeric parts (split on the punctuation) is neither a
/// number, nor an ordinary word (lower case, upper case, capitalised or camel case, long words
/// pronounceable), nor a short tag with one digit run (`sha256`, `ec2`, `v2`). Random base64
/// and hex, AWS keys, JWT segments and UUIDs fail that; `aws_secret_access_key`,
/// `/var/log/app-server/requests`, `XMLHttpRequest` pass. From [`MIN_MIXED_TOKEN`] bytes:
/// credential-like if it mixes upper case, lower case and digits.
pub(crate) fn is_credential_token(token: &[u8]) -> bool {
    if token.len() < MIN_CREDENTIAL_TOKEN {
        return token.len() >= MIN_MIXED_TOKEN
            && token.iter().any(u8::is_ascii_uppercase)
            && token.iter().any(u8::is_ascii_lowercase)
            && token.iter().any(u8::is_ascii_digit);
    }
    let base64_plus = token
        .windows(3)
        .any(|w| w[1] == b'+' && w[0].is_ascii_alphanumeric() && w[2].is_ascii_alphanumeric());
    base64_plus
        || token
            .split(|b| !b.is_ascii_alphanumeric())
            .any(|part| !is_plain_part(part))
}

fn digit_runs(bytes: &[u8]) -> usize {
    runs(bytes, |b| b.is_ascii_digit()).count()
}

/// A number, an ordinary word, or a short tag with one digit run.
fn is_plain_part(part: &[u8]) -> bool {
    let digits = part.iter().filter(|b| b.is_ascii_digit()).count();
    if digits == part.len() {
        return true;
    }
    if digits == 0 {
        return is_plain_word(part);
    }
    let letters_one_case = part.iter().all(|b| !b.is_ascii_lowercase())
        || part.iter().all(|b| !b.is_ascii_uppercase());
    part.len() <= 10 && digit_runs(part) == 1 && letters_one_case
}

/// Letters forming words: split into camel-case humps (`XMLHttpRequest` is `XML`, `Http`,
/// `Request`), each an acronym, a capitalised word with at least two lower-case letters, or
/// (first hump only) a lower-case word; a part in one case is a single hump. Humps of twelve
/// letters or more must also be pronounceable.
fn is_plain_word(letters: &[u8]) -> bool {
    let all_lower = letters.iter().all(u8::is_ascii_lowercase);
    let all_upper = letters.iter().all(u8::is_ascii_uppercase);
    if all_lower || all_upper {
        return letters.len() < 12 || pronounceable(letters);
    }
    let mut hump_start = 0;
    let mut humps = Vec::new();
    for i in 1..letters.len() {
        let upper = letters[i].is_ascii_uppercase();
        let after_lower = letters[i - 1].is_ascii_lowercase();
        let acronym_end = letters[i - 1].is_ascii_uppercase()
            && letters.get(i + 1).is_some_and(u8::is_ascii_lowercase);
        if upper && (after_lower || acronym_end) {
            humps.push(&letters[hump_start..i]);
            hump_start = i;
        }
    }
    humps.push(&letters[hump_start..]);
    humps.iter().enumerate().all(|(index, hump)| {
        let shape = if hump.iter().all(u8::is_ascii_uppercase) {
            hump.len() <= 5
        } else if hump.iter().all(u8::is_ascii_lowercase) {
            index == 0
        } else {
            hump[0].is_ascii_uppercase()
                && hump.len() >= 3
                && hump[1..].iter().all(u8::is_ascii_lowercase)
        };
        shape && (hump.len() < 12 || pronounceable(hump))
    })
}

/// At least 30 % vowels (`y` counted) and no run of more than four consonants: what long
/// words have and random letters mostly do not.
fn pronounceable(letters: &[u8]) -> bool {
    let is_vowel = |b: &u8| {
        matches!(
            b.to_ascii_lowercase(),
            b'a' | b'e' | b'i' | b'o' | b'u' | b'y'
        )
    };
    let vowels = letters.iter().filter(|b| is_vowel(b)).count();
    let mut run = 0;
    let mut longest = 0;
    for b in letters {
        run = if is_vowel(b) { 0 } else { run + 1 };
        longest = longest.max(run);
    }
    vowels * 10 >= letters.len() * 3 && longest <= 4
}

fn is_identifier_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.')
}

fn keyword_values(bytes: &[u8], found: &mut Vec<Redaction>) {
    for (start, end) in runs(bytes, is_identifier_byte) {
        if end - start <= MAX_IDENTIFIER && names_a_credential(&bytes[start..end]) {
            if let Some((value_start, value_end)) = value_after(bytes, start, end) {
                found.push(Redaction::hidden(value_start, value_end));
            }
        }
    }
}

/// Whether one word of the identifier (split on punctuation and camel case) is a keyword.
fn names_a_credential(identifier: &[u8]) -> bool {
    // Cheap first: most identifiers hold no keyword anywhere.
    let holds_a_keyword = (0..identifier.len()).any(|i| {
        keyword_cores(identifier[i]).iter().any(|core| {
            identifier
                .get(i..i + core.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(core))
        })
    });
    holds_a_keyword
        && identifier
            .split(|b| !b.is_ascii_alphanumeric())
            .flat_map(camel_words)
            .any(|word| {
                KEYWORDS
                    .iter()
                    .any(|k| word.eq_ignore_ascii_case(k.as_bytes()))
                    || GLUED_KEYWORDS.iter().any(|k| {
                        let k = k.as_bytes();
                        word.len() >= k.len()
                            && (word[..k.len()].eq_ignore_ascii_case(k)
                                || word[word.len() - k.len()..].eq_ignore_ascii_case(k))
                    })
            })
}

/// `SecretAccessKey` as `Secret`, `Access`, `Key`; `APIKey` as `API`, `Key`.
fn camel_words(part: &[u8]) -> Vec<&[u8]> {
    let mut words = Vec::new();
    let mut start = 0;
    for i in 1..part.len() {
        let upper = part[i].is_ascii_uppercase();
        let after_lower = part[i - 1].is_ascii_lowercase() || part[i - 1].is_ascii_digit();
        let acronym_end =
            part[i - 1].is_ascii_uppercase() && part.get(i + 1).is_some_and(u8::is_ascii_lowercase);
        if upper && (after_lower || acronym_end) {
            words.push(&part[start..i]);
            start = i;
        }
    }
    if start < part.len() {
        words.push(&part[start..]);
    }
    words
}

fn skip_blanks(bytes: &[u8], from: usize) -> usize {
    let mut index = from;
    while index - from < MAX_BLANKS && bytes.get(index).is_some_and(|&b| b == b' ' || b == b'\t') {
        index += 1;
    }
    index
}

fn is_quote(byte: u8) -> bool {
    matches!(byte, b'"' | b'\'' | b'`')
}

fn ends_unquoted_value(byte: u8) -> bool {
    byte.is_ascii_whitespace()
        || is_quote(byte)
        || matches!(
            byte,
            b',' | b';' | b'&' | b'<' | b'>' | b'(' | b')' | b'[' | b']' | b'{' | b'}'
        )
}

/// The value written after the keyword identifier at `start..end`, if any.
fn value_after(bytes: &[u8], start: usize, end: usize) -> Option<(usize, usize)> {
    let flag = bytes[start] == b'-';
    let xml_tag = start > 0 && bytes[start - 1] == b'<';
    let mut index = end;
    if bytes.get(index).copied().is_some_and(is_quote) {
        index += 1;
    }
    let blanks_from = index;
    index = skip_blanks(bytes, index);
    let strong = match bytes.get(index) {
        Some(b'=' | b':') => {
            index += 1;
            if matches!(bytes.get(index), Some(b'=' | b'>')) {
                index += 1;
            }
            true
        }
        Some(b'>') if xml_tag && index == blanks_from => {
            index += 1;
            true
        }
        Some(_) if index > blanks_from => flag,
        _ => return None,
    };
    let (value_start, value_end, quoted) = value_at(bytes, skip_blanks(bytes, index))?;
    let value = &bytes[value_start..value_end];
    if !quoted
        && SCHEMES
            .iter()
            .any(|s| value.eq_ignore_ascii_case(s.as_bytes()))
    {
        let next = skip_blanks(bytes, value_end);
        if next > value_end {
            return value_at(bytes, next).map(|(s, e, _)| (s, e));
        }
    }
    if !strong && !quoted && is_ordinary_word(value) {
        return None;
    }
    Some((value_start, value_end))
}

/// The value starting at `index`: up to the closing quote (or the end of the line) when it
/// opens with a quote, else up to whitespace or a delimiter. `(start, end, quoted)`.
fn value_at(bytes: &[u8], index: usize) -> Option<(usize, usize, bool)> {
    let first = *bytes.get(index)?;
    let (start, quoted) = if is_quote(first) {
        (index + 1, true)
    } else {
        (index, false)
    };
    let limit = (start + MAX_VALUE).min(bytes.len());
    let mut end = start;
    while end < limit {
        let b = bytes[end];
        let stop = if quoted {
            b == first || b == b'\n' || b == b'\r'
        } else {
            ends_unquoted_value(b)
        };
        if stop {
            break;
        }
        end += 1;
    }
    if quoted && bytes.get(end) != Some(&first) {
        // No closing quote on the line: read it as an unquoted value after the quote.
        let mut end = start;
        while end < limit && !ends_unquoted_value(bytes[end]) {
            end += 1;
        }
        return (end > start).then_some((start, end, false));
    }
    (end > start).then_some((start, end, quoted))
}

/// A word of prose (`is`, `expired`, `The`): letters only, lower case or capitalised.
fn is_ordinary_word(value: &[u8]) -> bool {
    let value = value
        .strip_suffix(b".")
        .or_else(|| value.strip_suffix(b"!"))
        .or_else(|| value.strip_suffix(b"?"))
        .unwrap_or(value);
    !value.is_empty()
        && value.len() < MIN_CREDENTIAL_TOKEN
        && value.iter().all(u8::is_ascii_alphabetic)
        && value[1..].iter().all(u8::is_ascii_lowercase)
}

fn is_base32_byte(byte: u8) -> bool {
    byte.is_ascii_uppercase() || (b'2'..=b'7').contains(&byte)
}

fn is_key_id_separator(byte: u8) -> bool {
    byte.is_ascii_whitespace() || b"-_.,:;|/+\"'`".contains(&byte)
}

/// Key IDs, also when broken by separators (`AKIAZ7VR SQ5T-JN2K\n4LMB`).
fn key_ids(bytes: &[u8], found: &mut Vec<Redaction>) {
    let mut start = 0;
    while start + 4 <= bytes.len() {
        let is_prefix = bytes[start] == b'A'
            && KEY_ID_PREFIXES
                .iter()
                .any(|p| &bytes[start..start + 4] == *p)
            && !(start > 0 && bytes[start - 1].is_ascii_alphanumeric());
        if !is_prefix {
            start += 1;
            continue;
        }
        let mut index = start + 4;
        let mut count = 0;
        let mut has_digit = false;
        let mut end = index;
        while count < KEY_ID_SUFFIX && index < bytes.len() {
            let b = bytes[index];
            if is_base32_byte(b) {
                count += 1;
                has_digit |= b.is_ascii_digit();
                index += 1;
                end = index;
                continue;
            }
            let gap = key_id_gap(bytes, index);
            if gap == 0 || gap > MAX_KEY_ID_GAP {
                break;
            }
            index += gap;
        }
        if count == KEY_ID_SUFFIX && has_digit {
            let prefix = String::from_utf8_lossy(&bytes[start..start + 4]);
            found.push(Redaction {
                start,
                end,
                replacement: format!("{prefix}{}", "*".repeat(KEY_ID_SUFFIX)),
            });
            start = end;
        } else {
            start += 1;
        }
    }
}

/// Length of the run of separators (and `\n`-style escapes) at `index`.
fn key_id_gap(bytes: &[u8], index: usize) -> usize {
    let mut end = index;
    while end < bytes.len() && end - index <= MAX_KEY_ID_GAP {
        if is_key_id_separator(bytes[end]) {
            end += 1;
        } else if bytes[end] == b'\\' && end + 1 < bytes.len() {
            end += 2;
        } else {
            break;
        }
    }
    end - index
}

fn is_local_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-')
}

/// Emails, local parts before any `@`, and the user information of URLs.
fn email_parts(bytes: &[u8], found: &mut Vec<Redaction>) {
    for at in memchr_all(bytes, b'@') {
        let mut local = at;
        while local > 0 && at - local < MAX_LOCAL && is_local_byte(bytes[local - 1]) {
            local -= 1;
        }
        if let Some(user) = url_user_start(bytes, local, at) {
            found.push(Redaction {
                start: user,
                end: at,
                replacement: "***:***".to_string(),
            });
            continue;
        }
        if local == at {
            continue;
        }
        let mut domain_end = at + 1;
        while domain_end < bytes.len()
            && domain_end - at <= MAX_DOMAIN
            && is_domain_byte(bytes[domain_end])
        {
            domain_end += 1;
        }
        while domain_end > at + 1 && matches!(bytes[domain_end - 1], b'.' | b'-') {
            domain_end -= 1;
        }
        let domain = &bytes[at + 1..domain_end];
        let top_level = domain.rsplit(|&b| b == b'.').next().unwrap_or(&[]);
        let has_top_level = domain.contains(&b'.')
            && top_level.len() >= 2
            && top_level.iter().all(u8::is_ascii_alphabetic);
        found.push(if has_top_level {
            Redaction {
                start: local,
                end: domain_end,
                replacement: mask_value(DetectorKind::Email, &bytes[local..domain_end]),
            }
        } else {
            Redaction {
                start: local,
                end: at,
                replacement: "***".to_string(),
            }
        });
    }
}

/// For `scheme://user:pass@host`, the offset of `user` when the local part before the `@`
/// at `at` (starting at `local`) follows a `:` of a URL's user information.
fn url_user_start(bytes: &[u8], local: usize, at: usize) -> Option<usize> {
    if local == 0 || bytes[local - 1] != b':' {
        return None;
    }
    let mut user = local - 1;
    while user > 0 && at - user < MAX_LOCAL * 2 && is_local_byte(bytes[user - 1]) {
        user -= 1;
    }
    (user >= 2 && &bytes[user - 2..user] == b"//").then_some(user)
}

fn memchr_all(bytes: &[u8], needle: u8) -> impl Iterator<Item = usize> + '_ {
    bytes
        .iter()
        .enumerate()
        .filter(move |(_, &b)| b == needle)
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "Zk3xQ9vW2mN7pL4rT8yB1cD6fG0hJ5kM9nP2qR7s";

    /// `text` with every redaction applied (digits left as they are).
    fn redact(text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = String::new();
        let mut position = 0;
        for r in redactions(bytes) {
            out.push_str(&text[position..r.start]);
            out.push_str(&r.replacement);
            position = r.end;
        }
        out.push_str(&text[position..]);
        out
    }

    #[test]
    fn given_random_looking_tokens_when_judged_then_credential_like() {
        for token in [
            SECRET,
            "ZkxQvWmNpLrTyBcDfGhJkMnPqRs",
            "3f786850e387550fdab836ed7e6dc881de23001b",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "AKIAZ7VRSQ5TJN2K4LMB",
            "550e8400-e29b-41d4-a716-446655440000",
            "ghp_R7nBx2Lk9QwE4tYu8IoP3aSdF6gHjKl0ZxCv",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
            "qzkxvwmnplrtbhdfgjcs",
            "JBSWY3DPEHPK3PXPJBSWY3DP",
            "Zk3xQ9vW2m",
            "Zk3xQ9vW",
        ] {
            assert!(is_credential_token(token.as_bytes()), "{token}");
        }
    }

    #[test]
    fn given_words_paths_and_identifiers_when_judged_then_not_credential_like() {
        for token in [
            "aws_secret_access_key",
            "AWS_SECRET_ACCESS_KEY",
            "SecretAccessKey",
            "XMLHttpRequest",
            "internationalization",
            "responsibilities",
            "/var/log/app-server/requests",
            "role/QrieScannerRole",
            "application/json",
            "x86_64-unknown-linux-gnu",
            "sha256-checksum-verified",
            "Configuration",
            "2024-01-15T12",
            "ip-10-0-0-1",
            "utf8mb4",
        ] {
            assert!(!is_credential_token(token.as_bytes()), "{token}");
        }
    }

    #[test]
    fn given_keyword_values_in_every_notation_when_redacted_then_values_hidden_and_keys_kept() {
        for (text, want) in [
            ("token=hunter2;", "token=********;"),
            ("password: hunter", "password: ********"),
            (
                "{\"password\": \"my pass phrase\"}",
                "{\"password\": \"********\"}",
            ),
            ("export DB_PASSWORD='s3cr'", "export DB_PASSWORD='********'"),
            ("<secret>hunter</secret>", "<secret>********</secret>"),
            (
                "login --password hunter now",
                "login --password ******** now",
            ),
            ("?X-Amz-Signature=abcd&x=1", "?X-Amz-Signature=********&x=1"),
            ("apiKey => hunter", "apiKey => ********"),
            (
                "Authorization: Bearer abc.def",
                "Authorization: Bearer ********",
            ),
            ("accessToken:abc", "accessToken:********"),
        ] {
            assert_eq!(redact(text), want, "{text}");
        }
    }

    #[test]
    fn given_keywords_in_prose_when_redacted_then_ordinary_words_stay() {
        for text in [
            "the token expired yesterday",
            "rotate the key. Then log in",
            "password reset requested",
            "a monkey: banana",
            "bypass: yes",
        ] {
            assert_eq!(redact(text), text);
        }
        assert_eq!(redact("token Hunter2x"), "token ********");
    }

    #[test]
    fn given_key_ids_broken_by_separators_when_redacted_then_hidden_whole() {
        for text in [
            "id AKIAZ7VRSQ5TJN2K4LMB end",
            "id AKIAZ7VR SQ5TJN2K4LMB end",
            "id AKIA-Z7VR-SQ5T-JN2K-4LMB end",
            "id AKIAZ7VRSQ5T\nJN2K4LMB end",
            "id AKIAZ7VRSQ5T\\nJN2K4LMB end",
        ] {
            assert_eq!(redact(text), "id AKIA**************** end", "{text}");
        }
        assert_eq!(
            redact("id \"AKIAZ7VR\" + \"SQ5TJN2K4LMB\" end"),
            "id \"AKIA****************\" end"
        );
        assert_eq!(
            redact("ASIA PACIFIC REGIONAL OFFICE"),
            "ASIA PACIFIC REGIONAL OFFICE"
        );
    }

    #[test]
    fn given_addresses_when_redacted_then_local_parts_and_url_users_hidden() {
        assert_eq!(
            redact("mail jane.doe@example.com now"),
            "mail j***@e***.com now"
        );
        assert_eq!(redact("ping admin@localhost"), "ping ***@localhost");
        assert_eq!(
            redact("postgres://app:hunter@db.example.com/x"),
            "postgres://***:***@db.example.com/x"
        );
        assert_eq!(redact("an @mention"), "an @mention");
    }

    #[test]
    fn given_every_keyword_when_cores_checked_then_each_holds_one() {
        for keyword in KEYWORDS.iter().chain(GLUED_KEYWORDS.iter()) {
            let bytes = keyword.as_bytes();
            let holds = (0..bytes.len()).any(|i| {
                keyword_cores(bytes[i])
                    .iter()
                    .any(|core| bytes[i..].starts_with(core))
            });
            assert!(holds, "{keyword}");
        }
    }

    #[test]
    fn given_overlapping_rules_when_merged_then_one_span_each() {
        let text = format!("secret_key = {SECRET} and more");
        let found = redactions(text.as_bytes());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(redact(&text), "secret_key = ******** and more");
        let key = redactions(b"key=AKIAZ7VRSQ5TJN2K4LMB");
        assert_eq!(key.len(), 1);
        assert_eq!(key[0].replacement, "AKIA****************");
    }
}
