//! The deprecation dates of Lambda runtimes, from the table `runtimes.tsv` beside this file
//! (its header names the source and the date it was read). The collector writes a function's
//! runtime's date into its configuration (`RuntimeDeprecationDate`); whether that date has
//! passed is the policy's to judge, so that a finding opens on the day and not on the next
//! collection.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The table, compiled in.
const TABLE: &str = include_str!("runtimes.tsv");

/// The deprecation date (`YYYY-MM-DD`) of `runtime`, if AWS has published one.
pub fn deprecation_date(runtime: &str) -> Option<&'static str> {
    static DATES: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    DATES
        .get_or_init(|| parse(TABLE).into_iter().collect())
        .get(runtime)
        .copied()
}

/// The `(runtime, date)` rows of a table: tab-separated, `#` lines are comments.
fn parse(table: &'static str) -> Vec<(&'static str, &'static str)> {
    table
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .map(|(runtime, date)| (runtime.trim(), date.trim()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_a_runtime_and_a_date_listed_once() {
        // given the table's lines that are not comments
        let rows: Vec<&str> = TABLE
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .collect();
        let parsed = parse(TABLE);
        // then each is parsed, with a real calendar date, and no runtime twice
        assert_eq!(parsed.len(), rows.len());
        let mut seen = std::collections::HashSet::new();
        for (runtime, date) in parsed {
            assert!(seen.insert(runtime), "{runtime} twice");
            assert!(
                chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok(),
                "{runtime}: {date}"
            );
        }
    }

    #[test]
    fn a_deprecated_runtime_has_its_date_and_a_current_one_none() {
        assert_eq!(deprecation_date("python3.9"), Some("2025-12-15"));
        assert_eq!(deprecation_date("nodejs18.x"), Some("2025-09-01"));
        assert_eq!(deprecation_date("python3.13"), Some("2029-06-30"));
        assert_eq!(deprecation_date("python3.14"), None);
    }
}
