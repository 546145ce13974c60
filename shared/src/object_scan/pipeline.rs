//! The scan pipeline of one unit, independent of S3: raw bytes in, as they arrive, and the
//! detections to store out, with bounded memory whatever the object size.
//!
//! [`StreamScan`] takes the raw chunks of a GetObject body. When it reads from the start of an
//! object it decides gzip from the magic bytes (`1f 8b`) or the declared Content-Encoding, and
//! decompresses with `flate2`'s push decoder (multi-member gzip included), so offsets are
//! decompressed-byte offsets. Compressed bytes go to the decoder [`INFLATE_SLICE`] at a time,
//! and a stream that inflates past [`RATIO_GRACE_BYTES`] to more than the maximum ratio
//! ([`DEFAULT_MAX_COMPRESSION_RATIO`] times what it was given) is stopped as a decompression
//! bomb ([`Verdict::CompressionRatio`]) after a bounded read. It holds back the first [`SNIFF_BYTES`] of text to decide
//! "binary" before scanning anything, then feeds the detectors' [`ChunkScanner`], which finds
//! a match across chunk boundaries exactly once.
//!
//! A byte range `[start, end)` of a split object is read with a lead-in of [`RANGE_LEAD_IN`]
//! bytes before `start` and an overlap of [`RANGE_OVERLAP`] bytes after `end`, and only
//! detections that *start* inside the range are reported: a match crossing a range boundary is
//! reported by exactly one range, and keyword and boundary checks see the same neighbourhood
//! as in a whole-object scan. Both margins are far longer than any match plus its context.
//!
//! [`plan_units`] decides, at enumeration time, whether an object is one unit or several ranges.

use std::io::Write;

use flate2::write::MultiGzDecoder;
use qrie_detectors::{
    looks_binary, ChunkScanner, ContextualDetection, DetectorKind, Detectors, SNIFF_BYTES,
};

use super::model::ByteRange;

pub use crate::config::DEFAULT_MAX_COMPRESSION_RATIO;
/// Bytes of masked context either side of a detection.
pub const CONTEXT_RADIUS: usize = 40;
/// Bytes read before a range's start.
pub const RANGE_LEAD_IN: u64 = 4 * 1024;
/// Bytes read past a range's end.
pub const RANGE_OVERLAP: u64 = 4 * 1024;
/// Compressed bytes handed to the gzip decoder at once: with deflate's at most ~1,032:1, one
/// slice inflates to at most ~8.5 MB before the ratio and size bounds are checked again.
pub const INFLATE_SLICE: usize = 8 * 1024;
/// Decompressed bytes a gzip stream may produce before its compression ratio is judged
/// (small files of repetitive text legitimately compress very well).
pub const RATIO_GRACE_BYTES: u64 = 16 * 1024 * 1024;

/// True for keys named like gzip files (such objects are never split into ranges).
pub fn gzip_by_name(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    lower.ends_with(".gz") || lower.ends_with(".gzip") || lower.ends_with(".tgz")
}

/// True when `bytes` start with the gzip magic number.
pub fn is_gzip_magic(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
}

/// The units of one object: `[None]` (whole) or consecutive ranges of `bytes_per_message`.
///
/// Objects named like gzip, objects over `max_object_bytes` (they will be skipped) and objects
/// up to `bytes_per_message` are one unit.
pub fn plan_units(
    key: &str,
    size: u64,
    bytes_per_message: u64,
    max_object_bytes: u64,
) -> Vec<Option<ByteRange>> {
    if bytes_per_message == 0
        || size <= bytes_per_message
        || size > max_object_bytes
        || gzip_by_name(key)
    {
        return vec![None];
    }
    let mut units = Vec::new();
    let mut start = 0;
    while start < size {
        let end = (start + bytes_per_message).min(size);
        units.push(Some(ByteRange { start, end }));
        start = end;
    }
    units
}

