//! Payment card numbers.
//!
//! Accepted shapes: one run of 13 to 19 digits, or groups separated by one consistent space or
//! dash (`4-4-4-4`, `4-4-4-4-1..3`, `4-4-4-1..3`, Amex `4-6-5`, Diners `4-6-4`). The number must
//! start with a known issuer prefix valid for its length (JCB taken as the whole `35` block,
//! plus its legacy 15-digit `1800`/`2131` prefixes), pass Luhn, not be an issuer test
//! number and not be one repeated digit.
//!
//! Twelve-digit numbers: Maestro allows 12 to 19 digits, but a bare 12-digit run is also the
//! shape of an AWS account ID, which fills the CloudTrail logs and ARNs this scanner reads.
//! A 12-digit run is therefore accepted only as a plain run with a Maestro prefix (`50`,
//! `56`-`69`), a valid Luhn digit, and a card keyword (`card`, `credit`, `debit`, `cc`,
//! `maestro`, `pan`) ending within [`KEYWORD_DISTANCE`] bytes before it. An account ID passes
//! prefix and Luhn about once in seventy, so without the keyword that would be a steady
//! stream of false positives; with it, it would need a card keyword right before the ID.

use super::{clean_number_end, clean_number_start, keyword_before, Keyword, Span, Window};
use crate::kind::DetectorKind;

/// How far before a 12-digit Maestro number a card keyword may end.
pub(crate) const KEYWORD_DISTANCE: usize = 48;

const KEYWORDS: [Keyword; 6] = [
    Keyword::prefix("card"),
    Keyword::prefix("credit"),
    Keyword::prefix("debit"),
    Keyword::prefix("maestro"),
    Keyword::word("cc"),
    Keyword::word("pan"),
];

/// Issuer test numbers (Stripe, Braintree, Adyen, PayPal docs) that Macie never reports.
const TEST_NUMBERS: [&[u8]; 24] = [
    b"4111111111111111",
    b"4012888888881881",
    b"4222222222222",
    b"4242424242424242",
    b"4000056655665556",
    b"4005519200000004",
    b"4009348888881881",
    b"4012000033330026",
    b"4012000077777777",
    b"4217651111111119",
    b"4500600000000061",
    b"5555555555554444",
    b"5105105105105100",
    b"5200828282828210",
    b"2223003122003222",
    b"378282246310005",
    b"371449635398431",
    b"378734493671000",
    b"6011111111111117",
    b"6011000990139424",
    b"30569309025904",
    b"38520000023237",
    b"3530111333300000",
    b"3566002020360505",
];

/// The card number starting at `start`, which is the first digit of a digit run.
pub(crate) fn card_at(window: &Window<'_>, start: usize) -> Option<Span> {
    let first_run = window.digit_run(start, 20);
    let mut digits = [0u8; 19];
    let (digit_count, end, separator) = if (12..=19).contains(&first_run) {
        digits[..first_run].copy_from_slice(window.slice(start, start + first_run));
        (first_run, start + first_run, None)
    } else if first_run == 4 {
        grouped_card(window, start, &mut digits)?
    } else {
        return None;
    };
    if !clean_number_start(window, start, separator)
        || !clean_number_end(window, end, separator, false)
    {
        return None;
    }
    let number = &digits[..digit_count];
    if !is_card_number(number) {
        return None;
    }
    let accepted = if digit_count == 12 {
        is_maestro_range(number) && keyword_before(window, start, KEYWORD_DISTANCE, &KEYWORDS)
    } else {
        has_issuer_prefix(number)
    };
    accepted.then_some(Span {
        kind: DetectorKind::CreditCard,
        start,
        end,
    })
}

/// Reads groups separated by one consistent space or dash; returns the digit count, the end
/// offset and the separator when the group sizes form an accepted card layout.
fn grouped_card(
    window: &Window<'_>,
    start: usize,
    digits: &mut [u8; 19],
) -> Option<(usize, usize, Option<u8>)> {
    let separator = window.get(start + 4)?;
    if !matches!(separator, b' ' | b'-') {
        return None;
    }
    let mut groups = [0usize; 6];
    let mut group_count = 0;
    let mut position = start;
    let mut digit_count = 0;
    loop {
        let run = window.digit_run(position, 7);
        if run == 0 || run > 6 || digit_count + run > 19 {
            return None;
        }
        digits[digit_count..digit_count + run]
            .copy_from_slice(window.slice(position, position + run));
        digit_count += run;
        groups[group_count] = run;
        group_count += 1;
        position += run;
        let continues = window.get(position) == Some(separator)
            && window.get(position + 1).is_some_and(|b| b.is_ascii_digit());
        if !continues || group_count == groups.len() {
            break;
        }
        position += 1;
    }
    let groups = &groups[..group_count];
    let layout_ok = match groups {
        [4, 6, 5] | [4, 6, 4] => true,
        [leading @ .., last] if leading.len() >= 3 => {
            leading.iter().all(|&g| g == 4) && (1..=4).contains(last)
        }
        _ => false,
    };
    (layout_ok && (13..=19).contains(&digit_count)).then_some((
        digit_count,
        position,
        Some(separator),
    ))
}

