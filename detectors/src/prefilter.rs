//! The fast path: one pass over the bytes that finds the few positions worth validating.
//!
//! Full validation is costly, so the engine only runs it at candidate positions, found 64
//! bytes at a time from byte-class bitmasks (SSE2 on x86_64, a plain loop elsewhere):
//!
//! - numbers: the first digit of a run of at least three digits that does not follow a letter
//!   or `_` (every SSN, card and phone shape starts with one, after a non-word byte);
//! - emails: every `@`;
//! - access key IDs: an `A` with another `A` three bytes later (`AKIA`, `ASIA`, `ABIA`, `ACCA`);
//! - secret keys: `ecre` in any case, the middle of the keyword `secret`.
//!
//! A candidate at `p` depends only on bytes `p - 1 ..= p + 3`, never on where a block or a
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
}

const BLOCK: usize = 64;

/// Calls `visit(p)` for every candidate position `p` in `from..to`, in increasing order.
/// Bytes before `from` and after `to` (up to `bytes.len()`) are read as context only.
pub(crate) fn for_each_candidate(
    bytes: &[u8],
    from: usize,
    to: usize,
    mut visit: impl FnMut(usize),
) {
    let to = to.min(bytes.len());
    if from >= to {
        return;
    }
    let previous = from.checked_sub(1).map(|i| bytes[i]);
    let mut previous_digit = u64::from(previous.is_some_and(|b| b.is_ascii_digit()));
    let mut previous_word =
        u64::from(previous.is_some_and(|b| b.is_ascii_alphabetic() || b == b'_'));
    let mut base = from;
    let mut current = masks_at(bytes, base);
    while base < to {
        let next = masks_at(bytes, base + BLOCK);
        let ahead = |field: fn(&BlockMasks) -> u64, by: u32| -> u64 {
            let wide = u128::from(field(&current)) | (u128::from(field(&next)) << 64);
            (wide >> by) as u64
        };
        let digit = current.digit;
        let glued_before = (digit << 1) | previous_digit | (current.word << 1) | previous_word;
        let numbers = digit & !glued_before & ahead(|m| m.digit, 1) & ahead(|m| m.digit, 2);
        let keys = current.upper_a & ahead(|m| m.upper_a, 3);
        let secrets = current.letter_e
            & ahead(|m| m.letter_c, 1)
            & ahead(|m| m.letter_r, 2)
            & ahead(|m| m.letter_e, 3);
        let mut candidates = numbers | current.at_sign | keys | secrets;
        let remaining = to - base;
        if remaining < BLOCK {
            candidates &= (1u64 << remaining) - 1;
        }
        while candidates != 0 {
            let bit = candidates.trailing_zeros() as usize;
            candidates &= candidates - 1;
            visit(base + bit);
        }
        previous_digit = digit >> 63;
        previous_word = current.word >> 63;
        current = next;
        base += BLOCK;
    }
}

/// Masks for `bytes[start..start + 64]`; bytes past the end count as NUL (no class).
fn masks_at(bytes: &[u8], start: usize) -> BlockMasks {
    match bytes.get(start..start + BLOCK) {
        Some(block) => block_masks(block),
        None => {
            let mut padded = [0u8; BLOCK];
            if let Some(tail) = bytes.get(start..) {
                padded[..tail.len()].copy_from_slice(tail);
            }
            block_masks(&padded)
        }
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
    }
    masks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(bytes: &[u8], from: usize, to: usize) -> Vec<usize> {
        let mut found = Vec::new();
        for_each_candidate(bytes, from, to, |p| found.push(p));
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
                let number = digit(p) && !glued && digit(p + 1) && digit(p + 2);
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
    fn given_long_digit_run_when_prefiltered_then_only_its_start_is_a_candidate() {
        let text = b"x 1234567890123456789012345678901234567890123456789012345678901234567890 y";
        assert_eq!(candidates(text, 0, text.len()), vec![2]);
        assert_eq!(candidates(text, 10, text.len()), Vec::<usize>::new());
    }
}
