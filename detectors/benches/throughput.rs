//! Detector throughput on one core over two generated corpora, sparse and dense (both
//! described in `corpus/mod.rs`), and the ratio to ripgrep running one combined regex over the
//! same bytes in the same run.
//!
//! Variants measured (criterion):
//!
//! - `detectors/prefiltered/all`: sparse corpus, `Detectors::new().scan` (SIMD prefilter, then
//!   validation);
//! - `detectors/prefiltered/chunked_64k`: the same through `ChunkScanner` in 64 KiB chunks;
//! - `detectors/prefiltered/chunked_64k_context_40`: the same with a masked context of 40 bytes
//!   either side of each detection, as the object scanner runs it;
//! - `detectors/naive_regex/all`: one regex per detector, each over the whole text, then
//!   validation;
//! - `detectors_dense/objects_64k`: the dense corpus as 64 objects of about 64 KiB (cut at line
//!   ends), each scanned on its own: no kind reaches its cap, so every candidate is validated;
//! - `detectors_dense/chunked_64k_objects_64k`: the same objects through `ChunkScanner`;
//! - `detectors_dense/one_object`: the dense corpus as one object: every kind but the AWS keys
//!   reaches its cap early, after which the capped kinds are no longer validated;
//! - `detectors_dense/naive_regex/objects_64k`: the baseline over the 64 KiB objects.
//!
//! Before criterion runs, the ripgrep comparison: when `rg` is found (`QRIE_RG`, else `rg` on
//! `PATH`; `make bench` finds or installs it with `scripts/ensure_ripgrep.sh`), each corpus is
//! written 16 times over to one file under the target directory and `rg -j1 --count-matches`
//! with [`qrie_detectors::naive::combined_pattern`] is timed over it (median of 5 runs after a
//! warm-up run, process start and reading from the page cache included), against the
//! detectors over the same bytes in memory (median of 5 runs of 16 passes; the dense corpus as
//! its 64 KiB objects, every candidate validated). Without `rg` the comparison is skipped with
//! a note.
//!
//! Run: `cargo bench -p qrie-detectors --bench throughput` (or `make bench`).

mod corpus;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use qrie_detectors::naive::{combined_pattern, NaiveRegexScanner};
use qrie_detectors::{DetectorKind, Detectors};

/// Size of the objects the dense corpus is cut into for the uncapped variants.
const OBJECT_BYTES: usize = 64 * 1024;
/// How many copies of a corpus ripgrep reads, so that its process start is a small share.
const RIPGREP_COPIES: usize = 16;
const TIMED_RUNS: usize = 5;

/// `bytes` cut into pieces of about `size` bytes, each ending at a line end.
fn objects(bytes: &[u8], size: usize) -> Vec<&[u8]> {
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let mut end = (start + size).min(bytes.len());
        while end < bytes.len() && bytes[end - 1] != b'\n' {
            end += 1;
        }
        pieces.push(&bytes[start..end]);
        start = end;
    }
    pieces
}

fn scan_objects(detectors: &Detectors, pieces: &[&[u8]]) -> usize {
    pieces.iter().map(|piece| detectors.scan(piece).len()).sum()
}

fn per_kind(detectors: &Detectors, pieces: &[&[u8]]) -> String {
    let mut counts = [0usize; 6];
    for piece in pieces {
        for detection in detectors.scan(piece) {
            counts[detection.kind.index()] += 1;
        }
    }
    DetectorKind::ALL
        .iter()
        .map(|kind| format!("{kind} {}", counts[kind.index()]))
        .collect::<Vec<_>>()
        .join(", ")
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn gb_per_s(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / time.as_secs_f64() / 1e9
}

/// The `rg` to compare with: `QRIE_RG`, else `rg` on `PATH`, if it runs.
fn find_ripgrep() -> Option<PathBuf> {
    let candidate = std::env::var_os("QRIE_RG")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("rg"));
    let runs = Command::new(&candidate)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    runs.then_some(candidate)
}

fn time_ripgrep(rg: &Path, file: &Path, pattern: &str) -> Option<(Duration, String)> {
    let run = || {
        let started = Instant::now();
        let output = Command::new(rg)
            .args(["--no-config", "-j1", "-a", "--count-matches", "-e", pattern])
            .arg(file)
            .output()
            .ok()?;
        let elapsed = started.elapsed();
        // Exit 1 means no match, which is still a complete search.
        matches!(output.status.code(), Some(0 | 1)).then(|| {
            (
                elapsed,
                String::from_utf8_lossy(&output.stdout).trim().to_string(),
            )
        })
    };
    let (_, matches) = run()?;
    let times = (0..TIMED_RUNS)
        .map(|_| run().map(|(time, _)| time))
        .collect::<Option<Vec<_>>>()?;
    Some((median(times), matches))
}

fn time_detectors(scan: impl Fn() -> usize) -> Duration {
    black_box(scan());
    let times = (0..TIMED_RUNS)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..RIPGREP_COPIES {
                black_box(scan());
            }
            started.elapsed()
        })
        .collect();
    median(times)
}

