//! Chunked scanning must report exactly what a one-shot scan reports, wherever the chunk
//! boundaries fall, with absolute offsets, bounded memory and the per-kind cap.

use qrie_detectors::{
    masked_context, max_retained_bytes, ChunkScanner, Detection, DetectorKind, Detectors,
    MAX_DETECTIONS_PER_KIND,
};

const SECRET: &str = "Zk3xQ9vW2mN7pL4rT8yB1cD6fG0hJ5kM9nP2qR7s";

/// A few kilobytes with every kind of match, decoys, multi-byte text and matches close
/// together, so that every boundary case (inside a match, inside a keyword, between a key ID
/// and its secret) is hit by some split.
fn mixed_text() -> String {
    let mut text = String::new();
    text.push_str(
        "2024-01-15T12:34:56Z INFO request_id=550e8400-e29b-41d4-a716-446655440000 status=200\n",
    );
    text.push_str("Crème brûlée, façade, Zürich — naïve café. 東京 ");
    text.push_str("ssn 536-22-1987, card 4539 1488 0343 6467, phone (202) 555-0143\n");
    text.push_str("aws_access_key_id = AKIAZ7VRSQ5TJN2K4LMB\naws_secret_access_key = ");
    text.push_str(SECRET);
    text.push('\n');
    text.push_str(&"padding line with numbers 12 345 6789 and 2024-02-03 and 10.0.0.1\n".repeat(8));
    text.push_str("mail jane.doe@example.com,logo@2x.png,bob@mail.example.co.uk;");
    text.push_str(
        "decoys 000-12-3456 4111111111111111 AKIAIOSFODNN7EXAMPLE AIDAZ7VRSQ5TJN2K4LMB\n",
    );
    text.push_str("AKIAQWERTY234567ZXCV,");
    text.push_str(SECRET);
    text.push_str("\nFax: 9498777106 and +1 415 555 0199x12, cc 503802053770\n");
    text.push_str(&"é lorem ipsum dolor sit amet 4242 ".repeat(20));
    text.push_str("\nsocial security number: 536221987 end; 5425233430109903.");
    text
}

fn stream(detectors: &Detectors, chunks: &[&[u8]]) -> Vec<Detection> {
    let mut scanner: ChunkScanner = detectors.chunk_scanner();
    let mut found = Vec::new();
    for chunk in chunks {
        found.extend(scanner.push(chunk));
    }
    found.extend(scanner.finish());
    found
}

#[test]
fn given_mixed_text_when_scanned_once_then_every_kind_is_found() {
    let text = mixed_text();
    let found = Detectors::new().scan(text.as_bytes());
    for kind in DetectorKind::ALL {
        assert!(
            found.iter().any(|d| d.kind == kind),
            "{kind} missing: {found:?}"
        );
    }
    assert!(found.windows(2).all(|pair| pair[0].end <= pair[1].start));
}

#[test]
fn given_text_split_in_two_at_every_byte_when_streamed_then_same_as_one_shot() {
    let text = mixed_text();
    let bytes = text.as_bytes();
    let detectors = Detectors::new();
    let expected = detectors.scan(bytes);
    for split in 0..=bytes.len() {
        let (left, right) = bytes.split_at(split);
        assert_eq!(
            stream(&detectors, &[left, right]),
            expected,
            "split at {split}"
        );
    }
}

#[test]
fn given_text_split_in_three_when_streamed_then_same_as_one_shot() {
    let text = mixed_text();
    let bytes = text.as_bytes();
    let detectors = Detectors::new();
    let expected = detectors.scan(bytes);
    let step = 7;
    for first in (0..bytes.len()).step_by(step) {
        for second in (first..=bytes.len()).step_by(61) {
            let chunks = [&bytes[..first], &bytes[first..second], &bytes[second..]];
            assert_eq!(
                stream(&detectors, &chunks),
                expected,
                "splits {first}, {second}"
            );
        }
    }
}

#[test]
fn given_small_fixed_chunk_sizes_when_streamed_then_same_as_one_shot() {
    let text = mixed_text().repeat(3);
    let bytes = text.as_bytes();
    let detectors = Detectors::new();
    let expected = detectors.scan(bytes);
    for size in [1, 2, 3, 5, 16, 63, 64, 65, 255, 1000] {
        let chunks: Vec<&[u8]> = bytes.chunks(size).collect();
        assert_eq!(stream(&detectors, &chunks), expected, "chunk size {size}");
    }
}