/// How the bytes of a stream are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamMode {
    /// From the object's start: gzip from magic bytes or `declared_gzip`, binary sniffing.
    Whole { declared_gzip: bool },
    /// A range of a plain object, read from `read_start`; no sniffing (the unit decided
    /// gzip and binary from the object's head beforehand).
    Range { read_start: u64, report: ByteRange },
    /// The first range, read from offset 0: sniffs like `Whole`, but a gzip stream is not
    /// scanned ([`Verdict::NeedsWholeObject`]): gzip cannot be range-split.
    FirstRange { report: ByteRange },
}

/// Why a stream stopped being scanned before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Binary,
    /// More than the maximum decompressed bytes (scanned up to it).
    TooLarge,
    /// A gzip stream inflating more than the maximum ratio (a decompression bomb); scanned up
    /// to where that was seen.
    CompressionRatio,
    CorruptGzip,
    /// The first range is gzip: the unit must read the whole object instead.
    NeedsWholeObject,
}

/// Where decompressed bytes go: sniffing, then the detectors.
struct TextSink {
    scanner: Option<ChunkScanner>,
    sniff: Option<Vec<u8>>,
    /// Absolute offset of the first byte fed.
    base: u64,
    report: Option<ByteRange>,
    fed: u64,
    limit: u64,
    ready: Vec<ContextualDetection>,
    verdict: Option<Verdict>,
    /// Compressed bytes handed to the decoder so far (gzip only) and the largest
    /// decompressed-to-compressed ratio allowed.
    compressed: u64,
    max_ratio: Option<u64>,
    /// Kinds that went past the detectors' per-unit cap, known once finished.
    capped: Vec<DetectorKind>,
}

impl TextSink {
    fn new(
        detectors: &Detectors,
        base: u64,
        report: Option<ByteRange>,
        sniff: bool,
        limit: u64,
    ) -> Self {
        TextSink {
            scanner: Some(detectors.chunk_scanner_with_context(CONTEXT_RADIUS)),
            sniff: sniff.then(|| Vec::with_capacity(SNIFF_BYTES)),
            base,
            report,
            fed: 0,
            limit,
            ready: Vec::new(),
            verdict: None,
            compressed: 0,
            max_ratio: None,
            capped: Vec::new(),
        }
    }

    fn feed(&mut self, mut bytes: &[u8]) {
        if self.verdict.is_some() {
            return;
        }
        if let Some(ratio) = self.max_ratio {
            // A gzip stream is judged on what it inflated so far against what it was given.
            let allowed = self.compressed.saturating_mul(ratio).max(RATIO_GRACE_BYTES);
            let room = allowed.saturating_sub(self.fed);
            if bytes.len() as u64 > room {
                bytes = &bytes[..usize::try_from(room).unwrap_or(usize::MAX)];
                self.verdict = Some(Verdict::CompressionRatio);
            }
        }
        let room = self.limit.saturating_sub(self.fed);
        if bytes.len() as u64 > room {
            bytes = &bytes[..usize::try_from(room).unwrap_or(usize::MAX)];
            self.verdict.get_or_insert(Verdict::TooLarge);
        }
        self.fed += bytes.len() as u64;
        if let Some(sniff) = &mut self.sniff {
            let take = (SNIFF_BYTES - sniff.len()).min(bytes.len());
            sniff.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if sniff.len() < SNIFF_BYTES && self.verdict.is_none() {
                return;
            }
            if !self.release_sniff() {
                return;
            }
        }
        self.scan(bytes);
    }

    /// Decides "binary" on the held-back head; scans it if it is text. False when binary.
    fn release_sniff(&mut self) -> bool {
        let Some(sniff) = self.sniff.take() else {
            return true;
        };
        if looks_binary(&sniff) {
            self.verdict = Some(Verdict::Binary);
            return false;
        }
        self.scan(&sniff);
        true
    }

    fn scan(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Some(scanner) = &mut self.scanner {
            let found = scanner.push_with_context(bytes);
            self.keep(found);
        }
    }

    fn keep(&mut self, found: Vec<ContextualDetection>) {
        let (base, report) = (self.base, self.report);
        self.ready.extend(found.into_iter().filter_map(|mut c| {
            c.detection.start += base;
            c.detection.end += base;
            let inside =
                report.is_none_or(|r| c.detection.start >= r.start && c.detection.start < r.end);
            inside.then_some(c)
        }));
    }

