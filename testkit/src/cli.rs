//! The task binary and every task's shared contract (the README's "Lake tasks"), checked for each
//! task of the registry by `tasks/bin/tests/contract.rs`: documented `--help`, a clear refusal of a
//! missing or malformed date, one line of reason on a failure, and one JSON summary as the last
//! stdout line.

use std::process::Output;

use chrono::NaiveDate;

use crate::lake::Env;

/// `mercado-task <task>`, the built binary, with no Iceberg catalog: the Rust tests commit no
/// Iceberg tables (python/mercado_iceberg/tests and the DAG's tests read them through reconcile).
pub fn task(task: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(bin("mercado-task"));
    cmd.arg(task).env("MERCADO_ICEBERG_CATALOG", "none");
    cmd
}

/// A built binary, where cargo put it: next to the test's own `deps/` folder.
pub fn bin(task: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = dir.join(task);
    assert!(
        path.exists(),
        "{} is missing: build the task binaries first (cargo build --workspace)",
        path.display()
    );
    path
}

pub fn help_and_date_errors(task: &str) {
    let help = self::task(task).arg("--help").output().expect("run --help");
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

    let missing = self::task(task)
        .env_remove("MERCADO_DATE")
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(2));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("--date"), "{err}");
    assert!(missing.stdout.is_empty());

    let bad = self::task(task)
        .args(["--date", "2025-02-30"])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("expected a date as YYYY-MM-DD"), "{err}");
}

/// Runs a task against the test environment.
pub fn run(task: &str, env: &Env, date: NaiveDate) -> Output {
    command(task, env, date).output().expect("run task binary")
}

/// The command [`run`] runs, to add settings to: the test's bucket, database and table, logs at
/// info, no warehouse.
pub fn command(task: &str, env: &Env, date: NaiveDate) -> std::process::Command {
    let mut cmd = self::task(task);
    cmd.args(["--date", &date.format("%Y-%m-%d").to_string()])
        .env("MERCADO_LAKE_BUCKET", &env.bucket)
        .env("DATABASE_URL", &env.app.database_url)
        .env("MERCADO_DDB_TABLE", &env.app.name)
        .env("RUST_LOG", "info")
        // Audit rows only where a test asks for them (see entry::TaskArgs::audit_warehouse).
        .env_remove("WAREHOUSE_URL");
    cmd
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
