//! The fast path: one pass over the bytes that finds the few positions worth validating.
//!
//! Full validation is costly, so the engine only runs it at candidate positions, found 64
//! bytes at a time from byte-class bitmasks (AVX-512BW or SSE2 on x86_64, chosen at run time;
//! a plain loop elsewhere) combined with shifts and masks, 64 positions at once:
//!
//! - numbers: the first digit of a digit run that does not follow a letter, a digit or `_`,
//!   and whose layout starts some accepted SSN, card or phone shape (the same gates the engine
//!   applies before calling a validator): three digits, a `-`/`.`/space and exactly two
//!   (`ddd-dd`) or three (`ddd-ddd`) digits or a `(`; three digits and `)`; four digits, a
//!   space or `-` and exactly four or six digits; or a run of exactly 9, 10, 11 or 12 to 19
//!   digits. Dates, times, amounts, IP octets and counters, the bulk of the numbers in logs,
//!   never reach the scalar code;
//! - emails: every `@`;
//! - access key IDs: an `A` with another `A` three bytes later (`AKIA`, `ASIA`, `ABIA`, `ACCA`);
//! - secret keys: `ecre` in any case, the middle of the keyword `secret`.
//!
//! A candidate at `p` depends only on bytes `p - 1 ..= p + 20`, never on where a block or a
//! chunk starts, so chunked and one-shot scans see the same candidates.

/// Byte-class bitmasks of one 64-byte block; bit `i` describes byte `i`.
#[derive(Debug, Clone, Copy, Default)]
struct BlockMasks {
    digit: u64,
    /// ASCII letters and `_`: a number glued to one of these is never a match.
    word: u64,
    at_sign: u64,
    upper_a: u64,
    letter_e: u64,
    letter_c: u64,
    letter_r: u64,
    dash: u64,
    dot: u64,
    space: u64,
    open_paren: u64,
    close_paren: u64,
}

const BLOCK: usize = 64;

/// The classes of candidates a scan still wants (a kind past its per-object cap no longer
/// needs its candidates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wanted {
    pub numbers: bool,
    pub at_signs: bool,
    pub key_ids: bool,
    pub secrets: bool,
}

impl Wanted {
    #[cfg(test)]
    pub const ALL: Wanted = Wanted {
        numbers: true,
        at_signs: true,
        key_ids: true,
        secrets: true,
    };

    pub fn any(&self) -> bool {
        self.numbers || self.at_signs || self.key_ids || self.secrets
    }
}

/// All-ones when `wanted`, else zero.
fn bits_if(wanted: bool) -> u64 {
    if wanted {
        u64::MAX
    } else {
        0
    }
}

/// Calls `visit(p)` for every candidate position `p` in `from..to` of the classes `wanted`, in
/// increasing order; `visit` returns the classes wanted from then on, and the walk stops when
/// it wants none. Bytes before `from` and after `to` (up to `bytes.len()`) are read as context
/// only.
pub(crate) fn for_each_candidate(
    bytes: &[u8],
    from: usize,
    to: usize,
    mut wanted: Wanted,
    mut visit: impl FnMut(usize) -> Wanted,
) {
    let to = to.min(bytes.len());
    if from >= to || !wanted.any() {
        return;
    }
    let previous = from.checked_sub(1).map(|i| bytes[i]);
    let mut previous_digit = u64::from(previous.is_some_and(|b| b.is_ascii_digit()));
    let mut previous_word =
        u64::from(previous.is_some_and(|b| b.is_ascii_alphabetic() || b == b'_'));
    let mut base = from;
    let classify = block_classifier();
    let mut current = masks_at(classify, bytes, base);
    while base < to {
        let next = masks_at(classify, bytes, base + BLOCK);
        let wide = |field: fn(&BlockMasks) -> u64| -> u128 {
            u128::from(field(&current)) | (u128::from(field(&next)) << 64)
        };
        let ahead = |field: fn(&BlockMasks) -> u64, by: u32| -> u64 { (wide(field) >> by) as u64 };
        let digit = current.digit;
        let glued_before = (digit << 1) | previous_digit | (current.word << 1) | previous_word;
        let starts = digit & !glued_before;
        let numbers = if starts == 0 {
            0
        } else {
            starts & number_shapes(&wide)
        };
        let keys = current.upper_a & ahead(|m| m.upper_a, 3);
        let secrets = current.letter_e
            & ahead(|m| m.letter_c, 1)
            & ahead(|m| m.letter_r, 2)
            & ahead(|m| m.letter_e, 3);
        let select = |wanted: Wanted| {
            (numbers & bits_if(wanted.numbers))
                | (current.at_sign & bits_if(wanted.at_signs))
                | (keys & bits_if(wanted.key_ids))
                | (secrets & bits_if(wanted.secrets))
        };
        let remaining = to - base;
        let in_range = if remaining < BLOCK {
            (1u64 << remaining) - 1
        } else {
            u64::MAX
        };
        let mut candidates = select(wanted) & in_range;
        while candidates != 0 {
            let bit = candidates.trailing_zeros() as usize;
            candidates &= candidates - 1;
            let now = visit(base + bit);
            if now != wanted {
                wanted = now;
                if !wanted.any() {
                    return;
                }
                // Only the bits after this one, of the classes still wanted.
                let after = if bit == 63 { 0 } else { u64::MAX << (bit + 1) };
                candidates = select(wanted) & in_range & after;
            }
        }
        previous_digit = digit >> 63;
        previous_word = current.word >> 63;
        current = next;
        base += BLOCK;
    }
}