    fn finish(&mut self) {
        if self.sniff.is_some() && self.verdict.is_none() && !self.release_sniff() {
            return;
        }
        if matches!(
            self.verdict,
            Some(Verdict::Binary | Verdict::NeedsWholeObject)
        ) {
            return;
        }
        if let Some(scanner) = self.scanner.take() {
            // The final scan of what is left tells which kinds went past the cap; a copy of
            // the scanner (its small overlap tail) gives the detections with their contexts.
            let found = scanner.clone().finish_with_context();
            self.capped = scanner.finish_report().capped;
            self.keep(found);
        }
    }
}

impl Write for TextSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.feed(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

enum Decoder {
    /// Waiting for the first two bytes to decide gzip.
    Undecided(Vec<u8>, TextSink),
    Plain(TextSink),
    Gzip(Box<MultiGzDecoder<TextSink>>),
    Finished(TextSink),
}

/// The scan of one unit's byte stream.
pub struct StreamScan {
    decoder: Option<Decoder>,
    mode: StreamMode,
    raw_bytes: u64,
    max_ratio: u64,
}

/// The end of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSummary {
    pub verdict: Option<Verdict>,
    /// Bytes scanned (decompressed).
    pub scanned_bytes: u64,
    pub raw_bytes: u64,
    pub gzip: bool,
    /// Kinds that had more matches than the detectors keep per unit.
    pub capped: Vec<DetectorKind>,
}

impl StreamScan {
    /// A scan whose decompressed size is bounded by `max_bytes`, and a gzip stream's
    /// decompressed-to-compressed ratio by [`DEFAULT_MAX_COMPRESSION_RATIO`].
    pub fn new(detectors: &Detectors, mode: StreamMode, max_bytes: u64) -> Self {
        Self::with_max_ratio(detectors, mode, max_bytes, DEFAULT_MAX_COMPRESSION_RATIO)
    }

    /// A scan bounded by `max_bytes` decompressed, and, for gzip, by `max_ratio` times the
    /// compressed bytes read (past the first [`RATIO_GRACE_BYTES`]).
    pub fn with_max_ratio(
        detectors: &Detectors,
        mode: StreamMode,
        max_bytes: u64,
        max_ratio: u64,
    ) -> Self {
        let decoder = match mode {
            StreamMode::Whole { declared_gzip } => {
                let sink = TextSink::new(detectors, 0, None, true, max_bytes);
                if declared_gzip {
                    Decoder::Gzip(Box::new(MultiGzDecoder::new(sink)))
                } else {
                    Decoder::Undecided(Vec::new(), sink)
                }
            }
            StreamMode::FirstRange { report } => Decoder::Undecided(
                Vec::new(),
                TextSink::new(detectors, 0, Some(report), true, max_bytes),
            ),
            StreamMode::Range { read_start, report } => Decoder::Plain(TextSink::new(
                detectors,
                read_start,
                Some(report),
                false,
                max_bytes,
            )),
        };
        let mut scan = StreamScan {
            decoder: Some(decoder),
            mode,
            raw_bytes: 0,
            max_ratio,
        };
        if let Some(Decoder::Gzip(gz)) = scan.decoder.as_mut() {
            gz.get_mut().max_ratio = Some(max_ratio);
        }
        scan
    }

    /// Hands compressed bytes to the decoder a slice at a time, telling the sink how much
    /// it was given before each, so a bomb is stopped after a bounded amount of work.
    fn inflate(gz: &mut MultiGzDecoder<TextSink>, mut compressed_before: u64, bytes: &[u8]) {
        for slice in bytes.chunks(INFLATE_SLICE) {
            if gz.get_ref().verdict.is_some() {
                return;
            }
            compressed_before += slice.len() as u64;
            gz.get_mut().compressed = compressed_before;
            if gz.write_all(slice).is_err() {
                gz.get_mut().verdict.get_or_insert(Verdict::CorruptGzip);
                return;
            }
        }
    }

