//! Property tests of the masked contexts, as an attacker would read them: generated texts mix
//! real detections with values the detectors do not report (secrets after `token`, bare
//! nine-digit numbers, cards written with dots, dashes or spaces, key IDs broken by separators,
//! random API tokens, passwords in every notation, addresses), and every context of every
//! detection, alone or put together with all the others of its text, must show no digit
//! beyond the detections' own masks and no 4-byte piece of any planted value.
//!
//! The generator is a fixed-seed xorshift, so every run checks the same cases; a failure
//! names its case number.

use std::collections::BTreeSet;

use qrie_detectors::{masked_context, Detection, Detectors};

/// Cases generated per property.
const CASES: u64 = 600;

/// Small deterministic generator (xorshift64*).
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn string_of(&mut self, alphabet: &[u8], count: usize) -> String {
        (0..count)
            .map(|_| char::from(alphabet[self.below(alphabet.len())]))
            .collect()
    }
}

const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE62: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const HEX: &[u8] = b"0123456789abcdef";
const DIGITS: &[u8] = b"0123456789";
const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";

const WORDS: [&str; 20] = [
    "the", "customer", "record", "was", "updated", "by", "support", "Jane", "note", "invoice",
    "and", "Zürich", "café", "shipped", "order", "status", "value", "see", "ticket", "東京",
];
const GAPS: [&str; 7] = [" ", " ", ", ", "\n", "\t", "; ", " | "];

/// Values the detectors report, so that contexts exist (each masks itself).
const DETECTED: [&str; 8] = [
    "ssn 536-22-1987",
    "SSN: 078-05-1121",
    "card 4539 1488 0343 6467",
    "4539148803436467",
    "jane.doe@example.com",
    "phone (202) 555-0143",
    "AKIAZ7VRSQ5TJN2K4LMB",
    "aws_secret_access_key = Zk3xQ9vW2mN7pL4rT8yB1cD6fG0hJ5kM9nP2qR7s",
];

/// One generated text: its bytes and the planted values no piece of which may show.
struct Case {
    text: String,
    secrets: Vec<String>,
}

/// A value no detector reports, as written in the text, and the part of it that is secret.
fn undetected_value(random: &mut Random) -> (String, String) {
    match random.below(10) {
        0 => {
            let secret = random.string_of(BASE64, 40);
            let (open, close) = [
                (" ", ""),
                ("=", ""),
                (": ", ""),
                ("\t", ""),
                ("=\"", "\""),
                (" is ", ""),
            ][random.below(6)];
            (format!("token{open}{secret}{close}"), secret)
        }
        1 => {
            let number = random.string_of(DIGITS, 9);
            (number.clone(), number)
        }
        2 => {
            let groups: Vec<String> = (0..4).map(|_| random.string_of(DIGITS, 4)).collect();
            let sep = random.pick(&[".", "-", " ", " . ", "/", "_"]);
            let card = groups.join(sep);
            (card, groups.concat())
        }
        3 => {
            let mut suffix = random.string_of(BASE32, 16);
            let digit = char::from(b"234567"[random.below(6)]);
            let at = random.below(16);
            suffix.replace_range(at..=at, &digit.to_string());
            let prefix = random.pick(&["AKIA", "ASIA"]);
            let mut written = prefix.to_string();
            for (i, c) in suffix.chars().enumerate() {
                if i > 0 && random.below(4) == 0 {
                    written.push_str(random.pick(&[" ", "-", "\n", " - ", "\\n", "\" + \""]));
                }
                written.push(c);
            }
            (written, suffix)
        }
        4 => {
            let secret = match random.below(3) {
                0 => random.string_of(BASE64, 40),
                1 => random.string_of(HEX, 40),
                _ => format!("ghp_{}", random.string_of(BASE62, 36)),
            };
            (secret.clone(), secret)
        }
        5 => {
            let password = format!(
                "{}{}",
                random.string_of(LOWER, 6),
                random.string_of(DIGITS, 2)
            );
            let written = match random.below(6) {
                0 => format!("password={password}"),
                1 => format!("\"password\": \"{password}\""),
                2 => format!("DB_PASSWORD: {password}"),
                3 => format!("<secret>{password}</secret>"),
                4 => format!("--password {password}"),
                _ => format!("postgres://app:{password}@db.example.com/app"),
            };
            (written, password)
        }
        6 => {
            let local = random.string_of(LOWER, 10);
            let written = format!("{local}@mail.example.org");
            (written, local[1..].to_string())
        }
        7 => {
            let secret = random.string_of(BASE64, 40);
            let half = 20;
            let sep = random.pick(&["\n", " ", "-"]);
            (
                format!("token {}{sep}{}", &secret[..half], &secret[half..]),
                secret,
            )
        }
        8 => {
            // A token broken into pieces of 8, each mixing cases and digits as most random
            // pieces do (pieces with no digit, or in one case, are a known limit).
            let pieces: Vec<String> = (0..5)
                .map(|_| {
                    let mut piece = format!(
                        "{}{}{}{}",
                        random.string_of(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 1),
                        random.string_of(DIGITS, 1),
                        random.string_of(LOWER, 1),
                        random.string_of(BASE62, 5)
                    )
                    .into_bytes();
                    piece.rotate_left(random.below(8));
                    String::from_utf8_lossy(&piece).into_owned()
                })
                .collect();
            let written = pieces.join(" ");
            (written.clone(), written)
        }
        _ => {
            let number = random.string_of(DIGITS, 12);
            (format!("account {number}"), number)
        }
    }
}

