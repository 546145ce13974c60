//! The HTML report on the local AWS, as a browser shows it: a scanned account's report is
//! written by `qrie report --html`, rendered by headless Chromium (`--dump-dom`, and a
//! screenshot kept as the test's artefact), and every number the rendered page shows under a
//! `data-qrie` key is checked against the live tables (`qrie compliance`, `qrie findings` and
//! the compliance table's stored summaries). Markup planted in a bucket policy reaches the
//! page only as text.
//!
//! Chromium is required, not optional: without it the test fails and says how to install it
//! (`.ci/run` installs it when it is missing). `QRIE_CHROMIUM` names another binary.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{Duration, Utc};
use lambda_runtime::{Context, LambdaEvent};
use qrie::compliance::{Counts, Summary};
use qrie::handler::{inventory_handler, scan_handler};
use qrie::inventory::InventoryRequest;
use qrie::model::Suppression;
use qrie::scan::ScanRequest;
use qrie_cli::EXIT_OK;
use qrie_tests::World;
use serde_json::Value;

const FRAMEWORKS: [&str; 4] = ["cis-aws-v5.0", "fsbp", "nist-800-53-r5", "pci-dss-4.0"];
/// What an attacker who can name a bucket policy statement would put in it.
const PAYLOAD: &str = "<script>document.title='pwned'</script><b id=\"qrie-injected\">x</b>";

/// Runs one command line; returns (exit code, stdout, stderr).
async fn qrie(world: &World, line: &[&str]) -> (i32, String, String) {
    qrie_tests::run_qrie(&world.deps, line).await
}

/// The Chromium binary; the test fails (never skips) without one.
fn chromium() -> PathBuf {
    let path = std::env::var_os("QRIE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "the report's browser test needs headless Chromium, and {} does not exist: install it \
         with `apt-get install -y chromium` (Debian; .ci/run does this when it is missing), or \
         set QRIE_CHROMIUM to a Chromium binary",
        path.display()
    );
    path
}

/// Runs headless Chromium on `page` with a fresh profile under `dir`, bounded by `timeout(1)`,
/// and returns its standard output.
async fn headless(dir: &Path, profile: &str, page: &Path, action: &[String]) -> String {
    let mut command = Command::new("timeout");
    command
        .arg("120")
        .arg(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.join(profile).to_string_lossy()
        ))
        .args(action)
        .arg(format!("file://{}", page.to_string_lossy()));
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the blocking task runs")
        .expect("chromium (through timeout) starts");
    assert!(
        output.status.success(),
        "chromium failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 DOM")
}

/// Every `data-qrie` key of a serialised DOM with its element's text (such elements hold text
/// only); a key found twice fails the test.
fn numbers(dom: &str) -> HashMap<String, String> {
    let mut found = HashMap::new();
    let marker = "data-qrie=\"";
    let mut rest = dom;
    while let Some(at) = rest.find(marker) {
        rest = &rest[at + marker.len()..];
        let key_end = rest.find('"').expect("a closed attribute");
        let key = rest[..key_end].replace("&amp;", "&");
        let start = rest.find('>').expect("a closed tag") + 1;
        let end = start + rest[start..].find('<').expect("a closing tag");
        let text = rest[start..end].to_owned();
        assert!(found.insert(key.clone(), text).is_none(), "key {key} twice");
        rest = &rest[end..];
    }
    found
}

fn percent(passed: u64, failed: u64) -> String {
    if passed + failed == 0 {
        "n/a".to_owned()
    } else {
        format!("{:.1}%", passed as f64 * 100.0 / (passed + failed) as f64)
    }
}

fn summary(account: &str, framework: &str, days_ago: i64, passed: usize) -> Summary {
    let day = Utc::now().date_naive() - Duration::days(days_ago);
    Summary {
        account_id: account.into(),
        framework: framework.into(),
        day,
        assessed_at: day.and_hms_opt(4, 0, 0).expect("a time").and_utc(),
        score: Counts { passed, failed: 4 }.score(),
        passed,
        failed: 4,
        no_resources: 2,
        manual: 1,
        not_evaluated: 9,
        by_severity: BTreeMap::new(),
        failed_controls: BTreeMap::new(),
    }
}