    /// Feeds the next raw chunk.
    pub fn push(&mut self, chunk: &[u8]) {
        let before = self.raw_bytes;
        self.raw_bytes += chunk.len() as u64;
        let decoder = match self.decoder.take() {
            Some(Decoder::Undecided(mut head, sink)) => {
                head.extend_from_slice(chunk);
                if head.len() < 2 {
                    Some(Decoder::Undecided(head, sink))
                } else {
                    Some(self.decide(self.raw_bytes - head.len() as u64, head, sink))
                }
            }
            Some(Decoder::Plain(mut sink)) => {
                sink.feed(chunk);
                Some(Decoder::Plain(sink))
            }
            Some(Decoder::Gzip(mut gz)) => {
                Self::inflate(&mut gz, before, chunk);
                Some(Decoder::Gzip(gz))
            }
            other => other,
        };
        self.decoder = decoder;
    }

    /// Decides plain or gzip on the stream's head (`head_at`: raw bytes before it).
    fn decide(&self, head_at: u64, head: Vec<u8>, mut sink: TextSink) -> Decoder {
        if !is_gzip_magic(&head) {
            sink.feed(&head);
            return Decoder::Plain(sink);
        }
        if matches!(self.mode, StreamMode::FirstRange { .. }) {
            sink.verdict = Some(Verdict::NeedsWholeObject);
            return Decoder::Finished(sink);
        }
        sink.max_ratio = Some(self.max_ratio);
        let mut gz = Box::new(MultiGzDecoder::new(sink));
        Self::inflate(&mut gz, head_at, &head);
        Decoder::Gzip(gz)
    }

    /// Raw (for gzip: compressed) bytes pushed so far.
    pub fn raw_bytes(&self) -> u64 {
        self.raw_bytes
    }

    /// True once nothing more will be scanned (binary, too large, corrupt, needs whole).
    pub fn stopped(&self) -> bool {
        self.sink().is_some_and(|s| s.verdict.is_some())
    }

    fn sink(&self) -> Option<&TextSink> {
        match self.decoder.as_ref()? {
            Decoder::Undecided(_, s) | Decoder::Plain(s) | Decoder::Finished(s) => Some(s),
            Decoder::Gzip(gz) => Some(gz.get_ref()),
        }
    }

    /// Detections that are final, with absolute offsets, in offset order.
    pub fn take_ready(&mut self) -> Vec<ContextualDetection> {
        match self.decoder.as_mut() {
            Some(Decoder::Undecided(_, s) | Decoder::Plain(s) | Decoder::Finished(s)) => {
                std::mem::take(&mut s.ready)
            }
            Some(Decoder::Gzip(gz)) => std::mem::take(&mut gz.get_mut().ready),
            None => Vec::new(),
        }
    }