/// Positions `i` of the low 64 bits where a digit run starts some accepted number layout (see
/// the module documentation); `wide` gives a class over this block and the next, so that runs
/// and separators up to 64 bytes ahead are known exactly.
fn number_shapes(wide: &impl Fn(fn(&BlockMasks) -> u64) -> u128) -> u64 {
    let d = wide(|m| m.digit);
    // `rN`: at least N digits from here; `eN`: exactly N.
    let r2 = d & (d >> 1);
    let r3 = r2 & (d >> 2);
    let r4 = r2 & (r2 >> 2);
    let r5 = r4 & (d >> 4);
    let r6 = r4 & (r2 >> 4);
    let r7 = r4 & (r3 >> 4);
    let r8 = r4 & (r4 >> 4);
    let r9 = r8 & (d >> 8);
    let r10 = r8 & (r2 >> 8);
    let r12 = r8 & (r4 >> 8);
    let r16 = r8 & (r8 >> 8);
    let r20 = r16 & (r4 >> 16);
    let e2 = r2 & !r3;
    let e3 = r3 & !r4;
    let e4 = r4 & !r5;
    let e6 = r6 & !r7;
    let dash = wide(|m| m.dash);
    let space = wide(|m| m.space);
    let dash_dot_space = dash | space | wide(|m| m.dot);
    let space_dash = dash | space;
    let open = wide(|m| m.open_paren);
    let close = wide(|m| m.close_paren);
    // `ddd-dd` or nine digits.
    let ssn = (e3 & (dash_dot_space >> 3) & (e2 >> 4)) | (r9 & !r10);
    // 12 to 19 digits, or `dddd ` then exactly four or six digits.
    let card = (r12 & !r20) | (e4 & (space_dash >> 4) & ((e4 | e6) >> 5));
    // `ddd-ddd`, `ddd-(`, `ddd)`, ten or eleven digits.
    let phone = (e3 & (((dash_dot_space >> 3) & ((e3 | open) >> 4)) | (close >> 3))) | (r10 & !r12);
    (ssn | card | phone) as u64
}

/// The block classifier for this machine: AVX-512BW when the CPU has it, else the baseline.
fn block_classifier() -> fn(&[u8]) -> BlockMasks {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512bw") {
            return block_masks_avx512;
        }
    }
    block_masks
}

/// Masks for `bytes[start..start + 64]`; bytes past the end count as NUL (no class).
fn masks_at(classify: fn(&[u8]) -> BlockMasks, bytes: &[u8], start: usize) -> BlockMasks {
    match bytes.get(start..start + BLOCK) {
        Some(block) => classify(block),
        None => {
            let mut padded = [0u8; BLOCK];
            if let Some(tail) = bytes.get(start..) {
                padded[..tail.len()].copy_from_slice(tail);
            }
            classify(&padded)
        }
    }
}

