//! Short, safe context around a detection, for findings that a person will read.
//!
//! The context is about `radius` bytes either side of the target, cut on UTF-8 character
//! boundaries (invalid UTF-8 is replaced lossily). The target and every other detection that
//! touches the window appear only in their masked form; a detection cut by the window edge is
//! pulled in whole (masked) rather than shown in part. Control characters (newlines, tabs)
//! become spaces so the context fits on one line.
//!
//! Values no detector reports are hidden too, so that no context, nor two neighbouring
//! contexts put side by side, gives away what the masks keep back: every digit becomes `*`
//! (separators kept, so `4111.1111.1111.1111` reads `****.****.****.****`), and credential-like
//! tokens, values after credential keywords, key IDs broken by separators and email local
//! parts are replaced (see [`crate::redact`]). Those rules judge whole tokens over the window
//! plus [`REDACTION_MARGIN`] bytes either side, so a token cut by the window edge is hidden
//! whole in every context that shows a piece of it. Ordinary words and punctuation stay.

use std::borrow::Cow;

use crate::kind::Detection;
use crate::redact::{redactions, REDACTION_MARGIN};

/// Largest radius a caller may ask for; keeps contexts short and streaming memory bounded.
pub const MAX_CONTEXT_RADIUS: usize = 1_024;

/// Bytes past the window, on each side, that building a context reads (see the module
/// documentation); the chunk scanner keeps that much around a detection.
pub(crate) const CONTEXT_MARGIN: usize = REDACTION_MARGIN;

/// Context around `target` in `bytes` (the whole scanned object), with `target` and every
/// detection of `all` in the window masked, and every digit, credential-like token, keyword
/// value and email local part in it hidden.
pub fn masked_context(
    bytes: &[u8],
    target: &Detection,
    all: &[Detection],
    radius: usize,
) -> String {
    masked_context_in(bytes, 0, target, all, radius)
}

/// A span of the object shown as `text` instead of its bytes.
struct Hidden<'a> {
    start: u64,
    end: u64,
    text: Cow<'a, str>,
}

/// Same as [`masked_context`] when `bytes` holds the object only from absolute offset
/// `bytes_offset` on (the chunk scanner's retained buffer). Reads at most
/// [`CONTEXT_MARGIN`] bytes beyond `radius` on each side.
pub(crate) fn masked_context_in(
    bytes: &[u8],
    bytes_offset: u64,
    target: &Detection,
    all: &[Detection],
    radius: usize,
) -> String {
    let radius = radius.min(MAX_CONTEXT_RADIUS) as u64;
    let data_end = bytes_offset + bytes.len() as u64;
    let byte_at = |offset: u64| -> Option<u8> {
        offset
            .checked_sub(bytes_offset)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| bytes.get(i).copied())
    };
    let is_continuation = |offset: u64| byte_at(offset).is_some_and(|b| (b & 0xC0) == 0x80);

    let mut start = target.start.saturating_sub(radius).max(bytes_offset);
    let mut end = (target.end + radius).min(data_end).max(target.end);
    while start < target.start && is_continuation(start) {
        start += 1;
    }
    while end > target.end && is_continuation(end) {
        end -= 1;
    }
    let region_start = start
        .saturating_sub(CONTEXT_MARGIN as u64)
        .max(bytes_offset);
    let region_end = (end + CONTEXT_MARGIN as u64).min(data_end);
    let mut in_window: Vec<&Detection> = all
        .iter()
        .chain(std::iter::once(target))
        .filter(|d| d.overlaps(start, end))
        .collect();
    in_window.sort_by_key(|d| (d.start, d.end));
    in_window.dedup_by_key(|d| (d.start, d.end));
    for detection in &in_window {
        start = start.min(detection.start);
        end = end.max(detection.end);
    }

    let region = slice(bytes, bytes_offset, region_start, region_end);
    let mut hidden: Vec<Hidden<'_>> = in_window
        .iter()
        .map(|d| Hidden {
            start: d.start,
            end: d.end,
            text: Cow::Borrowed(d.masked.as_str()),
        })
        .collect();
    for redaction in redactions(region) {
        let r_start = region_start + redaction.start as u64;
        let r_end = region_start + redaction.end as u64;
        if r_start >= end || r_end <= start {
            continue;
        }
        // Detections keep their own masked form; the redaction hides what is left around them.
        let mut piece_start = r_start;
        let mut whole = true;
        for detection in in_window.iter().filter(|d| d.overlaps(r_start, r_end)) {
            whole = false;
            if detection.start > piece_start {
                hidden.push(piece(region, region_start, piece_start, detection.start));
            }
            piece_start = piece_start.max(detection.end);
        }
        if whole {
            hidden.push(Hidden {
                start: r_start,
                end: r_end,
                text: Cow::Owned(redaction.replacement),
            });
        } else if r_end > piece_start {
            hidden.push(piece(region, region_start, piece_start, r_end));
        }
    }
    hidden.sort_by_key(|h| (h.start, h.end));

    let mut context = String::new();
    let mut position = start;
    for span in hidden {
        if span.start > position {
            push_text(
                &mut context,
                slice(bytes, bytes_offset, position, span.start),
            );
        }
        if span.end > position {
            context.push_str(&span.text);
            position = span.end;
        }
    }
    if end > position {
        push_text(&mut context, slice(bytes, bytes_offset, position, end));
    }
    context
}