/// Prints the detectors / ripgrep ratio for one corpus; see the module documentation.
fn compare_with_ripgrep(rg: &Path, name: &str, bytes: &[u8], scan: impl Fn() -> usize) {
    let directory = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("qrie-bench");
    let file = directory.join(format!("{name}_x{RIPGREP_COPIES}.txt"));
    let written = std::fs::create_dir_all(&directory)
        .and_then(|()| std::fs::write(&file, bytes.repeat(RIPGREP_COPIES)));
    if let Err(error) = written {
        eprintln!(
            "ripgrep comparison skipped: cannot write {}: {error}",
            file.display()
        );
        return;
    }
    let total = bytes.len() * RIPGREP_COPIES;
    let Some((rg_time, rg_matches)) = time_ripgrep(rg, &file, &combined_pattern()) else {
        eprintln!(
            "ripgrep comparison skipped: {} failed on {}",
            rg.display(),
            file.display()
        );
        return;
    };
    let detectors_time = time_detectors(&scan);
    let detections = scan() * RIPGREP_COPIES;
    eprintln!(
        "ripgrep comparison, {name} ({total} bytes): detectors {:.2} GB/s ({detections} detections), ripgrep combined regex {:.2} GB/s ({rg_matches} matches), ratio detectors/ripgrep {:.2}",
        gb_per_s(total, detectors_time),
        gb_per_s(total, rg_time),
        rg_time.as_secs_f64() / detectors_time.as_secs_f64(),
    );
    // The file is a generated copy of the corpus; leaving it would only take space.
    let _ = std::fs::remove_file(&file);
}

fn throughput(c: &mut Criterion) {
    let sparse = corpus::sparse();
    let dense = corpus::dense();
    let dense_objects = objects(&dense, OBJECT_BYTES);
    let detectors = Detectors::new();
    let naive = match NaiveRegexScanner::new() {
        Ok(naive) => naive,
        Err(error) => panic!("baseline patterns must compile: {error}"),
    };
    eprintln!(
        "sparse corpus: {} bytes, {} detections (naive baseline: {}); {}",
        sparse.len(),
        detectors.scan(&sparse).len(),
        naive.scan(&sparse).len(),
        per_kind(&detectors, &[&sparse]),
    );
    let capped_objects = dense_objects
        .iter()
        .filter(|piece| !detectors.scan_report(piece).capped.is_empty())
        .count();
    assert_eq!(capped_objects, 0, "no 64 KiB dense object may reach a cap");
    let whole = detectors.scan_report(&dense);
    eprintln!(
        "dense corpus: {} bytes, {} lines; as {} objects of ~64 KiB: {} detections ({}); as one object: {} detections, capped {:?}",
        dense.len(),
        dense.iter().filter(|&&b| b == b'\n').count(),
        dense_objects.len(),
        scan_objects(&detectors, &dense_objects),
        per_kind(&detectors, &dense_objects),
        whole.detections.len(),
        whole.capped,
    );

    match find_ripgrep() {
        Some(rg) => {
            compare_with_ripgrep(&rg, "sparse", &sparse, || detectors.scan(&sparse).len());
            compare_with_ripgrep(&rg, "dense", &dense, || {
                scan_objects(&detectors, &dense_objects)
            });
        }
        None => eprintln!(
            "ripgrep comparison skipped: no rg (set QRIE_RG or put rg on PATH; make bench installs it)"
        ),
    }

    let mut group = c.benchmark_group("detectors");
    group.throughput(Throughput::Bytes(sparse.len() as u64));
    group.sample_size(20);
    group.bench_function("prefiltered/all", |b| {
        b.iter(|| detectors.scan(black_box(&sparse)))
    });
    group.bench_function("prefiltered/chunked_64k", |b| {
        b.iter(|| {
            let mut scanner = detectors.chunk_scanner();
            let mut count = 0;
            for chunk in black_box(&sparse).chunks(64 * 1024) {
                count += scanner.push(chunk).len();
            }
            count + scanner.finish().len()
        })
    });
    group.bench_function("prefiltered/chunked_64k_context_40", |b| {
        b.iter(|| {
            let mut scanner = detectors.chunk_scanner_with_context(40);
            let mut bytes = 0;
            for chunk in black_box(&sparse).chunks(64 * 1024) {
                bytes += scanner
                    .push_with_context(chunk)
                    .iter()
                    .map(|c| c.context.len())
                    .sum::<usize>();
            }
            bytes
                + scanner
                    .finish_with_context()
                    .iter()
                    .map(|c| c.context.len())
                    .sum::<usize>()
        })
    });
    group.bench_function("naive_regex/all", |b| {
        b.iter(|| naive.scan(black_box(&sparse)))
    });
    group.finish();

    let mut group = c.benchmark_group("detectors_dense");
    group.throughput(Throughput::Bytes(dense.len() as u64));
    group.sample_size(20);
    group.bench_function("objects_64k", |b| {
        b.iter(|| scan_objects(&detectors, black_box(&dense_objects)))
    });
    group.bench_function("chunked_64k_objects_64k", |b| {
        b.iter(|| {
            black_box(&dense_objects)
                .iter()
                .map(|piece| {
                    let mut scanner = detectors.chunk_scanner();
                    let pushed = scanner.push(piece).len();
                    pushed + scanner.finish().len()
                })
                .sum::<usize>()
        })
    });
    group.bench_function("one_object", |b| {
        b.iter(|| detectors.scan(black_box(&dense)))
    });
    group.bench_function("naive_regex/objects_64k", |b| {
        b.iter(|| {
            black_box(&dense_objects)
                .iter()
                .map(|piece| naive.scan(piece).len())
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
