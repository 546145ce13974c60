//! Full validation of one candidate position found by the prefilter.
//!
//! Each submodule decides, from the bytes around a candidate position only, whether a real
//! value of its kind starts there: shape, boundaries, checksums, structural rules, keywords and
//! known example values (each submodule's doc lists what it accepts and rejects; the README's
//! "Sensitive data in S3 objects" says what is detected). Validators never read more than
//! [`LOOKBEHIND`] bytes before or [`LOOKAHEAD`] bytes after the candidate position; the scan
//! engine hands them exactly that window, which is what makes chunked scanning give the same
//! answer as a one-shot scan.

pub(crate) mod aws_key;
pub(crate) mod card;
pub(crate) mod email;
pub(crate) mod phone;
pub(crate) mod ssn;

use crate::kind::DetectorKind;

/// Bytes before a candidate position that a validator may read (keywords, email local part,
/// a secret key written before its key ID).
pub(crate) const LOOKBEHIND: usize = 256;
/// Bytes from a candidate position on that a validator may read (email domain, a secret key
/// written after its key ID, a keyword written after a bare phone number).
pub(crate) const LOOKAHEAD: usize = 320;

/// A validated match, in window-relative byte offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub kind: DetectorKind,
    pub start: usize,
    pub end: usize,
}

/// The bytes a validator may look at, and the first offset a new match may start at (the end
/// of the previous match, so that matches never overlap).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window<'a> {
    pub bytes: &'a [u8],
    pub min_start: usize,
}

impl<'a> Window<'a> {
    /// The byte at `index`, or `None` past the window (treated as a boundary).
    pub fn get(&self, index: usize) -> Option<u8> {
        self.bytes.get(index).copied()
    }

    /// The byte just before `index`, or `None` at the window start.
    pub fn before(&self, index: usize) -> Option<u8> {
        index.checked_sub(1).and_then(|i| self.get(i))
    }

    /// Number of ASCII digits starting at `index`, counting at most `cap`.
    pub fn digit_run(&self, index: usize, cap: usize) -> usize {
        let from = self.bytes.get(index..).unwrap_or(&[]);
        let run = &from[..from.len().min(cap)];
        run.iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(run.len())
    }

    pub fn slice(&self, start: usize, end: usize) -> &'a [u8] {
        let end = end.min(self.bytes.len());
        self.bytes.get(start.min(end)..end).unwrap_or(&[])
    }

    /// Whether `start..end` equals `text`, ignoring ASCII case.
    pub fn eq_ignore_case(&self, start: usize, text: &[u8]) -> bool {
        self.bytes
            .get(start..start + text.len())
            .is_some_and(|found| found.eq_ignore_ascii_case(text))
    }
}

/// Letters, digits and underscore: bytes that glue a number to a word.
pub(crate) fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// A context keyword, matched case-insensitively.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keyword {
    pub text: &'static [u8],
    /// Short keywords (`cc`, `tel`) must also not be followed by a letter, so that `account`
    /// does not count as `cc`.
    pub whole_word: bool,
}

/// Keywords are written in lower case (matching folds the scanned bytes, and
/// [`keyword_before`] looks for their first letter): checked when the constant is built.
const fn is_lower_case(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_uppercase() {
            return false;
        }
        i += 1;
    }
    true
}

impl Keyword {
    pub const fn prefix(text: &'static str) -> Keyword {
        assert!(is_lower_case(text), "keywords are written in lower case");
        Keyword {
            text: text.as_bytes(),
            whole_word: false,
        }
    }

    pub const fn word(text: &'static str) -> Keyword {
        assert!(is_lower_case(text), "keywords are written in lower case");
        Keyword {
            text: text.as_bytes(),
            whole_word: true,
        }
    }

    fn matches_at(&self, window: &Window<'_>, index: usize) -> bool {
        if !window.eq_ignore_case(index, self.text) {
            return false;
        }
        if window
            .before(index)
            .is_some_and(|b| b.is_ascii_alphabetic())
        {
            return false;
        }
        !(self.whole_word
            && window
                .get(index + self.text.len())
                .is_some_and(|b| b.is_ascii_alphabetic()))
    }
}

/// Whether one of `keywords` ends within `distance` bytes before `position`.
pub(crate) fn keyword_before(
    window: &Window<'_>,
    position: usize,
    distance: usize,
    keywords: &[Keyword],
) -> bool {
    let from = position.saturating_sub(distance);
    (from..position).any(|index| {
        starts_some(window, index, keywords)
            && keywords
                .iter()
                .any(|k| index + k.text.len() <= position && k.matches_at(window, index))
    })
}