fn leading_number(digits: &[u8], count: usize) -> u32 {
    digits
        .iter()
        .take(count)
        .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
}

/// Issuer prefixes and the lengths each issuer uses (13 to 19 digits).
pub(crate) fn has_issuer_prefix(digits: &[u8]) -> bool {
    let length = digits.len();
    let two = leading_number(digits, 2);
    let three = leading_number(digits, 3);
    let four = leading_number(digits, 4);
    let visa = digits[0] == b'4' && matches!(length, 13 | 16 | 19);
    let mastercard = ((51..=55).contains(&two) || (2221..=2720).contains(&four)) && length == 16;
    let amex = matches!(two, 34 | 37) && length == 15;
    let discover =
        (four == 6011 || (644..=649).contains(&three) || two == 65) && (16..=19).contains(&length);
    let diners = ((300..=305).contains(&three) || matches!(two, 36 | 38 | 39))
        && (14..=19).contains(&length);
    // JCB's registered range is 3528-3589, but older issuer tables and card generators (Faker
    // among them) use the whole 35 block; it adds 0.4 % of the 16-digit space, still behind Luhn.
    let jcb = two == 35 && (16..=19).contains(&length);
    let jcb_legacy = matches!(four, 1800 | 2131) && length == 15;
    let unionpay = two == 62 && (16..=19).contains(&length);
    let maestro = matches!(
        four,
        5018 | 5020 | 5038 | 5893 | 6304 | 6759 | 6761 | 6762 | 6763
    ) && (13..=19).contains(&length);
    visa || mastercard || amex || discover || diners || jcb || jcb_legacy || unionpay || maestro
}

/// Maestro's broad IIN range (`50`, `56`-`69`), used only for keyword-backed 12-digit numbers.
fn is_maestro_range(digits: &[u8]) -> bool {
    let two = leading_number(digits, 2);
    two == 50 || (56..=69).contains(&two)
}

/// Luhn checksum, minus test numbers and repeated digits.
pub(crate) fn is_card_number(digits: &[u8]) -> bool {
    luhn_valid(digits)
        && !super::all_same(digits)
        && !TEST_NUMBERS
            .iter()
            .any(|test| test.len() == digits.len() && test[..2] == digits[..2] && *test == digits)
}

/// The Luhn (mod 10) check used by every card issuer.
pub(crate) fn luhn_valid(digits: &[u8]) -> bool {
    /// A digit's contribution when it is doubled.
    const DOUBLED: [u32; 10] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let value = usize::from(d.wrapping_sub(b'0')).min(9);
        sum += if i % 2 == 1 {
            DOUBLED[value]
        } else {
            value as u32
        };
    }
    sum.is_multiple_of(10)
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
        card_at(&window, start).map(|span| (span.start, span.end))
    }

    #[test]
    fn given_valid_cards_of_each_issuer_when_validated_then_found() {
        for card in [
            "4539148803436467",
            "4556737586899855",
            "5425233430109903",
            "2223000048410010",
            "374245455400126",
            "6011000400000000",
            "6445644564456445",
            "36227206271667",
            "3569990010095841",
            "6250941006528599",
            "180016070420458",
            "213176828496175",
            "4131034282458809939",
            "4047737215142",
        ] {
            assert!(
                luhn_valid(card.as_bytes()),
                "test data {card} must pass Luhn"
            );
            assert_eq!(find(card), Some((0, card.len())), "{card}");
        }
    }

    #[test]
    fn given_grouped_cards_when_validated_then_found_with_their_separators() {
        assert_eq!(find("card 4539 1488 0343 6467 exp"), Some((5, 24)));
        assert_eq!(find("4539-1488-0343-6467"), Some((0, 19)));
        assert_eq!(find("3742 454554 00126"), Some((0, 17)));
    }

    #[test]
    fn given_luhn_invalid_or_unknown_prefix_when_validated_then_rejected() {
        assert_eq!(find("4539148803436468"), None);
        assert_eq!(find("9539148803436467"), None);
        assert_eq!(find("4539 1488-0343 6467"), None);
    }

    #[test]
    fn given_test_numbers_and_repeats_when_validated_then_rejected() {
        for decoy in [
            "4111111111111111",
            "5555555555554444",
            "378282246310005",
            "0000000000000000",
        ] {
            assert_eq!(find(decoy), None, "{decoy}");
        }
    }

    #[test]
    fn given_card_embedded_in_longer_digit_run_when_validated_then_rejected() {
        assert_eq!(find("45391488034364671234"), None);
        assert_eq!(find("1-4539148803436467"), None);
        assert_eq!(find("4539148803436467.5"), None);
        assert_eq!(find("x4539148803436467"), None);
    }

    #[test]
    fn given_twelve_digit_maestro_when_keyword_present_then_found_else_rejected() {
        assert_eq!(find("my card 503802053770"), Some((8, 20)));
        assert_eq!(find("for cc 503802053770?"), Some((7, 19)));
        assert_eq!(find("account 503802053770"), None);
        assert_eq!(find("arn:aws:iam::503802053770:role/x"), None);
        assert_eq!(find("card 403802053773"), None);
    }
}