fn generate(seed: u64) -> Case {
    let mut random = Random(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut text = String::new();
    let mut secrets = Vec::new();
    let items = 4 + random.below(10);
    for _ in 0..items {
        for _ in 0..random.below(4) {
            text.push_str(random.pick(&WORDS));
            text.push(' ');
        }
        if random.below(3) == 0 {
            text.push_str(random.pick(&DETECTED));
        } else {
            let (written, secret) = undetected_value(&mut random);
            text.push_str(&written);
            secrets.push(secret);
        }
        text.push_str(random.pick(&GAPS));
    }
    text.push_str(random.pick(&DETECTED));
    Case { text, secrets }
}

/// Contexts of every detection, from a one-shot scan and through a chunk scanner with
/// `chunk` bytes at a time; asserts both agree.
fn contexts_of(text: &str, radius: usize, chunk: usize) -> (Vec<Detection>, Vec<String>) {
    let bytes = text.as_bytes();
    let detectors = Detectors::new();
    let detections = detectors.scan(bytes);
    let one_shot: Vec<String> = detections
        .iter()
        .map(|d| masked_context(bytes, d, &detections, radius))
        .collect();
    let mut scanner = detectors.chunk_scanner_with_context(radius);
    let mut streamed = Vec::new();
    for piece in bytes.chunks(chunk) {
        streamed.extend(scanner.push_with_context(piece));
    }
    streamed.extend(scanner.finish_with_context());
    let streamed: Vec<String> = streamed.into_iter().map(|c| c.context).collect();
    assert_eq!(streamed, one_shot, "chunked contexts differ from one-shot");
    (detections, one_shot)
}

/// 4-byte pieces of `text`.
fn pieces(text: &str) -> BTreeSet<&[u8]> {
    text.as_bytes().windows(4).collect()
}

#[test]
fn given_generated_texts_when_every_context_read_then_no_digit_and_no_piece_of_a_planted_value_shows(
) {
    let mut contexts_checked = 0;
    for case_number in 0..CASES {
        // given
        let case = generate(case_number);
        let radius = [8, 20, 40, 64, 200][case_number as usize % 5];
        let chunk = [1, 7, 64, 4096][case_number as usize % 4];
        // when
        let (detections, contexts) = contexts_of(&case.text, radius, chunk);
        // then: what the masks themselves show, and what the text shows outside the planted
        // values, is not evidence of a leak
        let mut benign = case.text.clone();
        for secret in &case.secrets {
            benign = benign.replace(secret.as_str(), " ");
        }
        let mut shown_anyway = pieces(&benign);
        for d in &detections {
            shown_anyway.extend(pieces(&d.masked));
        }
        let joined = contexts.join(" | ");
        for context in contexts.iter().chain(std::iter::once(&joined)) {
            let mut without_masks = context.clone();
            for d in &detections {
                without_masks = without_masks.replace(d.masked.as_str(), " ");
            }
            assert!(
                !without_masks.chars().any(|c| c.is_ascii_digit()),
                "case {case_number}: a digit shows in {context:?}\ntext: {:?}",
                case.text
            );
            for secret in &case.secrets {
                for piece in secret.as_bytes().windows(4) {
                    if shown_anyway.contains(piece) {
                        continue;
                    }
                    assert!(
                        !context.as_bytes().windows(4).any(|w| w == piece),
                        "case {case_number}: {:?} of {secret:?} shows in {context:?}\ntext: {:?}",
                        String::from_utf8_lossy(piece),
                        case.text
                    );
                }
            }
            contexts_checked += 1;
        }
    }
    assert!(contexts_checked > CASES as usize * 2, "{contexts_checked}");
}

#[test]
fn given_generated_texts_when_contexts_read_then_the_ordinary_words_of_each_window_stay() {
    let mut words_checked = 0;
    for case_number in 0..CASES / 2 {
        // given
        let case = generate(case_number);
        let radius = [20, 40, 200][case_number as usize % 3];
        // when
        let (detections, contexts) = contexts_of(&case.text, radius, 4096);
        // then: every generated word lying wholly inside a window shows in its context
        for (d, context) in detections.iter().zip(&contexts) {
            let from = d.start.saturating_sub(radius as u64) as usize;
            let to = (d.end as usize + radius).min(case.text.len());
            let mut at = 0;
            for word in case.text.split(|c: char| !c.is_alphanumeric()) {
                let start = at;
                at += word.len() + 1;
                let whole_word = |w: &&str| *w == word;
                if start >= from && start + word.len() <= to && WORDS.iter().any(whole_word) {
                    assert!(
                        context.contains(word),
                        "case {case_number}: {word:?} lost from {context:?}\ntext: {:?}",
                        case.text
                    );
                    words_checked += 1;
                }
            }
        }
    }
    assert!(words_checked > 500, "{words_checked}");
}