/// What is left of a redaction beside a detection: every letter and digit starred.
fn piece<'a>(region: &[u8], region_start: u64, start: u64, end: u64) -> Hidden<'a> {
    let raw = slice(region, region_start, start, end);
    let text = String::from_utf8_lossy(raw)
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                '*'
            } else if c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect();
    Hidden {
        start,
        end,
        text: Cow::Owned(text),
    }
}

fn slice(bytes: &[u8], bytes_offset: u64, start: u64, end: u64) -> &[u8] {
    let to_index = |offset: u64| {
        usize::try_from(offset.saturating_sub(bytes_offset))
            .unwrap_or(usize::MAX)
            .min(bytes.len())
    };
    bytes.get(to_index(start)..to_index(end)).unwrap_or(&[])
}

/// Appends raw text: control characters as spaces, every digit (of any script) as `*`.
fn push_text(context: &mut String, raw: &[u8]) {
    let text = String::from_utf8_lossy(raw);
    context.extend(text.chars().map(|c| {
        if c.is_control() {
            ' '
        } else if c.is_numeric() {
            '*'
        } else {
            c
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DetectorKind, Detectors};

    const SECRET: &str = "Zk3xQ9vW2mN7pL4rT8yB1cD6fG0hJ5kM9nP2qR7s";

    /// Every 4-byte piece of `secret` that shows in `context`.
    fn pieces_shown<'a>(secret: &'a str, context: &str) -> Vec<&'a str> {
        (0..=secret.len().saturating_sub(4))
            .map(|i| &secret[i..i + 4])
            .filter(|piece| context.contains(piece))
            .collect()
    }

    /// The contexts of every detection of `text` (one-shot), which must find `kinds`.
    fn contexts(text: &str, radius: usize, kinds: &[DetectorKind]) -> Vec<String> {
        let detections = Detectors::new().scan(text.as_bytes());
        let found: Vec<DetectorKind> = detections.iter().map(|d| d.kind).collect();
        assert_eq!(found, kinds, "{text}");
        detections
            .iter()
            .map(|d| masked_context(text.as_bytes(), d, &detections, radius))
            .collect()
    }

    #[test]
    fn given_forty_char_secret_after_the_word_token_next_to_an_ssn_when_context_built_then_none_of_it_shows(
    ) {
        // given: a secret no detector reports (the keyword is `token`, not `secret`)
        let text = format!("ssn 536-22-1987 token {SECRET} end");
        // when
        let context = &contexts(&text, 40, &[DetectorKind::UsSsn])[0];
        // then: cut by the window edge, it is still hidden whole
        assert_eq!(context, "ssn ***-**-1987 token ********");
        assert_eq!(pieces_shown(SECRET, context), Vec::<&str>::new());
    }

    #[test]
    fn given_bare_nine_digit_ssn_next_to_an_email_when_context_built_then_every_digit_is_hidden() {
        // given: nine bare digits with no SSN keyword, so not reported
        let text = "mail jane@example.com id 536221987 ok";
        // when
        let context = &contexts(text, 40, &[DetectorKind::Email])[0];
        // then
        assert_eq!(context, "mail j***@e***.com id ********* ok");
    }

    #[test]
    fn given_dotted_card_next_to_an_ssn_when_context_built_then_digits_hidden_and_dots_kept() {
        // given: a card written with dots, a shape the card detector does not accept
        let text = "ssn 536-22-1987 card 4111.1111.1111.1111 and 4539-1488-0343-6467x";
        // when
        let context = &contexts(text, 60, &[DetectorKind::UsSsn])[0];
        // then
        assert_eq!(
            context,
            "ssn ***-**-1987 card ****.****.****.**** and ****-****-****-****x"
        );
    }

    #[test]
    fn given_key_id_split_by_separators_next_to_an_ssn_when_context_built_then_none_of_it_shows() {
        for split in [
            "AKIAZ7VR SQ5TJN2K 4LMB",
            "AKIA-Z7VR-SQ5T-JN2K-4LMB",
            "AKIAZ7VRSQ5T\nJN2K4LMB",
            "AKIAZ7VRSQ5T\\nJN2K4LMB",
            "AKIAZ7VR\r\n  SQ5TJN2K4LMB",
            "AKIAZ7VR\tSQ5T JN2K|4LMB",
        ] {
            // given: the key ID `AKIAZ7VRSQ5TJN2K4LMB` broken so the detector does not see it
            let text = format!("ssn 536-22-1987 id {split} end");
            // when
            let context = &contexts(&text, 60, &[DetectorKind::UsSsn])[0];
            // then
            assert_eq!(
                context, "ssn ***-**-1987 id AKIA**************** end",
                "{split:?}"
            );
        }
    }

    #[test]
    fn given_secret_between_two_findings_when_both_contexts_read_then_they_cannot_be_put_together()
    {
        // given: each context window holds about half of an unreported secret
        let text = format!("ssn 536-22-1987 note {SECRET} ssn 536-22-1988");
        for radius in [20, 25, 30, 40] {
            // when
            let both = contexts(&text, radius, &[DetectorKind::UsSsn, DetectorKind::UsSsn]);
            // then: neither shows any piece of it, so together they show none
            let joined = both.join(" | ");
            assert_eq!(
                pieces_shown(SECRET, &joined),
                Vec::<&str>::new(),
                "{joined}"
            );
            assert!(both[0].contains("********"), "{joined}");
            assert!(both[1].contains("********"), "{joined}");
        }
    }

    #[test]
    fn given_ordinary_words_around_a_card_when_context_built_then_they_stay_readable() {
        let text = "Customer Jane Smith paid the invoice with card 4539 1488 0343 6467 on \
                    2024-03-05, see aws_secret_access_key docs at /var/log/app-server/requests";
        let context = &contexts(text, 100, &[DetectorKind::CreditCard])[0];
        assert!(
            context.contains("Customer Jane Smith paid the invoice with card ************6467"),
            "{context}"
        );
        assert!(
            context.contains(
                "on ****-**-**, see aws_secret_access_key docs at /var/log/app-server/requests"
            ),
            "{context}"
        );
    }

    #[test]
    fn given_email_detector_off_when_context_built_then_addresses_still_hidden() {
        let text =
            "ssn 536-22-1987 mail jane.doe@example.com or postgres://app:hunter@db.example.com";
        let detectors = Detectors::with_kinds(&[DetectorKind::UsSsn]);
        let detections = detectors.scan(text.as_bytes());
        assert_eq!(detections.len(), 1);
        let context = masked_context(text.as_bytes(), &detections[0], &detections, 100);
        assert_eq!(
            context,
            "ssn ***-**-1987 mail j***@e***.com or postgres://***:***@db.example.com"
        );
    }

    #[test]
    fn given_digits_of_other_scripts_when_context_built_then_hidden_too() {
        let text =
            "ssn 536-22-1987 \u{0664}\u{0661}\u{0661}\u{0661} \u{FF14}\u{FF11}\u{FF11}\u{FF11}";
        let context = &contexts(text, 40, &[DetectorKind::UsSsn])[0];
        assert_eq!(context, "ssn ***-**-1987 **** ****");
    }

    #[test]
    fn given_keyword_value_that_is_a_detection_when_context_built_then_the_detection_keeps_its_mask(
    ) {
        let text = "password=jane@example.com;";
        let context = &contexts(text, 40, &[DetectorKind::Email])[0];
        assert_eq!(context, "password=j***@e***.com;");
    }

    #[test]
    fn given_two_matches_close_together_when_context_built_then_both_are_masked() {
        let text = "name: Jane, ssn 536-22-1987, card 4539148803436467, mail jane@example.com\n";
        let detections = Detectors::new().scan(text.as_bytes());
        assert_eq!(detections.len(), 3);
        let context = masked_context(text.as_bytes(), &detections[0], &detections, 40);
        assert!(context.contains("***-**-1987"), "{context}");
        assert!(context.contains("************6467"), "{context}");
        assert!(!context.contains("536-22"), "{context}");
        assert!(!context.contains("453914"), "{context}");
        assert!(!context.contains('\n'));
    }

    #[test]
    fn given_window_edge_inside_another_match_when_context_built_then_no_partial_raw_digits() {
        let text = "4539148803436467 x 536-22-1987";
        let detections = Detectors::new().scan(text.as_bytes());
        assert_eq!(detections.len(), 2);
        let context = masked_context(text.as_bytes(), &detections[1], &detections, 5);
        assert_eq!(context, "************6467 x ***-**-1987");
    }

    #[test]
    fn given_multibyte_text_when_context_cut_then_cut_on_char_boundaries() {
        let text = "ééééé 536-22-1987 ééééé";
        let detections = Detectors::new().scan(text.as_bytes());
        assert_eq!(detections.len(), 1);
        for radius in 0..12 {
            let context = masked_context(text.as_bytes(), &detections[0], &detections, radius);
            assert!(!context.contains('\u{FFFD}'), "radius {radius}: {context}");
            assert!(context.contains("***-**-1987"));
        }
    }
}
