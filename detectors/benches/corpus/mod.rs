//! The two corpora the throughput bench scans, generated deterministically (seeded xorshift),
//! so every run and every machine scans the same bytes. Shared with nothing outside the bench.
//!
//! - [`sparse`] (about 4 MiB): application log lines, CSV rows, CloudTrail-like JSON records and
//!   prose, with one real match or decoy every 1 to 3 KiB (Luhn-invalid numbers, invalid SSN
//!   areas, IAM entity IDs, hex digests, `logo@2x.png`): most bytes are numbers and words that
//!   are never sensitive, the shape of ordinary logs.
//! - [`dense`] (about 4 MiB): the export the object scanner exists for, where most lines carry
//!   an SSN-shaped reference, a card-like number, an email or a phone. A CSV header, then lines
//!   drawn 4 in 10 CSV customer rows (`id,name,city,value,value2,amount,date`), 4 in 10
//!   billing log lines (timestamp, request ID, `ssn=`/`card=`/`email=`/`phone=` fields, amount,
//!   status, latency) and 2 in 10 JSON records. 9 lines in 10 carry a value, 1 in 10 of those
//!   two; a value is SSN-shaped 3 times in 10, card-like 3, an email 2.5 and a phone 1.5.
//!   Values are random, valid and invalid mixed: SSN-shaped references are 6 in 10 valid
//!   (area, group and serial rules), the rest area 000, 666 or 9xx, group 00 or serial 0000,
//!   1 in 10 written as nine bare digits (an SSN only after the `ssn` keyword of log and JSON
//!   lines); card-like numbers carry Visa, Mastercard, Amex, Discover or JCB prefixes, one in
//!   three with a correct Luhn digit and the rest a random one (so 6 in 10 fail Luhn), bare or
//!   in spaced or dashed groups; phones are NANP-shaped in four layouts, 4 in 10 with an
//!   exchange starting 0 or 1 (invalid); emails are 9 in 10 real addresses, the rest
//!   `name@localhost` or `icon@2x.png`. A 64 KiB slice holds fewer than 1,000 detections of
//!   each kind, the whole corpus far more.

/// Size target of each corpus in bytes.
pub const CORPUS_BYTES: usize = 4 * 1024 * 1024;

/// Small deterministic generator (xorshift64*), so every run scans the same bytes.
pub struct Random(pub u64);

impl Random {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    pub fn digits(&mut self, count: usize) -> String {
        (0..count)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }

    pub fn hex(&mut self, count: usize) -> String {
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

/// The sparse corpus: mixed text with one real match or decoy every 1 to 3 KiB.
pub fn sparse() -> Vec<u8> {
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

const FIRST_NAMES: [&str; 10] = [
    "jane", "john", "asa", "carlos", "mei", "olu", "priya", "luca", "fatima", "noah",
];
const LAST_NAMES: [&str; 10] = [
    "doe", "smith", "laine", "nunez", "chen", "adeyemi", "patel", "rossi", "haddad", "berg",
];
const DOMAINS: [&str; 6] = [
    "example.com",
    "mail.example.org",
    "corp.example.net",
    "example.co.uk",
    "shop.example.io",
    "example.de",
];

/// An SSN-shaped reference: 6 in 10 valid, the rest breaking one SSA rule.
fn ssn_like(random: &mut Random) -> String {
    let mut area = 1 + random.below(899);
    if area == 666 {
        area = 665;
    }
    let mut group = 1 + random.below(99);
    let mut serial = 1 + random.below(9_999);
    match random.below(10) {
        6 => area = 900 + random.below(100),
        7 => area = 666,
        8 => area = 0,
        9 if random.below(2) == 0 => group = 0,
        9 => serial = 0,
        _ => {}
    }
    match random.below(10) {
        0 => format!("{area:03}{group:02}{serial:04}"),
        1 => format!("{area:03} {group:02} {serial:04}"),
        2 => format!("{area:03}.{group:02}.{serial:04}"),
        _ => format!("{area:03}-{group:02}-{serial:04}"),
    }
}

/// Luhn check digit for `body` (the digits before it).
fn luhn_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let value = u32::from(d - b'0');
            if i % 2 == 0 {
                let doubled = value * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                value
            }
        })
        .sum();
    b'0' + ((10 - sum % 10) % 10) as u8
}

/// A card-like number: issuer prefix, one in three with a correct Luhn digit.
fn card_like(random: &mut Random) -> String {
    let prefix = random.pick(&["4", "4", "51", "53", "55", "2221", "37", "6011", "65", "35"]);
    let length = if prefix == "37" { 15 } else { 16 };
    let mut digits: Vec<u8> = prefix.bytes().collect();
    while digits.len() < length - 1 {
        digits.push(b'0' + random.below(10) as u8);
    }
    let check = if random.below(3) == 0 {
        luhn_digit(&digits)
    } else {
        b'0' + random.below(10) as u8
    };
    digits.push(check);
    let text = String::from_utf8(digits).unwrap_or_default();
    let groups: &[usize] = if length == 15 {
        &[4, 6, 5]
    } else {
        &[4, 4, 4, 4]
    };
    match random.below(10) {
        0..=5 => text,
        layout => {
            let separator = if layout < 9 { " " } else { "-" };
            let mut grouped = String::new();
            let mut at = 0;
            for (i, size) in groups.iter().enumerate() {
                if i > 0 {
                    grouped.push_str(separator);
                }
                grouped.push_str(&text[at..at + size]);
                at += size;
            }
            grouped
        }
    }
}

