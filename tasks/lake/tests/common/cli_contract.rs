//! The task binaries' shared contract (design.md, "A task's contract"), checked by each task
//! task's test in `tasks/bin/tests/`: documented `--help`, a clear refusal of a missing or malformed date,
//! and one JSON summary as the last stdout line.

#![allow(dead_code)]

use std::process::Output;

use chrono::NaiveDate;

use crate::common::Env;

pub fn help_and_date_errors(task: &str) {
    let help = crate::common::task(task)
        .arg("--help")
        .output()
        .expect("run --help");
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for needle in [
        "--date <YYYY-MM-DD>",
        "[env: MERCADO_DATE=",
        "--bucket",
        "AWS_ENDPOINT_URL",
        "--run-id",
        "Usage:",
    ] {
        assert!(
            text.contains(needle),
            "{task} --help lacks {needle}:\n{text}"
        );
    }
    assert!(text.contains(task), "{text}");

    let missing = crate::common::task(task)
        .env_remove("MERCADO_DATE")
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(2));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("--date"), "{err}");
    assert!(missing.stdout.is_empty());

    let bad = crate::common::task(task)
        .args(["--date", "2025-02-30"])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("expected a date as YYYY-MM-DD"), "{err}");
}

/// Runs a task against the test environment.
pub fn run(task: &str, env: &Env, date: NaiveDate) -> Output {
    crate::common::task(task)
        .args(["--date", &date.format("%Y-%m-%d").to_string()])
        .env("MERCADO_LAKE_BUCKET", &env.bucket)
        .env("DATABASE_URL", &env.app.database_url)
        .env("MERCADO_DDB_TABLE", &env.app.name)
        .env("RUST_LOG", "info")
        // Audit rows only where a test asks for them (see entry::TaskArgs::audit_warehouse).
        .env_remove("WAREHOUSE_URL")
        .output()
        .expect("run task binary")
}

/// The summary: the last stdout line, one JSON object, after which nothing is printed.
pub fn summary(out: &Output, task: &str, date: NaiveDate) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{task} failed: {stderr}");
    assert!(stdout.ends_with('\n'));
    let last = stdout.lines().last().expect("a summary line");
    let v: serde_json::Value = serde_json::from_str(last).expect("the last line is JSON");
    assert_eq!(v["task"], task);
    assert_eq!(v["date"], date.format("%Y-%m-%d").to_string());
    assert_eq!(v["status"], "ok");
    assert!(v["seconds"].is_number() && v["rows_in"].is_number() && v["datasets"].is_object());
    assert!(stderr.contains("INFO"), "logs go to stderr");
    v
}

/// A failed run: non-zero, nothing on stdout, one line of reason on stderr.
pub fn one_line_failure(out: &Output, task: &str) -> String {
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().expect("a reason").to_string();
    assert!(last.starts_with(&format!("{task} failed: ")), "{last}");
    last
}
