//! Detector throughput on one core over a realistic mixed text corpus.
//!
//! The corpus (about 4 MiB) is generated deterministically at start: application log lines,
//! CSV rows, JSON records and prose, with a sparse density of real matches (about one per
//! 3 KiB) and as many decoys (Luhn-invalid numbers, invalid SSN areas, IAM entity IDs, hex
//! digests, `logo@2x.png`). Variants measured in the same run:
//!
//! - `prefiltered/all`: `Detectors::new().scan` (SIMD prefilter, then validation);
//! - `prefiltered/chunked_64k`: the same through `ChunkScanner` in 64 KiB chunks;
//! - `prefiltered/chunked_64k_context_40`: the same with a masked context of 40 bytes either
//!   side of each detection, as the object scanner runs it;
//! - `naive_regex/all`: one regex per detector, each over the whole text, then validation.
//!
//! Run: `cargo bench -p qrie-detectors --bench throughput`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use qrie_detectors::naive::NaiveRegexScanner;
use qrie_detectors::Detectors;

/// Corpus size target in bytes.
const CORPUS_BYTES: usize = 4 * 1024 * 1024;

/// Small deterministic generator (xorshift64*), so every run scans the same bytes.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn digits(&mut self, count: usize) -> String {
        (0..count)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }

    fn hex(&mut self, count: usize) -> String {
        (0..count)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }
}

const WORDS: [&str; 24] = [
    "the",
    "account",
    "request",
    "service",
    "latency",
    "customer",
    "order",
    "shipped",
    "invoice",
    "region",
    "bucket",
    "policy",
    "review",
    "quarterly",
    "report",
    "team",
    "meeting",
    "network",
    "résumé",
    "café",
    "delivery",
    "support",
    "billing",
    "update",
];
const NAMES: [&str; 8] = [
    "Jane Doe",
    "John Smith",
    "Åsa Laine",
    "Carlos Núñez",
    "Mei Chen",
    "Olu Adeyemi",
    "Priya Patel",
    "Luca Rossi",
];
const CITIES: [&str; 6] = ["Seattle", "Zürich", "São Paulo", "Lyon", "Osaka", "Austin"];

/// A real match (about half) or a decoy, as it would appear inside a record.
fn sensitive_or_decoy(random: &mut Random) -> String {
    match random.below(14) {
        0 => "ssn 536-22-1987".to_string(),
        1 => "card 4539 1488 0343 6467".to_string(),
        2 => "cc=5425233430109903".to_string(),
        3 => "phone (415) 555-0132".to_string(),
        4 => "email jane.doe@example.com".to_string(),
        5 => "aws_access_key_id=AKIAZ7VRSQ5TJN2K4LMB aws_secret_access_key=Zk3xQ9vW2mN7pL4rT8yB1cD6fG0hJ5kM9nP2qR7s".to_string(),
        6 => "call 202-555-0178".to_string(),
        7 => "id 000-12-3456".to_string(),
        8 => format!("ref {}", random.digits(16)),
        9 => "principal AIDAZ7VRSQ5TJN2K4LMB".to_string(),
        10 => format!("sha1 {}", random.hex(40)),
        11 => "img logo@2x.png".to_string(),
        12 => "key AKIAIOSFODNN7EXAMPLE".to_string(),
        _ => format!("order {}", random.digits(10)),
    }
}

fn log_line(random: &mut Random, out: &mut String) {
    out.push_str(&format!(
        "2024-{:02}-{:02}T{:02}:{:02}:{:02}.{}Z INFO [{}] request_id={}-{}-{}-{}-{} ip=10.{}.{}.{} method=GET path=/api/v1/{}/{} status={} bytes={} latency_ms={} ua=\"Mozilla/5.0 (X11; Linux x86_64)\"\n",
        random.below(12) + 1,
        random.below(28) + 1,
        random.below(24),
        random.below(60),
        random.below(60),
        random.digits(3),
        random.pick(&["api", "worker", "auth"]),
        random.hex(8),
        random.hex(4),
        random.hex(4),
        random.hex(4),
        random.hex(12),
        random.below(256),
        random.below(256),
        random.below(256),
        random.pick(&WORDS),
        random.below(100_000),
        random.pick(&["200", "200", "204", "304", "404", "500"]),
        random.below(1_000_000),
        random.below(2_000),
    ));
}

