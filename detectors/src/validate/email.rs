//! Email addresses.
//!
//! Found from the `@`: a local part of at most 64 bytes of `[A-Za-z0-9._%+-]` (no leading,
//! trailing or doubled dot) before it, and after it a domain of at least two dot-separated
//! labels (`[A-Za-z0-9-]`, no leading or trailing hyphen) whose last label has the shape of a
//! real top-level domain: 2 to 24 letters, or an `xn--` punycode label. A last label that is a
//! common file extension (`logo@2x.png`, `icon@3x.svg`, `bundle@1.2.js`) is rejected.

use super::{Span, Window};
use crate::kind::DetectorKind;

const MAX_LOCAL: usize = 64;
const MAX_DOMAIN: usize = 253;

/// Last labels that are file extensions far more often than top-level domains (none longer
/// than five letters: `is_valid_domain` relies on it, a test checks it).
const FILE_EXTENSIONS: [&[u8]; 34] = [
    b"png", b"jpg", b"jpeg", b"gif", b"svg", b"webp", b"bmp", b"ico", b"tif", b"tiff", b"pdf",
    b"css", b"js", b"mjs", b"json", b"txt", b"html", b"htm", b"xml", b"zip", b"gz", b"tar", b"exe",
    b"dll", b"jar", b"mp3", b"mp4", b"mov", b"woff", b"woff2", b"ttf", b"csv", b"yaml", b"yml",
];

const LOCAL: u8 = 1;
const DOMAIN: u8 = 2;

/// Byte classes: [`LOCAL`] for `[A-Za-z0-9._%+-]`, [`DOMAIN`] for `[A-Za-z0-9.-]`.
const CLASSES: [u8; 256] = {
    let mut classes = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let alphanumeric = b.is_ascii_alphanumeric();
        if alphanumeric || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-') {
            classes[i] |= LOCAL;
        }
        if alphanumeric || matches!(b, b'.' | b'-') {
            classes[i] |= DOMAIN;
        }
        i += 1;
    }
    classes
};

fn is(byte: u8, class: u8) -> bool {
    CLASSES[usize::from(byte)] & class != 0
}

/// The address around the `@` at `at`.
pub(crate) fn email_at(window: &Window<'_>, at: usize) -> Option<Span> {
    let bytes = window.bytes;
    // Local part, scanning backwards (one byte more than the longest allowed, to reject it).
    let floor = at.saturating_sub(MAX_LOCAL + 1);
    let mut start = at.min(bytes.len());
    while start > floor && is(bytes[start - 1], LOCAL) {
        start -= 1;
    }
    let local = window.slice(start, at);
    if local.is_empty()
        || local.len() > MAX_LOCAL
        || start < window.min_start
        || local.first() == Some(&b'.')
        || local.last() == Some(&b'.')
        || local.windows(2).any(|pair| pair == b"..")
    {
        return None;
    }
    // Domain, scanning forwards; a trailing dot or hyphen ends a sentence, not the domain.
    let mut end = at + 1;
    while end - at <= MAX_DOMAIN + 1 && end < bytes.len() && is(bytes[end], DOMAIN) {
        end += 1;
    }
    if end - at > MAX_DOMAIN + 1 {
        return None;
    }
    while end > at + 1 && matches!(window.get(end - 1), Some(b'.' | b'-')) {
        end -= 1;
    }
    let domain = window.slice(at + 1, end);
    if window.get(end) == Some(b'@') || !is_valid_domain(domain) {
        return None;
    }
    Some(Span {
        kind: DetectorKind::Email,
        start,
        end,
    })
}

fn is_valid_domain(domain: &[u8]) -> bool {
    let mut labels = 0;
    let mut tld: &[u8] = &[];
    for label in domain.split(|&b| b == b'.') {
        if label.is_empty()
            || label.len() > 63
            || label.first() == Some(&b'-')
            || label.last() == Some(&b'-')
        {
            return false;
        }
        labels += 1;
        tld = label;
    }
    if labels < 2 {
        return false;
    }
    let tld_shape = ((2..=24).contains(&tld.len()) && tld.iter().all(u8::is_ascii_alphabetic))
        || (tld.len() > 4 && tld[..4].eq_ignore_ascii_case(b"xn--"));
    // No file extension in the list is longer than five letters.
    tld_shape
        && (tld.len() > 5
            || !FILE_EXTENSIONS
                .iter()
                .any(|extension| extension.eq_ignore_ascii_case(tld)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Option<&str> {
        let window = Window {
            bytes: text.as_bytes(),
            min_start: 0,
        };
        let at = text.find('@')?;
        email_at(&window, at).map(|span| &text[span.start..span.end])
    }

    #[test]
    fn given_addresses_in_text_when_validated_then_found_without_trailing_punctuation() {
        assert_eq!(
            find("mail UtaKortig@jourrapide.com."),
            Some("UtaKortig@jourrapide.com")
        );
        assert_eq!(
            find("<jane.doe+tag@mail.example.co.uk>"),
            Some("jane.doe+tag@mail.example.co.uk")
        );
        assert_eq!(find("\"a_b@x-y.io\""), Some("a_b@x-y.io"));
        assert_eq!(
            find("user@xn--bcher-kva.xn--p1ai"),
            Some("user@xn--bcher-kva.xn--p1ai")
        );
    }

    #[test]
    fn given_the_file_extension_list_when_measured_then_no_entry_is_longer_than_five() {
        assert!(FILE_EXTENSIONS.iter().all(|extension| extension.len() <= 5));
    }

    #[test]
    fn given_file_names_and_versions_when_validated_then_rejected() {
        for decoy in [
            "logo@2x.png",
            "icon@3X.SVG",
            "lodash@4.17.21",
            "root@localhost",
            "@scope/pkg",
            "a..b@example.com",
            "user@-bad.com",
            "user@example.c0m",
        ] {
            assert_eq!(find(decoy), None, "{decoy}");
        }
    }
}
