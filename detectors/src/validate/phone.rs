//! US (NANP) phone numbers.
//!
//! Accepted: `(202) 555-0143`, `(202)555-0143`, `202-555-0143`, `202.555.0143`,
//! `202 555 0143` (one consistent separator), each optionally preceded by `+1`, `1` or `001`
//! and a separator, and optionally followed by an extension (`x123`, `ext. 12`, not part of
//! the match); `+12025550143`; and a bare ten-digit run only when a phone keyword ends within
//! [`KEYWORD_DISTANCE_BEFORE`] bytes before or starts within [`KEYWORD_DISTANCE_AFTER`] bytes
//! after it. The area code and the exchange must both start with 2-9. SSN and card numbers are
//! tried first by the engine, so a phone never overlaps one of them.

use super::{
    clean_number_end, clean_number_start, keyword_after, keyword_before, Keyword, Span, Window,
};
use crate::kind::DetectorKind;

/// How far before a bare ten-digit number a phone keyword may end.
pub(crate) const KEYWORD_DISTANCE_BEFORE: usize = 40;
/// How far after a bare ten-digit number a phone keyword may start (`5403926876-Fax`).
pub(crate) const KEYWORD_DISTANCE_AFTER: usize = 12;

const KEYWORDS: [Keyword; 11] = [
    Keyword::prefix("phone"),
    Keyword::prefix("telephone"),
    Keyword::word("tel"),
    Keyword::prefix("mobile"),
    Keyword::word("mob"),
    Keyword::prefix("cell"),
    Keyword::word("fax"),
    Keyword::prefix("call"),
    Keyword::word("sms"),
    Keyword::prefix("whatsapp"),
    Keyword::prefix("contact"),
];

/// The ten NANP digits and the extent of the number without any country prefix.
struct NanpBody {
    start: usize,
    end: usize,
    separator: Option<u8>,
    bare: bool,
}

/// The phone number whose digits start at `start`, the first digit of a digit run.
pub(crate) fn phone_at(window: &Window<'_>, start: usize) -> Option<Span> {
    // `001-202-555-0143`: international call prefix from another country.
    if window.slice(start, start + 3) == b"001"
        && window
            .get(start + 3)
            .is_some_and(|b| matches!(b, b'-' | b' ' | b'.'))
    {
        let area = if window.get(start + 4) == Some(b'(') {
            start + 5
        } else {
            start + 4
        };
        let body = nanp_body(window, area).filter(|body| !body.bare)?;
        return finish(window, start, &body);
    }
    // `+12025550143`.
    if window.digit_run(start, 12) == 11
        && window.get(start) == Some(b'1')
        && window.before(start) == Some(b'+')
    {
        let digits = window.slice(start + 1, start + 11);
        let end = start + 11;
        if nanp_digits_valid(digits) && clean_number_end(window, end, None, true) {
            let begin = start - 1;
            return clean_number_start(window, begin, None)
                .then_some(phone_span(window, begin, end))
                .flatten();
        }
        return None;
    }
    let body = nanp_body(window, start)?;
    if body.bare
        && !keyword_before(window, body.start, KEYWORD_DISTANCE_BEFORE, &KEYWORDS)
        && !keyword_after(window, body.end, KEYWORD_DISTANCE_AFTER, &KEYWORDS)
    {
        return None;
    }
    // Optional `+1 ` / `1-` / `+1(` country prefix before the body.
    let mut begin = body.start;
    let before = window.before(begin);
    if before.is_some_and(|b| matches!(b, b'-' | b' ' | b'.'))
        && window.before(begin - 1) == Some(b'1')
    {
        let one = begin - 2;
        begin = if window.before(one) == Some(b'+') {
            one - 1
        } else if window.before(one).is_some_and(|b| b.is_ascii_digit()) {
            return None;
        } else {
            one
        };
    } else if before == Some(b'1') && window.before(begin - 1) == Some(b'+') {
        begin -= 2;
    }
    finish(window, begin, &body)
}

fn finish(window: &Window<'_>, begin: usize, body: &NanpBody) -> Option<Span> {
    if !clean_number_start(window, begin, body.separator)
        || !clean_number_end(window, body.end, body.separator, true)
    {
        return None;
    }
    phone_span(window, begin, body.end)
}

fn phone_span(window: &Window<'_>, start: usize, end: usize) -> Option<Span> {
    (start >= window.min_start).then_some(Span {
        kind: DetectorKind::UsPhone,
        start,
        end,
    })
}