#[tokio::test]
async fn the_html_report_in_chromium_shows_the_numbers_of_the_tables_and_account_text_as_text() {
    // Given an account with a public bucket whose policy statement is named with markup, a
    // plain bucket, inventoried and scanned (today's summaries stored)
    let world = World::new().await;
    let account = world.onboard().await;
    let id = account.account_id.as_str();
    let s3 = world.customer_s3(&account, "us-east-1").await;
    let (public, plain) = (world.bucket("report-public"), world.bucket("report-plain"));
    for bucket in [&public, &plain] {
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("bucket created");
    }
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Sid": PAYLOAD, "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": format!("arn:aws:s3:::{public}/*")}]});
    s3.put_bucket_policy()
        .bucket(&public)
        .policy(policy.to_string())
        .send()
        .await
        .expect("policy set");
    let request = InventoryRequest {
        service: "s3".into(),
        account_id: Some(account.account_id.clone()),
    };
    inventory_handler(LambdaEvent::new(request, Context::default()), &world.deps)
        .await
        .expect("inventory runs");
    scan_handler(
        LambdaEvent::new(ScanRequest::default(), Context::default()),
        &world.deps,
    )
    .await
    .expect("scan runs");
    // And one of the plain bucket's findings suppressed, and summaries of two earlier days
    let suppressed = world
        .deps
        .stores
        .findings
        .suppress(
            &format!("arn:aws:s3:::{plain}"),
            "S3BucketVersioningEnabled",
            Some(&Suppression {
                by: "report-test".into(),
                at: Utc::now(),
                reason: "archive".into(),
                until: Utc::now() + Duration::days(30),
            }),
        )
        .await
        .expect("suppressed");
    assert!(suppressed, "the plain bucket fails versioning");
    for (days_ago, passed) in [(2, 1), (1, 3)] {
        for framework in FRAMEWORKS {
            world
                .deps
                .stores
                .compliance
                .put(&summary(id, framework, days_ago, passed))
                .await
                .expect("stored");
        }
    }

    // When the report is written and rendered by Chromium
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("qrie-report-{}", world.id));
    std::fs::create_dir_all(&dir).expect("artefact dir");
    let file = dir.join("report.html");
    let (code, said, err) = qrie(&world, &["report", "--html", &file.to_string_lossy()]).await;
    assert_eq!(code, EXIT_OK, "{err}");
    assert!(said.contains(file.to_string_lossy().as_ref()), "{said}");
    let dom = headless(&dir, "profile-dom", &file, &["--dump-dom".to_owned()]).await;
    std::fs::write(dir.join("dom.html"), &dom).expect("DOM kept");
    let screenshot = dir.join("report.png");
    headless(
        &dir,
        "profile-shot",
        &file,
        &[
            format!("--screenshot={}", screenshot.to_string_lossy()),
            "--window-size=1280,2400".to_owned(),
        ],
    )
    .await;
    let png = std::fs::read(&screenshot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real picture"
    );
    eprintln!("report artefacts: {}", dir.display());
    let shown = numbers(&dom);

    // Then each framework's score and control counts are those of `qrie compliance`
    for framework in FRAMEWORKS {
        let (_, json, err) = qrie(
            &world,
            &["compliance", "--framework", framework, "--format", "json"],
        )
        .await;
        let live: Value = serde_json::from_str(&json).unwrap_or_else(|_| panic!("{err}"));
        let live = &live[0];
        let (passed, failed) = (
            live["overall"]["Passed"].as_u64().expect("passed"),
            live["overall"]["Failed"].as_u64().expect("failed"),
        );
        let key = |what: &str| format!("{what}:{id}:{framework}");
        assert_eq!(shown[&key("score")], percent(passed, failed), "{framework}");
        assert_eq!(shown[&key("passed")], passed.to_string(), "{framework}");
        assert_eq!(shown[&key("failed")], failed.to_string(), "{framework}");
        let status = |s: &str| live["by_status"][s].as_u64().unwrap_or(0).to_string();
        assert_eq!(shown[&key("no-resources")], status("NO_RESOURCES"));
        assert_eq!(shown[&key("manual")], status("MANUAL"));
        assert_eq!(shown[&key("not-evaluated")], status("NOT_EVALUATED"));
        // And each failed control is listed with its number of failing resources
        let controls = live["controls"].as_array().expect("controls");
        let failed_controls: Vec<&Value> = controls
            .iter()
            .filter(|c| c["status"] == "FAILED")
            .collect();
        assert_eq!(failed_controls.len() as u64, failed);
        for c in failed_controls {
            let control = c["id"].as_str().expect("an id");
            assert_eq!(
                shown[&format!("control:{id}:{framework}:{control}")],
                c["failing"].as_array().expect("failing").len().to_string(),
                "{framework} {control}"
            );
        }
    }
    let fsbp_failed: u64 = shown[&format!("failed:{id}:fsbp")]
        .parse()
        .expect("a count");
    assert!(fsbp_failed > 0, "the public bucket fails FSBP S3.2");

    // And the findings by severity, by service and by policy are those `qrie findings` lists
    let (_, json, _) = qrie(&world, &["findings", "--format", "json"]).await;
    let listed: Vec<Value> = serde_json::from_str(&json).expect("json");
    assert!(!listed.is_empty());
    assert_eq!(shown["findings-total"], listed.len().to_string());
    assert_eq!(shown["findings-suppressed"], "1");
    // And each failing resource shows the risk score `qrie findings` lists, in its order
    let risk_keys: Vec<String> = dom
        .match_indices("data-qrie=\"risk:")
        .map(|(at, _)| {
            let key = &dom[at + "data-qrie=\"".len()..];
            key[..key.find('"').expect("a closed attribute")].replace("&amp;", "&")
        })
        .collect();
    let listed_keys: Vec<String> = listed
        .iter()
        .map(|f| {
            format!(
                "risk:{}:{}",
                f["policy_id"].as_str().unwrap(),
                f["arn"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(risk_keys, listed_keys);
    for (key, f) in listed_keys.iter().zip(&listed) {
        let score = f["risk_score"].as_f64().expect("a score");
        assert_eq!(shown[key], format!("{score:.1}"), "{key}");
    }
    assert!(
        listed
            .windows(2)
            .all(|w| w[0]["risk_score"].as_f64() >= w[1]["risk_score"].as_f64()),
        "highest first"
    );
    for severity in ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"] {
        let n = listed.iter().filter(|f| f["severity"] == severity).count();
        assert_eq!(
            shown[&format!("findings-severity:{severity}")],
            n.to_string(),
            "{severity}"
        );
    }
    assert_ne!(
        shown["findings-severity:CRITICAL"], "0",
        "public read is critical"
    );
    assert_eq!(shown["findings-service:s3"], listed.len().to_string());
    let mut by_policy: HashMap<&str, usize> = HashMap::new();
    for f in &listed {
        *by_policy
            .entry(f["policy_id"].as_str().expect("a policy"))
            .or_default() += 1;
    }
    let top: Vec<(&String, &String)> = shown
        .iter()
        .filter(|(k, _)| k.starts_with("policy:"))
        .collect();
    assert_eq!(top.len(), by_policy.len().min(10), "{top:?}");
    for (key, n) in top {
        assert_eq!(by_policy[&key["policy:".len()..]].to_string(), *n, "{key}");
    }

    // And the trend shows the stored summaries, today's from the scan included
    for framework in FRAMEWORKS {
        let stored = world
            .deps
            .stores
            .compliance
            .history(id, framework, Utc::now().date_naive() - Duration::days(29))
            .await
            .expect("read");
        assert_eq!(stored.len(), 3, "{framework}: {stored:?}");
        for s in &stored {
            let key = |what: &str| format!("trend-{what}:{id}:{framework}:{}", s.day);
            assert_eq!(
                shown[&key("score")],
                percent(s.passed as u64, s.failed as u64)
            );
            assert_eq!(shown[&key("passed")], s.passed.to_string());
            assert_eq!(shown[&key("failed")], s.failed.to_string());
            assert_eq!(shown[&key("evaluated")], (s.passed + s.failed).to_string());
        }
    }

    // And a report of one framework counts only the findings of the policies mapped to it
    let cis_file = dir.join("report-cis.html");
    let (code, _, err) = qrie(
        &world,
        &[
            "report",
            "--html",
            &cis_file.to_string_lossy(),
            "--framework",
            "cis-aws-v5.0",
            "--account",
            id,
        ],
    )
    .await;
    assert_eq!(code, EXIT_OK, "{err}");
    let cis = numbers(&std::fs::read_to_string(&cis_file).expect("the CIS report"));
    let (_, json, _) = qrie(
        &world,
        &[
            "findings",
            "--framework",
            "cis-aws-v5.0",
            "--format",
            "json",
        ],
    )
    .await;
    let cis_listed: Vec<Value> = serde_json::from_str(&json).expect("json");
    assert_eq!(cis["findings-total"], cis_listed.len().to_string());
    assert!(
        cis_listed.len() < listed.len(),
        "CIS maps fewer S3 policies than FSBP"
    );
    let cis_score = format!("score:{id}:cis-aws-v5.0");
    assert_eq!(cis[&cis_score], shown[&cis_score]);
    assert!(!cis.contains_key(&format!("score:{id}:fsbp")), "{cis:?}");

    // And the planted markup is text: no script ran, no element was injected, the text is shown
    assert!(
        dom.contains("&lt;script&gt;document.title="),
        "the payload is shown as text"
    );
    assert!(!dom.to_lowercase().contains("<script"), "a script element");
    assert!(!dom.contains("id=\"qrie-injected\""), "an injected element");
    assert!(
        dom.contains("<title>qrie posture report</title>"),
        "no script renamed the page"
    );

    // And the file is self-contained: it loads nothing and forbids any fetch
    let page = std::fs::read_to_string(&file).expect("the report");
    for fetch in ["src=", "<link", "url(", "@import", "<script"] {
        assert!(!page.contains(fetch), "{fetch}");
    }
    assert!(page.contains("Content-Security-Policy\" content=\"default-src 'none'"));
}

#[tokio::test]
async fn the_trend_lists_one_row_per_stored_day_and_the_report_refuses_bad_input() {
    // Given an onboarded account with fsbp summaries of three days, one outside a 2-day trend
    let world = World::new().await;
    let account = world.onboard().await;
    let id = account.account_id.as_str();
    for (days_ago, passed) in [(5, 2), (1, 4), (0, 6)] {
        world
            .deps
            .stores
            .compliance
            .put(&summary(id, "fsbp", days_ago, passed))
            .await
            .expect("stored");
    }
    // When the trend of the last two days is read as JSON, CSV and a table
    let (code, json, err) = qrie(
        &world,
        &[
            "compliance",
            "--trend",
            "--framework",
            "fsbp",
            "--days",
            "2",
            "--format",
            "json",
        ],
    )
    .await;
    assert_eq!(code, EXIT_OK, "{err}");
    let rows: Vec<Value> = serde_json::from_str(&json).expect("json");
    // Then it has yesterday's and today's rows, oldest first, with passed, failed and evaluated
    let today = Utc::now().date_naive();
    let days: Vec<(String, u64, u64, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["day"].as_str().expect("a day").to_owned(),
                r["passed"].as_u64().expect("passed"),
                r["failed"].as_u64().expect("failed"),
                r["evaluated"].as_u64().expect("evaluated"),
            )
        })
        .collect();
    assert_eq!(
        days,
        [
            ((today - Duration::days(1)).to_string(), 4, 4, 8),
            (today.to_string(), 6, 4, 10)
        ]
    );
    assert!((rows[1]["score"].as_f64().expect("a score") - 0.6).abs() < 1e-9);
    let (_, csv, _) = qrie(
        &world,
        &["compliance", "--trend", "--days", "2", "--format", "csv"],
    )
    .await;
    assert_eq!(
        csv.lines().count(),
        3,
        "a header and the two fsbp rows: {csv}"
    );
    assert!(
        csv.contains(&format!("{id},fsbp,{today},0.6000,6,4,10")),
        "{csv}"
    );
    let (_, table, _) = qrie(&world, &["compliance", "--trend", "--account", id]).await;
    assert!(table.contains(&format!("{today}   60.0%")), "{table}");
    assert!(
        table.contains("CIS AWS Foundations Benchmark v5.0") && table.contains("no stored summary"),
        "every framework, CIS with no summary: {table}"
    );
    // And bad input is named
    let (code, _, err) = qrie(&world, &["compliance", "--trend", "--framework", "cis"]).await;
    assert_eq!(code, qrie_cli::EXIT_ERROR);
    assert!(err.contains("unknown framework \"cis\""), "{err}");
    let (code, _, err) = qrie(
        &world,
        &["report", "--html", "r.html", "--account", "000000000000"],
    )
    .await;
    assert_eq!(code, qrie_cli::EXIT_ERROR);
    assert!(
        err.contains("account 000000000000 is not onboarded"),
        "{err}"
    );
    let (code, _, err) = qrie(&world, &["report", "--html", "/nonexistent-dir/r.html"]).await;
    assert_eq!(code, qrie_cli::EXIT_ERROR);
    assert!(
        err.contains("cannot write the report to /nonexistent-dir/r.html"),
        "{err}"
    );
}