/// [`block_masks`] with one AVX-512BW compare per class for the whole block.
#[cfg(target_arch = "x86_64")]
fn block_masks_avx512(block: &[u8]) -> BlockMasks {
    assert!(block.len() >= BLOCK, "a block is 64 bytes");
    // SAFETY: only returned by `block_classifier` after `is_x86_feature_detected!("avx512bw")`
    // (which implies AVX-512F), so the CPU runs these instructions; the load reads 64 bytes
    // from `block`, which holds at least 64 (asserted above), and has no alignment requirement.
    unsafe { block_masks_avx512_unchecked(block) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
fn block_masks_avx512_unchecked(block: &[u8]) -> BlockMasks {
    use std::arch::x86_64::{
        __m512i, _mm512_cmpeq_epi8_mask, _mm512_cmple_epu8_mask, _mm512_loadu_si512,
        _mm512_or_si512, _mm512_set1_epi8, _mm512_sub_epi8,
    };
    // SAFETY: the caller guarantees 64 readable bytes; `loadu` has no alignment requirement.
    let v = unsafe { _mm512_loadu_si512(block.as_ptr().cast::<__m512i>()) };
    let splat = |b: u8| _mm512_set1_epi8(b as i8);
    let eq = |b: u8| _mm512_cmpeq_epi8_mask(v, splat(b));
    let folded = _mm512_or_si512(v, splat(0x20));
    let folded_eq = |b: u8| _mm512_cmpeq_epi8_mask(folded, splat(b));
    let letter = _mm512_cmple_epu8_mask(_mm512_sub_epi8(folded, splat(b'a')), splat(25));
    BlockMasks {
        digit: _mm512_cmple_epu8_mask(_mm512_sub_epi8(v, splat(b'0')), splat(9)),
        word: letter | eq(b'_'),
        at_sign: eq(b'@'),
        upper_a: eq(b'A'),
        letter_e: folded_eq(b'e'),
        letter_c: folded_eq(b'c'),
        letter_r: folded_eq(b'r'),
        dash: eq(b'-'),
        dot: eq(b'.'),
        space: eq(b' '),
        open_paren: eq(b'('),
        close_paren: eq(b')'),
    }
}

#[cfg(target_arch = "x86_64")]
fn block_masks(block: &[u8]) -> BlockMasks {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8, _mm_sub_epi8,
    };
    debug_assert!(block.len() >= BLOCK);
    let mut masks = BlockMasks::default();
    // SAFETY: SSE2 is part of the x86_64 baseline, so these intrinsics are always available;
    // each load reads 16 bytes at offset 16 * lane < 64 from `block`, which holds at least 64
    // bytes (checked by the callers, which pass a 64-byte slice or array), and `loadu` has no
    // alignment requirement.
    unsafe {
        let zero_digit = _mm_set1_epi8(b'0' as i8);
        let nine = _mm_set1_epi8(9);
        let at_sign = _mm_set1_epi8(b'@' as i8);
        let lower_a = _mm_set1_epi8(b'a' as i8);
        let twenty_five = _mm_set1_epi8(25);
        let underscore = _mm_set1_epi8(b'_' as i8);
        let upper_a = _mm_set1_epi8(b'A' as i8);
        let case_bit = _mm_set1_epi8(0x20);
        let letter_e = _mm_set1_epi8(b'e' as i8);
        let letter_c = _mm_set1_epi8(b'c' as i8);
        let letter_r = _mm_set1_epi8(b'r' as i8);
        let dash = _mm_set1_epi8(b'-' as i8);
        let dot = _mm_set1_epi8(b'.' as i8);
        let space = _mm_set1_epi8(b' ' as i8);
        let open_paren = _mm_set1_epi8(b'(' as i8);
        let close_paren = _mm_set1_epi8(b')' as i8);
        for lane in 0..4 {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * lane).cast::<__m128i>());
            let shift = 16 * lane as u32;
            let lane_mask = |m: __m128i| -> u64 { u64::from(_mm_movemask_epi8(m) as u16) << shift };
            let offset = _mm_sub_epi8(v, zero_digit);
            masks.digit |= lane_mask(_mm_cmpeq_epi8(_mm_min_epu8(offset, nine), offset));
            masks.at_sign |= lane_mask(_mm_cmpeq_epi8(v, at_sign));
            masks.upper_a |= lane_mask(_mm_cmpeq_epi8(v, upper_a));
            let folded = _mm_or_si128(v, case_bit);
            let from_a = _mm_sub_epi8(folded, lower_a);
            let letter = _mm_cmpeq_epi8(_mm_min_epu8(from_a, twenty_five), from_a);
            masks.word |= lane_mask(_mm_or_si128(letter, _mm_cmpeq_epi8(v, underscore)));
            masks.letter_e |= lane_mask(_mm_cmpeq_epi8(folded, letter_e));
            masks.letter_c |= lane_mask(_mm_cmpeq_epi8(folded, letter_c));
            masks.letter_r |= lane_mask(_mm_cmpeq_epi8(folded, letter_r));
            masks.dash |= lane_mask(_mm_cmpeq_epi8(v, dash));
            masks.dot |= lane_mask(_mm_cmpeq_epi8(v, dot));
            masks.space |= lane_mask(_mm_cmpeq_epi8(v, space));
            masks.open_paren |= lane_mask(_mm_cmpeq_epi8(v, open_paren));
            masks.close_paren |= lane_mask(_mm_cmpeq_epi8(v, close_paren));
        }
    }
    masks
}