/// A NANP-shaped phone number; 4 in 10 with an invalid exchange.
fn phone_like(random: &mut Random) -> String {
    let area = 200 + random.below(800);
    let exchange = if random.below(10) < 4 {
        random.below(200)
    } else {
        200 + random.below(800)
    };
    let line = random.below(10_000);
    match random.below(4) {
        0 => format!("({area}) {exchange:03}-{line:04}"),
        1 => format!("{area}-{exchange:03}-{line:04}"),
        2 => format!("{area}.{exchange:03}.{line:04}"),
        _ => format!("+1 {area} {exchange:03} {line:04}"),
    }
}

/// An email address, 1 in 10 a lookalike that is not one.
fn email_like(random: &mut Random) -> String {
    let first = random.pick(&FIRST_NAMES);
    let last = random.pick(&LAST_NAMES);
    match random.below(10) {
        0 => {
            if random.below(2) == 0 {
                format!("{first}@localhost")
            } else {
                "icon@2x.png".to_string()
            }
        }
        _ => format!(
            "{first}.{last}{}@{}",
            random.below(100),
            random.pick(&DOMAINS)
        ),
    }
}

/// One sensitive-shaped value, with the field name a record would give it.
fn value(random: &mut Random) -> (&'static str, String) {
    match random.below(20) {
        0..=5 => ("ssn", ssn_like(random)),
        6..=11 => ("card", card_like(random)),
        12..=16 => ("email", email_like(random)),
        _ => ("phone", phone_like(random)),
    }
}

/// The values of one line: none (1 in 10), one, or two (1 in 10 of those that carry one).
fn line_values(random: &mut Random) -> Vec<(&'static str, String)> {
    match random.below(10) {
        0 => Vec::new(),
        _ if random.below(10) == 0 => vec![value(random), value(random)],
        _ => vec![value(random)],
    }
}

fn dense_csv_row(random: &mut Random, out: &mut String) {
    let id = 100_000 + random.below(900_000);
    let first = random.pick(&FIRST_NAMES);
    let last = random.pick(&LAST_NAMES);
    let city = random.pick(&CITIES);
    let values = line_values(random);
    let mut fields: Vec<String> = values.into_iter().map(|(_, v)| v).collect();
    fields.resize(2, String::new());
    out.push_str(&format!(
        "{id},{first} {last},{city},{},{},{}.{:02},2024-{:02}-{:02}\n",
        fields[0],
        fields[1],
        random.below(5_000),
        random.below(100),
        random.below(12) + 1,
        random.below(28) + 1,
    ));
}

fn dense_log_line(random: &mut Random, out: &mut String) {
    out.push_str(&format!(
        "2024-{:02}-{:02}T{:02}:{:02}:{:02}.{}Z INFO [billing] request_id={}",
        random.below(12) + 1,
        random.below(28) + 1,
        random.below(24),
        random.below(60),
        random.below(60),
        random.digits(3),
        random.hex(8),
    ));
    for (name, value) in line_values(random) {
        out.push_str(&format!(" {name}={value}"));
    }
    out.push_str(&format!(
        " amount={}.{:02} status={} latency_ms={}\n",
        random.below(5_000),
        random.below(100),
        random.pick(&["200", "200", "201", "402", "500"]),
        random.below(2_000),
    ));
}

fn dense_json_record(random: &mut Random, out: &mut String) {
    out.push_str(&format!(
        "{{\"ts\":\"2024-03-{:02}T10:{:02}:00Z\",\"customer\":\"{} {}\"",
        random.below(28) + 1,
        random.below(60),
        random.pick(&FIRST_NAMES),
        random.pick(&LAST_NAMES),
    ));
    for (name, value) in line_values(random) {
        out.push_str(&format!(",\"{name}\":\"{value}\""));
    }
    out.push_str(&format!(
        ",\"amount\":{}.{:02}}}\n",
        random.below(5_000),
        random.below(100),
    ));
}

/// The dense corpus; see the module documentation.
pub fn dense() -> Vec<u8> {
    let mut random = Random(0xD1B5_4A32_D192_ED03);
    let mut out = String::with_capacity(CORPUS_BYTES + 4096);
    out.push_str("customer_id,name,city,value,value2,amount,date\n");
    while out.len() < CORPUS_BYTES {
        match random.below(10) {
            0..=3 => dense_csv_row(&mut random, &mut out),
            4..=7 => dense_log_line(&mut random, &mut out),
            _ => dense_json_record(&mut random, &mut out),
        }
    }
    out.into_bytes()
}
