//! The scan loop shared by one-shot and chunked scanning.
//!
//! [`advance`] walks the prefilter's candidate positions in order and runs the validators at
//! each, with precedence SSN > card > phone for numbers. Every match starts at or after the end
//! of the previous one (the cursor), so results come out sorted and non-overlapping without a
//! second pass. All decisions at a candidate depend only on the bytes within
//! [`LOOKBEHIND`]/[`LOOKAHEAD`] of it, on the cursor and on which kinds are already capped
//! (capped kinds are no longer validated), which is why a chunked scan that keeps that much
//! overlap and resumes from the same state reports exactly what a one-shot scan does.

use crate::kind::{Detection, DetectorKind};
use crate::mask::mask_value;
use crate::prefilter::{for_each_candidate, Wanted};
use crate::validate::{aws_key, card, email, phone, ssn, Span, Window, LOOKAHEAD, LOOKBEHIND};

/// Macie's limit: at most this many detections of one kind are reported per object.
pub const MAX_DETECTIONS_PER_KIND: u32 = 1_000;

/// Which detectors are switched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EnabledKinds([bool; 6]);

impl EnabledKinds {
    pub fn all() -> Self {
        EnabledKinds([true; 6])
    }

    pub fn only(kinds: &[DetectorKind]) -> Self {
        let mut enabled = [false; 6];
        for kind in kinds {
            enabled[kind.index()] = true;
        }
        EnabledKinds(enabled)
    }

    pub fn contains(&self, kind: DetectorKind) -> bool {
        self.0[kind.index()]
    }

    pub fn kinds(&self) -> Vec<DetectorKind> {
        DetectorKind::ALL
            .into_iter()
            .filter(|kind| self.contains(*kind))
            .collect()
    }
}

/// A detection as the engine found it; `suppressed` ones are over the per-kind cap and are
/// only kept so that contexts can still mask them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub detection: Detection,
    pub suppressed: bool,
}

/// Where a scan of one object has got to, in absolute byte offsets.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScanState {
    /// End of the last match: no new match may start before it.
    pub cursor: u64,
    /// Candidates before this offset have been handled.
    pub scan_position: u64,
    pub counts: [u32; 6],
    pub capped: [bool; 6],
    /// Validator calls per kind so far (what the per-object cap saves is visible here).
    pub validations: [u64; 6],
}

impl ScanState {
    pub fn capped_kinds(&self) -> Vec<DetectorKind> {
        DetectorKind::ALL
            .into_iter()
            .filter(|kind| self.capped[kind.index()])
            .collect()
    }

    /// No detection found from now on can start before this offset.
    pub fn settled_before(&self) -> u64 {
        self.cursor
            .max(self.scan_position.saturating_sub(LOOKBEHIND as u64))
    }

    /// The enabled kinds still validated: a kind is dropped once it is known to be capped
    /// (one match past [`MAX_DETECTIONS_PER_KIND`]), since nothing more of it can be reported.
    fn live(&self, enabled: EnabledKinds) -> EnabledKinds {
        let mut live = enabled;
        for (on, capped) in live.0.iter_mut().zip(self.capped) {
            *on = *on && !capped;
        }
        live
    }
}

/// The candidate classes the validators of `live` kinds start from.
fn wanted(live: EnabledKinds) -> Wanted {
    Wanted {
        numbers: live.contains(DetectorKind::UsSsn)
            || live.contains(DetectorKind::CreditCard)
            || live.contains(DetectorKind::UsPhone),
        at_signs: live.contains(DetectorKind::Email),
        key_ids: live.contains(DetectorKind::AwsAccessKeyId)
            || live.contains(DetectorKind::AwsSecretAccessKey),
        secrets: live.contains(DetectorKind::AwsSecretAccessKey),
    }
}