/// Reads the area code, exchange and line starting at `area`, the first area-code digit.
fn nanp_body(window: &Window<'_>, area: usize) -> Option<NanpBody> {
    let mut digits = [0u8; 10];
    let in_parens = window.before(area) == Some(b'(') && window.get(area + 3) == Some(b')');
    let body = if in_parens {
        if window.digit_run(area, 4) != 3 {
            return None;
        }
        let mut exchange = area + 4;
        if window.get(exchange) == Some(b' ') {
            exchange += 1;
        }
        let separator = window.get(exchange + 3)?;
        if window.digit_run(exchange, 4) != 3
            || !matches!(separator, b'-' | b'.' | b' ')
            || window.digit_run(exchange + 4, 5) != 4
        {
            return None;
        }
        digits[..3].copy_from_slice(window.slice(area, area + 3));
        digits[3..6].copy_from_slice(window.slice(exchange, exchange + 3));
        digits[6..].copy_from_slice(window.slice(exchange + 4, exchange + 8));
        NanpBody {
            start: area - 1,
            end: exchange + 8,
            separator: None,
            bare: false,
        }
    } else {
        match window.digit_run(area, 11) {
            10 => {
                digits.copy_from_slice(window.slice(area, area + 10));
                NanpBody {
                    start: area,
                    end: area + 10,
                    separator: None,
                    bare: true,
                }
            }
            3 => {
                let separator = window.get(area + 3)?;
                if !matches!(separator, b'-' | b'.' | b' ')
                    || window.digit_run(area + 4, 4) != 3
                    || window.get(area + 7) != Some(separator)
                    || window.digit_run(area + 8, 5) != 4
                {
                    return None;
                }
                digits[..3].copy_from_slice(window.slice(area, area + 3));
                digits[3..6].copy_from_slice(window.slice(area + 4, area + 7));
                digits[6..].copy_from_slice(window.slice(area + 8, area + 12));
                NanpBody {
                    start: area,
                    end: area + 12,
                    separator: Some(separator),
                    bare: false,
                }
            }
            _ => return None,
        }
    };
    nanp_digits_valid(&digits).then_some(body)
}

/// NANP rules: area code and exchange start with 2-9; not one repeated digit.
fn nanp_digits_valid(digits: &[u8]) -> bool {
    digits.len() == 10
        && (b'2'..=b'9').contains(&digits[0])
        && (b'2'..=b'9').contains(&digits[3])
        && !super::all_same(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Option<&str> {
        let window = Window {
            bytes: text.as_bytes(),
            min_start: 0,
        };
        let start = text.find(|c: char| c.is_ascii_digit())?;
        let start = if text[start..].starts_with("1 ") || text[start..].starts_with("1-") {
            start + 2
        } else {
            start
        };
        phone_at(&window, start).map(|span| &text[span.start..span.end])
    }

    #[test]
    fn given_common_us_formats_when_validated_then_found_with_prefix() {
        assert_eq!(find("call (202) 555-0143 now"), Some("(202) 555-0143"));
        assert_eq!(find("(579)888-3058 fax"), Some("(579)888-3058"));
        assert_eq!(find("202-555-0143"), Some("202-555-0143"));
        assert_eq!(find("202.555.0143"), Some("202.555.0143"));
        assert_eq!(find("tel +1 202 555 0143"), Some("+1 202 555 0143"));
        assert_eq!(find("+1-984-282-0190 mobile"), Some("+1-984-282-0190"));
        assert_eq!(find("+1-984-182-0190 mobile"), None);
        assert_eq!(find("1-800-555-0199"), Some("1-800-555-0199"));
        assert_eq!(find("001-518-640-0854"), Some("001-518-640-0854"));
        assert_eq!(find("+12025550143"), Some("+12025550143"));
        assert_eq!(find("Desk: 345-899-3560x4587"), Some("345-899-3560"));
    }

    #[test]
    fn given_bare_ten_digits_when_keyword_near_then_found_else_rejected() {
        assert_eq!(find("Fax: 9498777106"), Some("9498777106"));
        assert_eq!(find("5403926876-Fax"), Some("5403926876"));
        assert_eq!(find("Fax: 3660170548"), None);
        assert_eq!(find("order 9498777106 shipped"), None);
    }

    #[test]
    fn given_non_nanp_or_glued_numbers_when_validated_then_rejected() {
        for decoy in [
            "083-564-9312",
            "202-155-0143",
            "202-555.0143",
            "21 284 698 2548",
            "202-555-01434",
            "202-555-0143-9",
            "x202-555-0143",
            "222-222-2222",
        ] {
            assert_eq!(find(decoy), None, "{decoy}");
        }
    }
}
