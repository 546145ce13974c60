//! Scanning one object fed in successive chunks, with bounded memory.
//!
//! [`ChunkScanner`] appends each chunk to a small buffer that still holds the overlap tail of
//! the previous ones, scans up to [`LOOKAHEAD`] bytes before its end, and keeps only what later
//! candidates can still read: [`LOOKBEHIND`] bytes before the scan position, plus, when
//! contexts are wanted, the bytes around detections whose context is not yet complete. A match
//! that straddles chunk boundaries is therefore seen whole exactly once, offsets are absolute,
//! and memory stays at about one chunk plus a few kilobytes whatever the object size.
//!
//! With a context radius, a detection is handed out once every detection that could fall in
//! its context window is known, so its context masks them all, and once the bytes its context
//! reads (the window plus the redaction margin either side) have arrived, so the context is
//! exactly what a whole-object scan builds.

use std::collections::VecDeque;

use crate::context::{masked_context_in, CONTEXT_MARGIN, MAX_CONTEXT_RADIUS};
use crate::engine::{advance, EnabledKinds, Found, ScanState};
use crate::kind::{Detection, DetectorKind};
use crate::validate::{LOOKAHEAD, LOOKBEHIND};
use crate::ScanReport;

/// A detection with its masked context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextualDetection {
    pub detection: Detection,
    /// Masked context (see [`crate::masked_context`]); empty when no radius was set.
    pub context: String,
}

/// Incremental scanner for one object; see the module documentation.
#[derive(Debug, Clone)]
pub struct ChunkScanner {
    enabled: EnabledKinds,
    context_radius: Option<usize>,
    buffer: Vec<u8>,
    buffer_offset: u64,
    state: ScanState,
    /// Found, not yet handed out (waiting for their context to be complete).
    pending: VecDeque<Found>,
    /// Handed out (or suppressed) recently; still needed to mask later contexts.
    recent: VecDeque<Detection>,
}

impl ChunkScanner {
    pub(crate) fn new(enabled: EnabledKinds, context_radius: Option<usize>) -> Self {
        ChunkScanner {
            enabled,
            context_radius: context_radius.map(|r| r.min(MAX_CONTEXT_RADIUS)),
            buffer: Vec::new(),
            buffer_offset: 0,
            state: ScanState::default(),
            pending: VecDeque::new(),
            recent: VecDeque::new(),
        }
    }

    /// Scans the next chunk; returns the detections that are now final, in offset order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Detection> {
        self.push_with_context(chunk)
            .into_iter()
            .map(|c| c.detection)
            .collect()
    }

    /// Like [`ChunkScanner::push`], with each detection's masked context.
    pub fn push_with_context(&mut self, chunk: &[u8]) -> Vec<ContextualDetection> {
        self.buffer.extend_from_slice(chunk);
        self.scan(false)
    }

    /// Scans what is left at the end of the object.
    pub fn finish(self) -> Vec<Detection> {
        self.finish_report().detections
    }

    /// Like [`ChunkScanner::finish`], with each detection's masked context.
    pub fn finish_with_context(mut self) -> Vec<ContextualDetection> {
        self.scan(true)
    }

    /// Final detections plus which kinds hit the per-object cap.
    pub fn finish_report(mut self) -> ScanReport {
        let detections = self.scan(true).into_iter().map(|c| c.detection).collect();
        ScanReport {
            detections,
            capped: self.state.capped_kinds(),
        }
    }

    /// Kinds that have reached [`crate::MAX_DETECTIONS_PER_KIND`] so far (further matches of
    /// them are dropped).
    pub fn capped_kinds(&self) -> Vec<DetectorKind> {
        self.state.capped_kinds()
    }

    /// Total bytes pushed so far.
    pub fn bytes_seen(&self) -> u64 {
        self.buffer_offset + self.buffer.len() as u64
    }

    /// Bytes currently held between calls (the overlap tail); bounded whatever the object size.
    pub fn retained_bytes(&self) -> usize {
        self.buffer.len()
    }

    fn scan(&mut self, is_final: bool) -> Vec<ContextualDetection> {
        let mut found = Vec::new();
        advance(
            self.enabled,
            &mut self.state,
            &self.buffer,
            self.buffer_offset,
            is_final,
            self.context_radius.is_some(),
            &mut found,
        );
        self.pending.extend(found);
        let ready = self.hand_out_ready(is_final);
        if !is_final {
            self.trim();
        }
        ready
    }

    fn hand_out_ready(&mut self, is_final: bool) -> Vec<ContextualDetection> {
        let settled = if is_final {
            u64::MAX
        } else {
            self.state.settled_before()
        };
        let radius = self.context_radius.unwrap_or(0) as u64;
        let mut ready = Vec::new();
        while let Some(front) = self.pending.front() {
            // Its context needs every detection of its window (settled) and the bytes of the
            // window plus the margin its redactions read.
            if self.context_radius.is_some()
                && (front.detection.end + radius > settled
                    || (!is_final
                        && front.detection.end + radius + CONTEXT_MARGIN as u64
                            > self.bytes_seen()))
            {
                break;
            }
            let Some(found) = self.pending.pop_front() else {
                break;
            };
            if !found.suppressed {
                let context = match self.context_radius {
                    Some(radius) => {
                        let known: Vec<Detection> = self
                            .recent
                            .iter()
                            .chain(self.pending.iter().map(|f| &f.detection))
                            .cloned()
                            .collect();
                        masked_context_in(
                            &self.buffer,
                            self.buffer_offset,
                            &found.detection,
                            &known,
                            radius,
                        )
                    }
                    None => String::new(),
                };
                ready.push(ContextualDetection {
                    detection: found.detection.clone(),
                    context,
                });
            }
            if self.context_radius.is_some() {
                self.recent.push_back(found.detection);
            }
        }
        ready
    }

    /// Drops the bytes and old detections no later step can need.
    fn trim(&mut self) {
        let radius = self.context_radius.unwrap_or(0) as u64;
        let mut keep_from = self.state.scan_position.saturating_sub(LOOKBEHIND as u64);
        if self.context_radius.is_some() {
            // A detection found later starts at or after `settled_before`; its context reads
            // from `radius` plus the margin before its start.
            keep_from = keep_from.min(
                self.state
                    .settled_before()
                    .saturating_sub(radius + CONTEXT_MARGIN as u64 + 4),
            );
        }
        if let Some(first) = self.pending.front() {
            keep_from = keep_from.min(
                first
                    .detection
                    .start
                    .saturating_sub(radius + CONTEXT_MARGIN as u64 + 4),
            );
        }
        let keep_from = keep_from.max(self.buffer_offset);
        let drop = usize::try_from(keep_from - self.buffer_offset)
            .unwrap_or(0)
            .min(self.buffer.len());
        if drop > 0 {
            self.buffer.drain(..drop);
            self.buffer_offset += drop as u64;
        }
        let offset = self.buffer_offset;
        while self
            .recent
            .front()
            .is_some_and(|d| d.end + 2 * radius < offset)
        {
            self.recent.pop_front();
        }
    }
}

/// Bytes a chunk scanner may hold besides the current chunk, for a given context radius.
pub fn max_retained_bytes(context_radius: usize) -> usize {
    LOOKBEHIND + LOOKAHEAD + 2 * (context_radius.min(MAX_CONTEXT_RADIUS) + CONTEXT_MARGIN) + 512
}