/// Scans `buffer` (whose first byte is at absolute offset `buffer_offset`) from the state's
/// scan position. Unless `is_final`, candidates in the last [`LOOKAHEAD`] bytes are left for
/// the next call, when more bytes have arrived. The buffer must start at or before
/// `state.scan_position - LOOKBEHIND` (or at the object start).
///
/// A kind stops being validated once it is capped, as if it had been switched off for the
/// rest of the object, and the scan ends early once every enabled kind is capped. The one
/// match that shows a kind capped is pushed as `suppressed` only when `keep_suppressed` (the
/// chunk scanner's contexts mask it); nothing else needs it.
pub(crate) fn advance(
    enabled: EnabledKinds,
    state: &mut ScanState,
    buffer: &[u8],
    buffer_offset: u64,
    is_final: bool,
    keep_suppressed: bool,
    found: &mut Vec<Found>,
) {
    let length = buffer.len();
    let limit = if is_final {
        length
    } else {
        length.saturating_sub(LOOKAHEAD)
    };
    let from =
        usize::try_from(state.scan_position.saturating_sub(buffer_offset)).unwrap_or(usize::MAX);
    if from >= limit {
        return;
    }
    let mut cursor = usize::try_from(state.cursor.saturating_sub(buffer_offset)).unwrap_or(0);
    let mut live = state.live(enabled);
    let mut spans: Vec<Span> = Vec::with_capacity(2);
    for_each_candidate(buffer, from, limit, wanted(live), |position| {
        if position < cursor {
            return wanted(live);
        }
        let low = position.saturating_sub(LOOKBEHIND);
        let high = (position + LOOKAHEAD).min(length);
        let window = Window {
            bytes: &buffer[low..high],
            min_start: cursor.saturating_sub(low),
        };
        spans.clear();
        validate_candidate(
            live,
            &window,
            position - low,
            &mut state.validations,
            &mut spans,
        );
        let validated = live;
        for span in spans.iter().filter(|span| validated.contains(span.kind)) {
            let start = low + span.start;
            let end = low + span.end;
            let kind = span.kind;
            let index = kind.index();
            let suppressed = state.counts[index] >= MAX_DETECTIONS_PER_KIND;
            if suppressed {
                state.capped[index] = true;
            } else {
                state.counts[index] += 1;
            }
            if !suppressed || keep_suppressed {
                found.push(Found {
                    detection: Detection {
                        kind,
                        start: buffer_offset + start as u64,
                        end: buffer_offset + end as u64,
                        masked: mask_value(kind, &buffer[start..end]),
                    },
                    suppressed,
                });
            }
            cursor = cursor.max(end);
            if suppressed {
                live = state.live(enabled);
            }
        }
        wanted(live)
    });
    state.scan_position = buffer_offset + limit as u64;
    state.cursor = state.cursor.max(buffer_offset + cursor as u64);
}

