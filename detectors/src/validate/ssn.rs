//! US Social Security numbers.
//!
//! Accepted: `ddd-dd-dddd` with one consistent separator (dash, space or dot), or nine bare
//! digits when an SSN keyword (`ssn`, `ss#`, `social security`) ends within
//! [`KEYWORD_DISTANCE`] bytes before. Rejected: invalid SSA structure (area 000, 666, 900-999;
//! group 00; serial 0000), one repeated digit, well-known sample numbers, and numbers glued to
//! other digits or words.

use super::{clean_number_end, clean_number_start, keyword_before, Keyword, Span, Window};
use crate::kind::DetectorKind;

/// How far before a bare nine-digit number an SSN keyword may end (Macie uses about 30).
pub(crate) const KEYWORD_DISTANCE: usize = 40;

const KEYWORDS: [Keyword; 5] = [
    Keyword::word("ssn"),
    Keyword::word("ssns"),
    Keyword::prefix("ss#"),
    Keyword::prefix("social security"),
    Keyword::prefix("social sec"),
];

/// Published sample numbers (Woolworth wallet card, advertising samples) that are not PII.
/// The `987-65-4320..4329` advertising range is already invalid (area 9xx).
const SAMPLE_NUMBERS: [&[u8; 9]; 4] = [b"078051120", b"123456789", b"219099999", b"457555462"];

/// The SSN starting at `start`, which is the first digit of a digit run.
pub(crate) fn ssn_at(window: &Window<'_>, start: usize) -> Option<Span> {
    let first_run = window.digit_run(start, 10);
    let mut digits = [0u8; 9];
    let end = if first_run == 3 {
        let separator = window.get(start + 3)?;
        if !matches!(separator, b'-' | b' ' | b'.')
            || window.digit_run(start + 4, 3) != 2
            || window.get(start + 6) != Some(separator)
            || window.digit_run(start + 7, 5) != 4
        {
            return None;
        }
        let end = start + 11;
        if !clean_number_start(window, start, Some(separator))
            || !clean_number_end(window, end, Some(separator), false)
        {
            return None;
        }
        let text = window.slice(start, end);
        digits[..3].copy_from_slice(&text[..3]);
        digits[3..5].copy_from_slice(&text[4..6]);
        digits[5..].copy_from_slice(&text[7..11]);
        end
    } else if first_run == 9 {
        let end = start + 9;
        digits.copy_from_slice(window.slice(start, end));
        // The SSA rules first: they are cheap, and the keyword search is not.
        if !clean_number_start(window, start, None)
            || !clean_number_end(window, end, None, false)
            || !is_valid_ssn(&digits)
            || !keyword_before(window, start, KEYWORD_DISTANCE, &KEYWORDS)
        {
            return None;
        }
        end
    } else {
        return None;
    };
    is_valid_ssn(&digits).then_some(Span {
        kind: DetectorKind::UsSsn,
        start,
        end,
    })
}

/// SSA structural rules plus the sample-number and repeated-digit exclusions.
pub(crate) fn is_valid_ssn(digits: &[u8; 9]) -> bool {
    let area = &digits[0..3];
    let group = &digits[3..5];
    let serial = &digits[5..9];
    if area == b"000" || area == b"666" || area[0] == b'9' {
        return false;
    }
    if group == b"00" || serial == b"0000" {
        return false;
    }
    if super::all_same(digits) {
        return false;
    }
    !SAMPLE_NUMBERS.contains(&digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Option<(usize, usize)> {
        let window = Window {
            bytes: text.as_bytes(),
            min_start: 0,
        };
        let start = text.find(|c: char| c.is_ascii_digit())?;
        ssn_at(&window, start).map(|span| (span.start, span.end))
    }

    #[test]
    fn given_valid_ssns_in_each_separator_style_when_validated_then_found() {
        assert_eq!(find("SSN: 536-22-1987."), Some((5, 16)));
        assert_eq!(find("id 536 22 1987"), Some((3, 14)));
        assert_eq!(find("536.22.1987"), Some((0, 11)));
        assert_eq!(find("ssn=536221987"), Some((4, 13)));
        assert_eq!(find("Social Security #: 536221987"), Some((19, 28)));
    }

    #[test]
    fn given_invalid_structure_when_validated_then_rejected() {
        for decoy in [
            "000-12-3456",
            "666-12-3456",
            "912-12-3456",
            "536-00-1987",
            "536-22-0000",
            "111-11-1111",
        ] {
            assert_eq!(find(decoy), None, "{decoy}");
        }
    }

    #[test]
    fn given_sample_numbers_when_validated_then_rejected() {
        for sample in ["078-05-1120", "123-45-6789", "987-65-4321", "987-65-4329"] {
            assert_eq!(find(sample), None, "{sample}");
        }
        assert!(find("078-05-1121").is_some());
    }

    #[test]
    fn given_mixed_separators_or_glued_digits_when_validated_then_rejected() {
        for decoy in [
            "536-22.1987",
            "536-22-19871",
            "536-22-1987-4",
            "A536-22-1987",
            "536-22-1987b",
        ] {
            assert_eq!(find(decoy), None, "{decoy}");
        }
    }

    #[test]
    fn given_bare_nine_digits_without_keyword_when_validated_then_rejected() {
        assert_eq!(find("order 536221987 shipped"), None);
        assert_eq!(find("passn 536221987"), None);
    }
}