    /// Ends the stream: flushes the decoder and the detectors.
    pub fn finish(&mut self) -> StreamSummary {
        let mut gzip = false;
        match self.decoder.as_mut() {
            Some(Decoder::Undecided(head, sink)) => {
                let head = std::mem::take(head);
                sink.feed(&head);
                sink.finish();
            }
            Some(Decoder::Plain(sink) | Decoder::Finished(sink)) => sink.finish(),
            Some(Decoder::Gzip(gz)) => {
                gzip = true;
                let stopped_early = gz.get_ref().verdict.is_some();
                let flushed = gz.try_finish();
                let sink = gz.get_mut();
                if flushed.is_err() && !stopped_early {
                    sink.verdict = Some(Verdict::CorruptGzip);
                }
                if !matches!(sink.verdict, Some(Verdict::CorruptGzip)) {
                    sink.finish();
                }
            }
            None => {}
        }
        let (verdict, scanned_bytes, capped) = self.sink().map_or((None, 0, Vec::new()), |s| {
            (s.verdict, s.fed, s.capped.clone())
        });
        StreamSummary {
            verdict,
            scanned_bytes,
            raw_bytes: self.raw_bytes,
            gzip,
            capped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;

    const SSN: &str = "536-22-1987";

    fn text_with_ssns_at(len: usize, offsets: &[usize]) -> Vec<u8> {
        let mut text = b"lorem ipsum dolor sit amet ".repeat(len / 27 + 1);
        text.truncate(len);
        for &o in offsets {
            let planted = format!(" SSN {SSN} ");
            text[o..o + planted.len()].copy_from_slice(planted.as_bytes());
        }
        text
    }

    fn run(mode: StreamMode, bytes: &[u8], chunk: usize) -> (Vec<u64>, StreamSummary) {
        let detectors = Detectors::new();
        let mut scan = StreamScan::new(&detectors, mode, u64::MAX);
        let mut found = Vec::new();
        for c in bytes.chunks(chunk) {
            scan.push(c);
            found.extend(scan.take_ready());
        }
        let summary = scan.finish();
        found.extend(scan.take_ready());
        (found.iter().map(|c| c.detection.start).collect(), summary)
    }

    #[test]
    fn given_plain_text_in_tiny_chunks_when_scanned_then_offsets_are_absolute() {
        // given: SSNs planted at known places (" SSN " precedes the number)
        let text = text_with_ssns_at(50_000, &[100, 8_190, 30_001]);
        // when
        let (starts, summary) = run(
            StreamMode::Whole {
                declared_gzip: false,
            },
            &text,
            7,
        );
        // then
        assert_eq!(starts, vec![105, 8_195, 30_006]);
        assert_eq!(summary.verdict, None);
        assert!(!summary.gzip);
    }

    #[test]
    fn given_gzip_when_scanned_then_offsets_are_decompressed_offsets() {
        // given
        let text = text_with_ssns_at(200_000, &[10, 65_530, 199_000]);
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(&text).unwrap();
        let gz = enc.finish().unwrap();
        // when
        let (starts, summary) = run(
            StreamMode::Whole {
                declared_gzip: false,
            },
            &gz,
            1_000,
        );
        // then
        assert_eq!(starts, vec![15, 65_535, 199_005]);
        assert!(summary.gzip);
        assert_eq!(summary.scanned_bytes, 200_000);
    }

    #[test]
    fn given_ranges_when_each_is_scanned_then_every_match_is_reported_by_exactly_one() {
        // given: matches straddling both range boundaries
        let size = 30_000u64;
        let text = text_with_ssns_at(size as usize, &[9_995, 19_998, 25_000]);
        let units = plan_units("big.txt", size, 10_000, u64::MAX);
        assert_eq!(units.len(), 3);
        // when
        let mut all = Vec::new();
        for unit in units.into_iter().flatten() {
            let read_start = unit.start.saturating_sub(RANGE_LEAD_IN);
            let read_end = (unit.end + RANGE_OVERLAP).min(size);
            let mode = if unit.start == 0 {
                StreamMode::FirstRange { report: unit }
            } else {
                StreamMode::Range {
                    read_start,
                    report: unit,
                }
            };
            let (starts, _) = run(mode, &text[read_start as usize..read_end as usize], 333);
            all.extend(starts);
        }
        // then
        assert_eq!(all, vec![10_000, 20_003, 25_005]);
    }

    #[test]
    fn given_binary_bytes_when_scanned_then_it_is_skipped_as_binary() {
        let bytes: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let (starts, summary) = run(
            StreamMode::Whole {
                declared_gzip: false,
            },
            &bytes,
            4_096,
        );
        assert!(starts.is_empty());
        assert_eq!(summary.verdict, Some(Verdict::Binary));
    }

    #[test]
    fn given_a_gzip_first_range_when_scanned_then_the_whole_object_is_needed() {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(b"hello").unwrap();
        let gz = enc.finish().unwrap();
        let report = ByteRange { start: 0, end: 10 };
        let (_, summary) = run(StreamMode::FirstRange { report }, &gz, 1);
        assert_eq!(summary.verdict, Some(Verdict::NeedsWholeObject));
    }

    #[test]
    fn given_a_limit_when_exceeded_then_the_scan_stops_as_too_large() {
        let text = text_with_ssns_at(20_000, &[100, 15_000]);
        let detectors = Detectors::new();
        let mut scan = StreamScan::new(
            &detectors,
            StreamMode::Whole {
                declared_gzip: false,
            },
            10_000,
        );
        scan.push(&text);
        let summary = scan.finish();
        let found: Vec<u64> = scan
            .take_ready()
            .iter()
            .map(|c| c.detection.start)
            .collect();
        assert_eq!(summary.verdict, Some(Verdict::TooLarge));
        assert_eq!(found, vec![105]);
    }

    /// A multi-member gzip of `members` times `block` spaces (text, so not skipped as
    /// binary), compressed once.
    fn space_bomb(block: usize, members: usize) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        enc.write_all(&vec![b' '; block]).unwrap();
        let member = enc.finish().unwrap();
        member.repeat(members)
    }

    #[test]
    fn given_a_gzip_bomb_when_scanned_then_it_stops_at_the_ratio_bound_after_a_bounded_read() {
        // given: 8 MiB of spaces per member, 32 members (256 MiB inflated, ratio over 1,000)
        let bomb = space_bomb(8 * 1024 * 1024, 32);
        let inflated = 256u64 * 1024 * 1024;
        assert!(inflated / bomb.len() as u64 > DEFAULT_MAX_COMPRESSION_RATIO);
        let detectors = Detectors::new();
        let mut scan = StreamScan::new(
            &detectors,
            StreamMode::Whole {
                declared_gzip: false,
            },
            u64::MAX,
        );
        // when: pushed as a body arrives, until the scan stops
        for chunk in bomb.chunks(64 * 1024) {
            scan.push(chunk);
            if scan.stopped() {
                break;
            }
        }
        let summary = scan.finish();
        // then: skipped for its ratio, having read a small part of it and inflated about
        // the grace allowance
        assert_eq!(summary.verdict, Some(Verdict::CompressionRatio));
        assert!(
            summary.raw_bytes <= 128 * 1024,
            "{} raw bytes",
            summary.raw_bytes
        );
        assert!(
            summary.raw_bytes < bomb.len() as u64 / 2,
            "stopped well before the end"
        );
        assert!(summary.scanned_bytes <= RATIO_GRACE_BYTES + 1_100 * INFLATE_SLICE as u64);
    }

    #[test]
    fn given_gzip_under_the_ratio_when_scanned_then_it_is_scanned_whole() {
        // given: the same kind of stream, 32 MiB, with a ratio of 2,000 allowed
        let bomb = space_bomb(8 * 1024 * 1024, 4);
        let detectors = Detectors::new();
        let mut scan = StreamScan::with_max_ratio(
            &detectors,
            StreamMode::Whole {
                declared_gzip: false,
            },
            u64::MAX,
            2_000,
        );
        // when
        for chunk in bomb.chunks(64 * 1024) {
            scan.push(chunk);
        }
        let summary = scan.finish();
        // then: scanned to its end
        assert_eq!(summary.verdict, None);
        assert_eq!(summary.scanned_bytes, 32 * 1024 * 1024);
    }

    #[test]
    fn given_more_matches_than_the_cap_when_scanned_then_the_kind_is_reported_capped() {
        // given: 1,500 SSNs and 10 emails
        let mut text = Vec::new();
        for i in 0..1_500 {
            text.extend_from_slice(format!("row {i} ssn {SSN}\n").as_bytes());
            if i % 150 == 0 {
                text.extend_from_slice(b"mail jane.doe@example.com\n");
            }
        }
        // when
        let (starts, summary) = run(
            StreamMode::Whole {
                declared_gzip: false,
            },
            &text,
            4_096,
        );
        // then: the cap's worth of SSNs, and the kind named as capped; emails are not
        assert_eq!(starts.len(), 1_000 + 10);
        assert_eq!(summary.capped, vec![DetectorKind::UsSsn]);
    }

    #[test]
    fn given_sizes_when_planned_then_small_gzip_and_oversized_objects_are_one_unit() {
        assert_eq!(plan_units("a.txt", 10, 100, 1_000), vec![None]);
        assert_eq!(plan_units("a.gz", 500, 100, 1_000), vec![None]);
        assert_eq!(plan_units("a.txt", 5_000, 100, 1_000), vec![None]);
        let ranges = plan_units("a.txt", 250, 100, 1_000);
        assert_eq!(
            ranges,
            vec![
                Some(ByteRange { start: 0, end: 100 }),
                Some(ByteRange {
                    start: 100,
                    end: 200
                }),
                Some(ByteRange {
                    start: 200,
                    end: 250
                }),
            ]
        );
    }
}