/// Runs the validators of `live` kinds that apply to the byte at `position` (window-relative),
/// counting each call in `validations`.
fn validate_candidate(
    live: EnabledKinds,
    window: &Window<'_>,
    position: usize,
    validations: &mut [u64; 6],
    spans: &mut Vec<Span>,
) {
    let mut call = |kind: DetectorKind| -> bool {
        let on = live.contains(kind);
        if on {
            validations[kind.index()] += 1;
        }
        on
    };
    match window.get(position) {
        Some(b'0'..=b'9') => {
            // Cheap gates on the first digit run and what follows it: only the layouts that
            // start some accepted shape reach a validator.
            let run = window.digit_run(position, 20);
            let next = window.get(position + run);
            let dash_dot_space = matches!(next, Some(b'-' | b' ' | b'.'));
            let second_run = || window.digit_run(position + run + 1, 7);
            // `ddd-dd-dddd` or nine digits.
            let ssn_shape = (run == 3 && dash_dot_space && second_run() == 2) || run == 9;
            // One run of 12 to 19 digits, or a group of four then one of four or six.
            let card_shape = (12..=19).contains(&run)
                || (run == 4 && matches!(next, Some(b' ' | b'-')) && matches!(second_run(), 4 | 6));
            // `ddd-ddd-dddd`, `001-(ddd)`, `(ddd)`, ten or eleven digits.
            let phone_shape = (run == 3
                && ((dash_dot_space
                    && (second_run() == 3 || window.get(position + 4) == Some(b'(')))
                    || next == Some(b')')))
                || run == 10
                || run == 11;
            let number = (ssn_shape && call(DetectorKind::UsSsn))
                .then(|| ssn::ssn_at(window, position))
                .flatten()
                .or_else(|| {
                    (card_shape && call(DetectorKind::CreditCard))
                        .then(|| card::card_at(window, position))
                        .flatten()
                })
                .or_else(|| {
                    (phone_shape && call(DetectorKind::UsPhone))
                        .then(|| phone::phone_at(window, position))
                        .flatten()
                });
            spans.extend(number);
        }
        Some(b'@') if call(DetectorKind::Email) => {
            spans.extend(email::email_at(window, position));
        }
        Some(b'A')
            if live.contains(DetectorKind::AwsAccessKeyId)
                || live.contains(DetectorKind::AwsSecretAccessKey) =>
        {
            // A key ID is validated for itself, or only for the secret key beside it.
            if !call(DetectorKind::AwsAccessKeyId) {
                call(DetectorKind::AwsSecretAccessKey);
            }
            aws_key::access_key_at(window, position, spans);
        }
        Some(b'e' | b'E') if call(DetectorKind::AwsSecretAccessKey) => {
            spans.extend(aws_key::secret_after_keyword(window, position));
        }
        Some(_) => {}
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: usize = MAX_DETECTIONS_PER_KIND as usize;

    /// `count` distinct valid SSNs, one a line.
    fn ssns(count: usize) -> String {
        (0..count)
            .map(|i| {
                format!(
                    "ref {:03}-{:02}-{:04}\n",
                    100 + i % 500,
                    10 + i % 80,
                    1000 + i
                )
            })
            .collect()
    }

    /// `count` distinct valid email addresses, one a line.
    fn emails(count: usize) -> String {
        (0..count)
            .map(|i| format!("mail user{i}@example.com\n"))
            .collect()
    }

    fn scan(enabled: EnabledKinds, text: &str) -> (ScanState, Vec<Found>) {
        let mut state = ScanState::default();
        let mut found = Vec::new();
        advance(
            enabled,
            &mut state,
            text.as_bytes(),
            0,
            true,
            false,
            &mut found,
        );
        (state, found)
    }

    #[test]
    fn given_every_kind_capped_when_more_candidates_follow_then_none_is_validated() {
        // given: only SSNs on, and three times the cap of them
        let enabled = EnabledKinds::only(&[DetectorKind::UsSsn]);
        let text = ssns(3 * CAP);
        // when
        let (state, found) = scan(enabled, &text);
        // then: the cap's worth reported, the kind capped, and validation stopped at the
        // first match past the cap
        assert_eq!(found.len(), CAP);
        assert!(found.iter().all(|f| !f.suppressed));
        assert_eq!(state.capped_kinds(), vec![DetectorKind::UsSsn]);
        assert_eq!(state.counts[DetectorKind::UsSsn.index()] as usize, CAP);
        assert_eq!(
            state.validations[DetectorKind::UsSsn.index()] as usize,
            CAP + 1
        );
        // and the scan still covered the whole buffer
        assert_eq!(state.scan_position, text.len() as u64);
    }

    #[test]
    fn given_one_kind_capped_when_others_continue_then_only_the_capped_kind_stops_and_the_others_stay_exact(
    ) {
        // given: more SSNs than the cap, then emails interleaved with more SSNs
        let enabled = EnabledKinds::all();
        let mut text = ssns(CAP + 1);
        for i in 0..300 {
            text.push_str(&format!(
                "ssn 536-22-{:04} mail late{i}@example.org\n",
                1000 + i
            ));
        }
        text.push_str(&emails(200));
        // when
        let (state, found) = scan(enabled, &text);
        // then: SSNs capped and no longer validated after the first one past the cap
        let ssn = DetectorKind::UsSsn.index();
        assert_eq!(state.capped_kinds(), vec![DetectorKind::UsSsn]);
        assert_eq!(state.counts[ssn] as usize, CAP);
        assert_eq!(state.validations[ssn] as usize, CAP + 1);
        // and every email is reported, with the same offsets as a scan of emails alone
        let emails_found: Vec<&Detection> = found
            .iter()
            .map(|f| &f.detection)
            .filter(|d| d.kind == DetectorKind::Email)
            .collect();
        assert_eq!(emails_found.len(), 500);
        let (_, alone) = scan(EnabledKinds::only(&[DetectorKind::Email]), &text);
        let alone: Vec<&Detection> = alone.iter().map(|f| &f.detection).collect();
        assert_eq!(emails_found, alone);
        assert!(!state.capped[DetectorKind::Email.index()]);
    }

    #[test]
    fn given_exactly_the_cap_when_scanned_then_the_kind_is_not_capped() {
        let enabled = EnabledKinds::only(&[DetectorKind::Email]);
        let (state, found) = scan(enabled, &emails(CAP));
        assert_eq!(found.len(), CAP);
        assert!(state.capped_kinds().is_empty());
        // and the next match is the one that shows the cap
        let (state, found) = scan(enabled, &emails(CAP + 1));
        assert_eq!(found.len(), CAP);
        assert_eq!(state.capped_kinds(), vec![DetectorKind::Email]);
    }

    #[test]
    fn given_a_chunk_scanner_with_contexts_when_a_kind_is_capped_then_its_match_past_the_cap_is_kept_suppressed(
    ) {
        let enabled = EnabledKinds::only(&[DetectorKind::UsSsn]);
        let text = ssns(CAP + 50);
        let mut state = ScanState::default();
        let mut found = Vec::new();
        advance(
            enabled,
            &mut state,
            text.as_bytes(),
            0,
            true,
            true,
            &mut found,
        );
        assert_eq!(found.len(), CAP + 1);
        assert_eq!(found.iter().filter(|f| f.suppressed).count(), 1);
    }
}
