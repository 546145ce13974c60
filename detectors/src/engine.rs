//! The scan loop shared by one-shot and chunked scanning.
//!
//! [`advance`] walks the prefilter's candidate positions in order and runs the validators at
//! each, with precedence SSN > card > phone for numbers. Every match starts at or after the end
//! of the previous one (the cursor), so results come out sorted and non-overlapping without a
//! second pass. All decisions at a candidate depend only on the bytes within
//! [`LOOKBEHIND`]/[`LOOKAHEAD`] of it and on the cursor, which is why a chunked scan that keeps
//! that much overlap and resumes from the same cursor reports exactly what a one-shot scan does.

use crate::kind::{Detection, DetectorKind};
use crate::mask::mask_value;
use crate::prefilter::for_each_candidate;
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
}

/// Scans `buffer` (whose first byte is at absolute offset `buffer_offset`) from the state's
/// scan position. Unless `is_final`, candidates in the last [`LOOKAHEAD`] bytes are left for
/// the next call, when more bytes have arrived. The buffer must start at or before
/// `state.scan_position - LOOKBEHIND` (or at the object start).
pub(crate) fn advance(
    enabled: EnabledKinds,
    state: &mut ScanState,
    buffer: &[u8],
    buffer_offset: u64,
    is_final: bool,
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
    let mut spans: Vec<Span> = Vec::with_capacity(2);
    for_each_candidate(buffer, from, limit, |position| {
        if position < cursor {
            return;
        }
        let low = position.saturating_sub(LOOKBEHIND);
        let high = (position + LOOKAHEAD).min(length);
        let window = Window {
            bytes: &buffer[low..high],
            min_start: cursor.saturating_sub(low),
        };
        spans.clear();
        validate_candidate(enabled, &window, position - low, &mut spans);
        for span in spans.iter().filter(|span| enabled.contains(span.kind)) {
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
            found.push(Found {
                detection: Detection {
                    kind,
                    start: buffer_offset + start as u64,
                    end: buffer_offset + end as u64,
                    masked: mask_value(kind, &buffer[start..end]),
                },
                suppressed,
            });
            cursor = cursor.max(end);
        }
    });
    state.scan_position = buffer_offset + limit as u64;
    state.cursor = state.cursor.max(buffer_offset + cursor as u64);
}

/// Runs the validators that apply to the byte at `position` (window-relative).
fn validate_candidate(
    enabled: EnabledKinds,
    window: &Window<'_>,
    position: usize,
    spans: &mut Vec<Span>,
) {
    match window.get(position) {
        Some(b'0'..=b'9') => {
            // Cheap gate on the first digit run: only lengths that start some accepted shape.
            let run = window.digit_run(position, 20);
            let next = window.get(position + run);
            let dash_dot_space = matches!(next, Some(b'-' | b' ' | b'.'));
            let ssn_shape = (run == 3 && dash_dot_space) || run == 9;
            let card_shape =
                (12..=19).contains(&run) || (run == 4 && matches!(next, Some(b' ' | b'-')));
            let phone_shape =
                (run == 3 && (dash_dot_space || next == Some(b')'))) || run == 10 || run == 11;
            let number = (ssn_shape && enabled.contains(DetectorKind::UsSsn))
                .then(|| ssn::ssn_at(window, position))
                .flatten()
                .or_else(|| {
                    (card_shape && enabled.contains(DetectorKind::CreditCard))
                        .then(|| card::card_at(window, position))
                        .flatten()
                })
                .or_else(|| {
                    (phone_shape && enabled.contains(DetectorKind::UsPhone))
                        .then(|| phone::phone_at(window, position))
                        .flatten()
                });
            spans.extend(number);
        }
        Some(b'@') if enabled.contains(DetectorKind::Email) => {
            spans.extend(email::email_at(window, position));
        }
        Some(b'A')
            if enabled.contains(DetectorKind::AwsAccessKeyId)
                || enabled.contains(DetectorKind::AwsSecretAccessKey) =>
        {
            aws_key::access_key_at(window, position, spans);
        }
        Some(b'e' | b'E') if enabled.contains(DetectorKind::AwsSecretAccessKey) => {
            spans.extend(aws_key::secret_after_keyword(window, position));
        }
        Some(_) => {}
        None => {}
    }
}