fn csv_row(random: &mut Random, out: &mut String) {
    out.push_str(&format!(
        "{},{},{},{}.{:02},2023-{:02}-{:02},{},{}\n",
        random.below(10_000_000),
        random.pick(&NAMES),
        random.pick(&CITIES),
        random.below(10_000),
        random.below(100),
        random.below(12) + 1,
        random.below(28) + 1,
        random.digits(5),
        random.pick(&WORDS),
    ));
}

fn json_record(random: &mut Random, out: &mut String) {
    out.push_str(&format!(
        "{{\"eventTime\":\"2024-03-{:02}T10:{:02}:00Z\",\"eventName\":\"{}\",\"awsRegion\":\"us-east-1\",\"sourceIPAddress\":\"192.0.2.{}\",\"userIdentity\":{{\"accountId\":\"{}\",\"arn\":\"arn:aws:iam::{}:user/{}\"}},\"requestID\":\"{}\"}}\n",
        random.below(28) + 1,
        random.below(60),
        random.pick(&["GetObject", "PutObject", "ListBuckets", "AssumeRole"]),
        random.below(256),
        random.digits(12),
        random.digits(12),
        random.pick(&WORDS),
        random.hex(32),
    ));
}

fn prose(random: &mut Random, out: &mut String) {
    let words = 40 + random.below(60);
    for i in 0..words {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(random.pick(&WORDS));
    }
    out.push_str(".\n");
}

/// The deterministic mixed corpus; see the module documentation.
fn build_corpus() -> Vec<u8> {
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    let mut out = String::with_capacity(CORPUS_BYTES + 4096);
    let mut next_sensitive = 0usize;
    while out.len() < CORPUS_BYTES {
        match random.below(4) {
            0 => log_line(&mut random, &mut out),
            1 => csv_row(&mut random, &mut out),
            2 => json_record(&mut random, &mut out),
            _ => prose(&mut random, &mut out),
        }
        if out.len() >= next_sensitive {
            out.push_str(&sensitive_or_decoy(&mut random));
            out.push('\n');
            next_sensitive = out.len() + 1_024 + random.below(2_048) as usize;
        }
    }
    out.into_bytes()
}

fn throughput(c: &mut Criterion) {
    let corpus = build_corpus();
    let detectors = Detectors::new();
    let naive = match NaiveRegexScanner::new() {
        Ok(naive) => naive,
        Err(error) => panic!("baseline patterns must compile: {error}"),
    };
    let found = detectors.scan(&corpus).len();
    let naive_found = naive.scan(&corpus).len();
    eprintln!(
        "corpus: {} bytes, {found} detections (naive baseline: {naive_found})",
        corpus.len()
    );

    let mut group = c.benchmark_group("detectors");
    group.throughput(Throughput::Bytes(corpus.len() as u64));
    group.sample_size(20);
    group.bench_function("prefiltered/all", |b| {
        b.iter(|| detectors.scan(black_box(&corpus)))
    });
    group.bench_function("prefiltered/chunked_64k", |b| {
        b.iter(|| {
            let mut scanner = detectors.chunk_scanner();
            let mut count = 0;
            for chunk in black_box(&corpus).chunks(64 * 1024) {
                count += scanner.push(chunk).len();
            }
            count + scanner.finish().len()
        })
    });
    group.bench_function("prefiltered/chunked_64k_context_40", |b| {
        b.iter(|| {
            let mut scanner = detectors.chunk_scanner_with_context(40);
            let mut bytes = 0;
            for chunk in black_box(&corpus).chunks(64 * 1024) {
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
        b.iter(|| naive.scan(black_box(&corpus)))
    });
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