/// Whether the byte at `index` is the first letter of one of `keywords`, in either case: the
/// cheap test that spares the full comparison almost everywhere.
fn starts_some(window: &Window<'_>, index: usize, keywords: &[Keyword]) -> bool {
    window.get(index).is_some_and(|b| {
        let folded = b.to_ascii_lowercase();
        keywords.iter().any(|k| k.text.first() == Some(&folded))
    })
}

/// Whether one of `keywords` starts within `distance` bytes after `position`.
pub(crate) fn keyword_after(
    window: &Window<'_>,
    position: usize,
    distance: usize,
    keywords: &[Keyword],
) -> bool {
    let to = (position + distance).min(window.bytes.len());
    (position..to).any(|index| {
        starts_some(window, index, keywords) && keywords.iter().any(|k| k.matches_at(window, index))
    })
}

/// Shannon entropy of `bytes`, in bits per byte.
pub(crate) fn shannon_entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in bytes {
        counts[usize::from(b)] += 1;
    }
    let total = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / total;
            -p * p.log2()
        })
        .sum()
}

/// Whether every byte is the same (e.g. `0000000000`), which is never a real value.
pub(crate) fn all_same(bytes: &[u8]) -> bool {
    bytes
        .first()
        .is_none_or(|&first| bytes.iter().all(|&b| b == first))
}

/// Checks shared by every number-shaped detector: nothing that makes the number part of a
/// longer number or word directly before `start` (a word byte, or `-`/`.`/the separator in use
/// preceded by a digit).
pub(crate) fn clean_number_start(window: &Window<'_>, start: usize, separator: Option<u8>) -> bool {
    match window.before(start) {
        None => true,
        Some(b) if is_word_byte(b) => false,
        Some(b) if b == b'-' || b == b'.' || Some(b) == separator => {
            !window.before(start - 1).is_some_and(|b| b.is_ascii_digit())
        }
        Some(_) => true,
    }
}

/// The mirror of [`clean_number_start`] after `end`. `allow_extension` accepts a phone
/// extension (`x123`, `ext. 12`) right after the number.
pub(crate) fn clean_number_end(
    window: &Window<'_>,
    end: usize,
    separator: Option<u8>,
    allow_extension: bool,
) -> bool {
    match window.get(end) {
        None => true,
        Some(b) if b.is_ascii_digit() => false,
        Some(b) if is_word_byte(b) => {
            allow_extension
                && ((matches!(b, b'x' | b'X')
                    && window.get(end + 1).is_some_and(|b| b.is_ascii_digit()))
                    || window.eq_ignore_case(end, b"ext"))
        }
        Some(b) if b == b'-' || b == b'.' || Some(b) == separator => {
            !window.get(end + 1).is_some_and(|b| b.is_ascii_digit())
        }
        Some(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(text: &str) -> Window<'_> {
        Window {
            bytes: text.as_bytes(),
            min_start: 0,
        }
    }

    #[test]
    fn given_short_keyword_when_inside_a_longer_word_then_it_does_not_count() {
        let cc = [Keyword::word("cc")];
        let w = window("account 503802053770");
        assert!(!keyword_before(&w, 8, 40, &cc));
        let w = window("cc 503802053770");
        assert!(keyword_before(&w, 3, 40, &cc));
    }

    #[test]
    fn given_strings_when_entropy_measured_then_random_is_high_and_repeats_low() {
        assert!(shannon_entropy(b"aaaaaaaa") < 0.01);
        assert!(shannon_entropy(b"Zk3xQ9vW2mN7pL4rT8yB1cD6fG0hJ5kM9nP2qR7s") > 4.25);
    }

    #[test]
    fn given_numbers_glued_to_other_digits_when_boundaries_checked_then_rejected() {
        let w = window("12-345");
        assert!(!clean_number_start(&w, 3, None));
        let w = window("x 345");
        assert!(clean_number_start(&w, 2, None));
        let w = window("345-12");
        assert!(!clean_number_end(&w, 3, None, false));
        let w = window("5550143x12");
        assert!(clean_number_end(&w, 7, None, true));
        assert!(!clean_number_end(&w, 7, None, false));
    }
}