#[cfg(not(target_arch = "x86_64"))]
fn block_masks(block: &[u8]) -> BlockMasks {
    let mut masks = BlockMasks::default();
    for (i, &b) in block.iter().take(BLOCK).enumerate() {
        let bit = 1u64 << i;
        let folded = b | 0x20;
        if b.is_ascii_digit() {
            masks.digit |= bit;
        }
        if b.is_ascii_alphabetic() || b == b'_' {
            masks.word |= bit;
        }
        if b == b'@' {
            masks.at_sign |= bit;
        }
        if b == b'A' {
            masks.upper_a |= bit;
        }
        if folded == b'e' {
            masks.letter_e |= bit;
        }
        if folded == b'c' {
            masks.letter_c |= bit;
        }
        if folded == b'r' {
            masks.letter_r |= bit;
        }
        match b {
            b'-' => masks.dash |= bit,
            b'.' => masks.dot |= bit,
            b' ' => masks.space |= bit,
            b'(' => masks.open_paren |= bit,
            b')' => masks.close_paren |= bit,
            _ => {}
        }
    }
    masks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(bytes: &[u8], from: usize, to: usize) -> Vec<usize> {
        let mut found = Vec::new();
        for_each_candidate(bytes, from, to, Wanted::ALL, |p| {
            found.push(p);
            Wanted::ALL
        });
        found
    }

    /// The definition, byte by byte, that the block version must reproduce.
    fn reference(bytes: &[u8], from: usize, to: usize) -> Vec<usize> {
        let digit = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
        let word = |i: usize| {
            bytes
                .get(i)
                .is_some_and(|&b| b.is_ascii_alphabetic() || b == b'_')
        };
        let fold = |i: usize| bytes.get(i).map(|b| b | 0x20);
        (from..to)
            .filter(|&p| {
                let glued = p > 0 && (digit(p - 1) || word(p - 1));
                let run = |i: usize| (i..i + 21).take_while(|&j| digit(j)).count();
                let is = |i: usize, set: &[u8]| bytes.get(i).is_some_and(|b| set.contains(b));
                let first = run(p);
                let ssn = (first == 3 && is(p + 3, b"-. ") && run(p + 4) == 2) || first == 9;
                let card = (12..=19).contains(&first)
                    || (first == 4 && is(p + 4, b" -") && matches!(run(p + 5), 4 | 6));
                let phone = (first == 3
                    && ((is(p + 3, b"-. ") && (run(p + 4) == 3 || is(p + 4, b"(")))
                        || is(p + 3, b")")))
                    || first == 10
                    || first == 11;
                let number = digit(p) && !glued && (ssn || card || phone);
                let at = bytes[p] == b'@';
                let key = bytes[p] == b'A' && bytes.get(p + 3) == Some(&b'A');
                let secret = fold(p) == Some(b'e')
                    && fold(p + 1) == Some(b'c')
                    && fold(p + 2) == Some(b'r')
                    && fold(p + 3) == Some(b'e');
                number || at || key || secret
            })
            .collect()
    }

    #[test]
    fn given_text_with_every_candidate_class_when_prefiltered_then_matches_bytewise_definition() {
        let mut text = Vec::new();
        for i in 0..40 {
            text.extend_from_slice(
                format!("l{i} 12 345 6789 a@b AKIA x SeCrEt 9{i}99 ABCA 12-3 x123 _456 é789 ")
                    .as_bytes(),
            );
        }
        for from in [0, 1, 5, 63, 64, 65, 130] {
            for to in [text.len(), text.len() - 1, 200, 129, 64] {
                assert_eq!(
                    candidates(&text, from, to),
                    reference(&text, from, to.max(from)),
                    "from {from} to {to}"
                );
            }
        }
    }

    #[test]
    fn given_random_number_layouts_when_prefiltered_then_matches_bytewise_definition() {
        // given: bytes drawn from digits, separators and the other candidate bytes, so that
        // runs, separators and groups of every length meet block edges in every way
        let alphabet = b"0123456789012345678901234567890123456789-. ()@Aecrx_";
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let text: Vec<u8> = (0..5_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                alphabet[(state % alphabet.len() as u64) as usize]
            })
            .collect();
        // then: the block version finds exactly the bytewise candidates
        for from in [0, 1, 37, 64, 100] {
            for to in [text.len(), 4_097, 128] {
                assert_eq!(
                    candidates(&text, from, to),
                    reference(&text, from, to.max(from)),
                    "from {from} to {to}"
                );
            }
        }
    }

    #[test]
    fn given_every_block_classifier_when_run_on_the_same_bytes_then_masks_agree() {
        let block: Vec<u8> = (0..=255u8)
            .chain(b"09-. ()@AeEcCrR_aZ".iter().copied())
            .collect();
        for start in 0..block.len() - BLOCK {
            let portable = block_masks(&block[start..start + BLOCK]);
            let chosen = block_classifier()(&block[start..start + BLOCK]);
            assert_eq!(format!("{portable:?}"), format!("{chosen:?}"), "at {start}");
        }
    }

    #[test]
    fn given_long_digit_runs_when_prefiltered_then_only_starts_of_card_length_runs_are_candidates()
    {
        let text = b"x 1234567890123456789012345678901234567890123456789012345678901234567890 y";
        assert_eq!(candidates(text, 0, text.len()), Vec::<usize>::new());
        let text = b"x 4539148803436467 y 12345678901234567890 z";
        assert_eq!(candidates(text, 0, text.len()), vec![2]);
        assert_eq!(candidates(text, 3, text.len()), Vec::<usize>::new());
    }

    #[test]
    fn given_a_visitor_that_stops_wanting_a_class_when_walked_then_later_candidates_of_it_are_skipped(
    ) {
        // given: numbers and at-signs interleaved, over more than one block
        let text = "123-45-6789 a@b ".repeat(20);
        let bytes = text.as_bytes();
        // when: the visitor stops wanting numbers at the third number
        let mut seen = Vec::new();
        let mut numbers_seen = 0;
        for_each_candidate(bytes, 0, bytes.len(), Wanted::ALL, |p| {
            seen.push(bytes[p]);
            if bytes[p].is_ascii_digit() {
                numbers_seen += 1;
            }
            Wanted {
                numbers: numbers_seen < 3,
                ..Wanted::ALL
            }
        });
        // then: three numbers, every at-sign
        assert_eq!(seen.iter().filter(|b| b.is_ascii_digit()).count(), 3);
        assert_eq!(seen.iter().filter(|&&b| b == b'@').count(), 20);
        // and a visitor that wants nothing more ends the walk
        let mut visits = 0;
        let nothing = Wanted {
            numbers: false,
            at_signs: false,
            key_ids: false,
            secrets: false,
        };
        for_each_candidate(bytes, 0, bytes.len(), Wanted::ALL, |_| {
            visits += 1;
            nothing
        });
        assert_eq!(visits, 1);
    }
}
