//! Cheap text-versus-binary sniffing, so the object scanner can skip images, archives it does
//! not unpack and other binary blobs instead of scanning noise.
//!
//! An object is binary when its first [`SNIFF_BYTES`] contain a NUL byte, or when more than
//! [`MAX_NON_TEXT_RATIO`] of them are control characters (other than tab, newline, carriage
//! return, form feed and escape) or bytes that are not valid UTF-8. Accented UTF-8 text is text.

/// How much of the start of an object is examined.
pub const SNIFF_BYTES: usize = 8 * 1024;
/// Share of non-text bytes above which a sample is binary.
pub const MAX_NON_TEXT_RATIO: f64 = 0.10;

/// Whether `sample` (the start of an object) looks like binary data rather than text.
pub fn looks_binary(sample: &[u8]) -> bool {
    let sample = &sample[..sample.len().min(SNIFF_BYTES)];
    if sample.is_empty() {
        return false;
    }
    if sample.contains(&0) {
        return true;
    }
    let mut non_text = 0usize;
    for chunk in sample.utf8_chunks() {
        non_text += chunk
            .valid()
            .bytes()
            .filter(|&b| is_control_byte(b))
            .count();
        non_text += chunk.invalid().len();
    }
    // A multi-byte character cut at the end of the sample is not evidence of binary data.
    let cut_character = trailing_partial_character(sample);
    let non_text = non_text.saturating_sub(cut_character);
    non_text as f64 > MAX_NON_TEXT_RATIO * sample.len() as f64
}

fn is_control_byte(byte: u8) -> bool {
    (byte < 0x20 && !matches!(byte, b'\t' | b'\n' | b'\r' | 0x0C | 0x1B)) || byte == 0x7F
}

/// Length of an incomplete UTF-8 sequence at the very end of `sample` (0 to 3).
fn trailing_partial_character(sample: &[u8]) -> usize {
    match std::str::from_utf8(sample) {
        Err(error) if error.error_len().is_none() => sample.len() - error.valid_up_to(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_plain_and_accented_text_when_sniffed_then_text() {
        assert!(!looks_binary(b"2024-01-15 INFO user=jane action=login\n"));
        let french = "Le cafe de la rue a ete ferme. Ecole elementaire a Montreal. ".repeat(10)
            + "Déjà vu, façade, naïveté, Ærø, Ñandú, Straße, Zürich, 東京, Привет.";
        assert!(!looks_binary(french.as_bytes()));
        let cut = "é".repeat(100);
        assert!(!looks_binary(&cut.as_bytes()[..199]));
        assert!(!looks_binary(b""));
    }

    #[test]
    fn given_nul_bytes_or_random_bytes_when_sniffed_then_binary() {
        assert!(looks_binary(b"PK\x03\x04\x14\x00\x00\x00"));
        let noise: Vec<u8> = (0u32..4096)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 0x80)
            .collect();
        assert!(looks_binary(&noise));
        let png_header = b"\x89PNG\r\n\x1a\n\x7f\x7f\x01\x02\x03\x04\x05\x06\x07";
        assert!(looks_binary(png_header));
    }
}
