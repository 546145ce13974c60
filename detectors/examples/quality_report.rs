//! Precision and recall of every detector over a labelled dataset.
//!
//! ```text
//! cargo run -p qrie-detectors --release --example quality_report -- tests/data/pii/synth_dataset_v2.json
//! cargo run -p qrie-detectors --release --example quality_report -- tests/data/pii/synth_dataset_v2.json --list
//! ```
//!
//! Prints a Markdown table (see `qrie_detectors::quality` for the exact matching rule). With
//! `--list` it also lists every false positive, false negative and allow-listed unlabelled
//! detection, masked, with a masked context. The allow-list defaults to
//! `unlabelled_allowlist.tsv` next to the dataset; `--allow-list PATH` overrides it.

use std::path::PathBuf;
use std::process::ExitCode;

use qrie_detectors::quality::{parse_allow_list, render_table, score_dataset, ReviewItem, Sample};
use qrie_detectors::Detectors;

fn main() -> ExitCode {
    let mut dataset: Option<PathBuf> = None;
    let mut allow_list: Option<PathBuf> = None;
    let mut list = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--list" => list = true,
            "--allow-list" => allow_list = args.next().map(PathBuf::from),
            _ => dataset = Some(PathBuf::from(arg)),
        }
    }
    let Some(dataset) = dataset else {
        eprintln!("usage: quality_report DATASET.json [--list] [--allow-list FILE.tsv]");
        return ExitCode::from(2);
    };
    match run(&dataset, allow_list, list) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("quality_report: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(dataset: &PathBuf, allow_list: Option<PathBuf>, list: bool) -> Result<(), String> {
    let text = std::fs::read_to_string(dataset)
        .map_err(|e| format!("cannot read {}: {e}", dataset.display()))?;
    let samples: Vec<Sample> = serde_json::from_str(&text)
        .map_err(|e| format!("cannot parse {}: {e}", dataset.display()))?;
    let allow_path = allow_list.unwrap_or_else(|| {
        dataset
            .parent()
            .map(|dir| dir.join("unlabelled_allowlist.tsv"))
            .unwrap_or_else(|| PathBuf::from("unlabelled_allowlist.tsv"))
    });
    let allowed = match std::fs::read_to_string(&allow_path) {
        Ok(text) => {
            parse_allow_list(&text).map_err(|e| format!("{}: {e}", allow_path.display()))?
        }
        Err(_) => Vec::new(),
    };
    let report = score_dataset(&samples, &Detectors::new(), &allowed).map_err(|e| e.to_string())?;
    println!(
        "Dataset: {} ({} samples); allow-list: {} ({} entries)\n",
        dataset.display(),
        report.samples,
        allow_path.display(),
        allowed.len()
    );
    print!("{}", render_table(&report));
    println!(
        "\nFalse positives: {}, false negatives: {}, allow-listed unlabelled: {}",
        report.false_positives.len(),
        report.false_negatives.len(),
        report.allowed.len()
    );
    print_items(
        "Allow-listed unlabelled detections (not counted)",
        &report.allowed,
    );
    if list {
        print_items("False positives", &report.false_positives);
        print_items("False negatives (missed labels)", &report.false_negatives);
    }
    Ok(())
}

fn print_items(title: &str, items: &[ReviewItem]) {
    if items.is_empty() {
        return;
    }
    println!("\n{title}:");
    for item in items {
        println!(
            "  sample {:>5} {:<22} bytes {:>5}..{:<5} {:<24} | {}",
            item.sample,
            item.kind.as_str(),
            item.start,
            item.end,
            item.masked,
            item.context
        );
    }
}