#[test]
fn given_context_radius_when_streamed_then_contexts_match_one_shot_and_hide_raw_values() {
    let text = mixed_text();
    let bytes = text.as_bytes();
    let detectors = Detectors::new();
    let expected = detectors.scan(bytes);
    for radius in [0, 12, 40] {
        for size in [1, 17, 300, bytes.len()] {
            let mut scanner = detectors.chunk_scanner_with_context(radius);
            let mut found = Vec::new();
            for chunk in bytes.chunks(size) {
                found.extend(scanner.push_with_context(chunk));
            }
            found.extend(scanner.finish_with_context());
            assert_eq!(found.len(), expected.len());
            for (got, want) in found.iter().zip(&expected) {
                assert_eq!(&got.detection, want);
                let one_shot = masked_context(bytes, want, &expected, radius);
                assert_eq!(got.context, one_shot, "radius {radius} size {size}");
                for raw in [
                    "536-22",
                    "4539 1488",
                    "555-0143",
                    "AKIAZ7VRSQ",
                    SECRET,
                    "jane.doe@",
                ] {
                    assert!(
                        !got.context.contains(raw),
                        "{raw} leaked in {}",
                        got.context
                    );
                }
            }
        }
    }
}

#[test]
fn given_large_object_when_streamed_then_memory_stays_bounded_and_offsets_absolute() {
    let detectors = Detectors::with_kinds(&[DetectorKind::UsSsn, DetectorKind::Email]);
    let line = "user 536-22-1987 wrote to jane@example.com about nothing in particular\n";
    let chunk = line.repeat(1_000);
    let mut scanner = detectors.chunk_scanner_with_context(64);
    let mut last_end = 0;
    let mut count = 0u64;
    for _ in 0..40 {
        for found in scanner.push_with_context(chunk.as_bytes()) {
            assert!(found.detection.start >= last_end);
            last_end = found.detection.end;
            count += 1;
        }
        assert!(
            scanner.retained_bytes() <= max_retained_bytes(64),
            "retained {}",
            scanner.retained_bytes()
        );
    }
    assert_eq!(scanner.bytes_seen(), 40 * chunk.len() as u64);
    let report = scanner.finish_report();
    assert_eq!(
        count + report.detections.len() as u64,
        2 * u64::from(MAX_DETECTIONS_PER_KIND)
    );
    assert_eq!(
        report.capped,
        vec![DetectorKind::UsSsn, DetectorKind::Email]
    );
}

#[test]
fn given_more_than_the_cap_when_scanned_once_then_capped_is_reported() {
    let text = "ssn 536-22-1987\n".repeat(1_200);
    let report = Detectors::new().scan_report(text.as_bytes());
    assert_eq!(report.detections.len(), 1_000);
    assert_eq!(report.capped, vec![DetectorKind::UsSsn]);
    let few = Detectors::new().scan_report("ssn 536-22-1987\n".repeat(10).as_bytes());
    assert!(few.capped.is_empty());
}

#[test]
fn given_kinds_capped_mid_object_when_scanned_in_chunks_then_the_result_is_the_one_shot_result() {
    // given: SSNs past the cap early, emails and phones that never reach it, interleaved
    let mut text = String::new();
    for i in 0..1_500 {
        text.push_str(&format!(
            "row {i} ssn {:03}-{:02}-{:04}\n",
            100 + i % 500,
            10 + i % 80,
            1_000 + i
        ));
        if i % 3 == 0 {
            text.push_str(&format!(
                "mail user{i}@example.com call (415) 555-{:04}\n",
                i
            ));
        }
    }
    let detectors = Detectors::new();
    let whole = detectors.scan_report(text.as_bytes());
    assert_eq!(whole.capped, vec![DetectorKind::UsSsn]);
    assert_eq!(
        whole
            .detections
            .iter()
            .filter(|d| d.kind == DetectorKind::Email)
            .count(),
        500
    );
    // when / then: chunked, with and without contexts, whatever the chunk size
    for chunk_size in [7, 1_000, 4_096, 65_536] {
        let mut scanner = detectors.chunk_scanner();
        let mut found = Vec::new();
        for chunk in text.as_bytes().chunks(chunk_size) {
            found.extend(scanner.push(chunk));
        }
        let report = scanner.finish_report();
        found.extend(report.detections);
        assert_eq!(found, whole.detections, "chunks of {chunk_size}");
        assert_eq!(report.capped, whole.capped, "chunks of {chunk_size}");

        let mut scanner = detectors.chunk_scanner_with_context(40);
        let mut found = Vec::new();
        for chunk in text.as_bytes().chunks(chunk_size) {
            found.extend(
                scanner
                    .push_with_context(chunk)
                    .into_iter()
                    .map(|c| c.detection),
            );
        }
        found.extend(
            scanner
                .finish_with_context()
                .into_iter()
                .map(|c| c.detection),
        );
        assert_eq!(found, whole.detections, "chunks of {chunk_size}, contexts");
    }
}
