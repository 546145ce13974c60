//! Whole-scan behaviour through the public API: precedence between overlapping shapes, decoys
//! that must stay silent, byte offsets in multi-byte text and detector subsets.

use qrie_detectors::{Detection, DetectorKind, Detectors};

const SECRET: &str = "Zk3xQ9vW2mN7pL4rT8yB1cD6fG0hJ5kM9nP2qR7s";

fn kinds(text: &str) -> Vec<(DetectorKind, String)> {
    Detectors::new()
        .scan(text.as_bytes())
        .iter()
        .map(|d: &Detection| (d.kind, text[d.start as usize..d.end as usize].to_string()))
        .collect()
}

#[test]
fn given_phone_shapes_inside_ssn_or_card_when_scanned_then_ssn_or_card_wins() {
    assert_eq!(
        kinds("phone 536-22-1987"),
        vec![(DetectorKind::UsSsn, "536-22-1987".to_string())]
    );
    assert_eq!(
        kinds("tel 4539148803436467"),
        vec![(DetectorKind::CreditCard, "4539148803436467".to_string())]
    );
    assert_eq!(
        kinds("call 4539 1488 0343 6467"),
        vec![(DetectorKind::CreditCard, "4539 1488 0343 6467".to_string())]
    );
}

#[test]
fn given_decoys_of_every_kind_when_scanned_then_nothing_is_reported() {
    let decoys = [
        "4539148803436468",
        "4111 1111 1111 1111",
        "000-12-3456 666-12-3456 912-12-3456 536-00-1987 536-22-0000",
        "078-05-1120 123-45-6789 987-65-4321",
        "ABCDEFGHIJKLMNOPQRST AKIAZ7VRSQ5TJN2K4LM8 AKIAz7vrsq5tjn2k4lmb",
        "AIDAZ7VRSQ5TJN2K4LMB AROAZ7VRSQ5TJN2K4LMB AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "secret: 3f786850e387550fdab836ed7e6dc881de23001b",
        "logo@2x.png icon@3x.svg lodash@4.17.21 root@localhost",
        "ids 45391488034364671234 1234567890123456789012 53622198712",
        "order 2025550143 shipped",
        "ratio 202-555-0143-7 and 1202-555-0143",
        "arn:aws:iam::503802053770:role/admin account 503802053770",
    ];
    for decoy in decoys {
        assert_eq!(kinds(decoy), vec![], "{decoy}");
    }
}

#[test]
fn given_bare_forty_char_token_when_no_keyword_or_key_id_then_not_reported() {
    assert_eq!(kinds(&format!("token {SECRET} end")), vec![]);
    assert_eq!(
        kinds(&format!("AKIAZ7VRSQ5TJN2K4LMB\n{SECRET}")),
        vec![
            (
                DetectorKind::AwsAccessKeyId,
                "AKIAZ7VRSQ5TJN2K4LMB".to_string()
            ),
            (DetectorKind::AwsSecretAccessKey, SECRET.to_string())
        ]
    );
}

#[test]
fn given_multibyte_text_when_scanned_then_offsets_are_utf8_bytes() {
    let text = "Åsa Núñez 東京: jane@example.com";
    let found = Detectors::new().scan(text.as_bytes());
    assert_eq!(found.len(), 1);
    let start = text.find("jane").expect("present") as u64;
    assert_eq!((found[0].start, found[0].end), (start, text.len() as u64));
}

#[test]
fn given_subset_of_detectors_when_scanned_then_only_those_kinds_are_reported() {
    let text = "ssn 536-22-1987 mail jane@example.com tel (202) 555-0143";
    let only_email = Detectors::with_kinds(&[DetectorKind::Email]);
    let found = only_email.scan(text.as_bytes());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, DetectorKind::Email);
    assert_eq!(only_email.enabled_kinds(), vec![DetectorKind::Email]);
}

#[test]
fn given_detections_when_serialised_then_no_raw_value_appears() {
    let text = format!("ssn 536-22-1987 key AKIAZ7VRSQ5TJN2K4LMB secret_key={SECRET}");
    let found = Detectors::new().scan(text.as_bytes());
    assert_eq!(found.len(), 3);
    let json = serde_json::to_string(&found).expect("serialise");
    let debug = format!("{found:?}");
    for raw in ["536-22-1987", "Z7VRSQ5TJN2K4LMB", SECRET] {
        assert!(!json.contains(raw), "{raw} in {json}");
        assert!(!debug.contains(raw), "{raw} in {debug}");
    }
    assert!(json.contains("\"kind\":\"us_ssn\""));
}
