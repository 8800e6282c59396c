//! A frozen S3 endpoint (the emulator stopped with SIGSTOP, as a hung network or server looks to
//! a client): a task run as users run it, with short AWS timeouts, fails within its bound with a
//! one-line reason instead of waiting forever; the partition published before is still the one
//! readers see; once the endpoint is back (SIGCONT), the same task gives the same result as before.
//!
//! Alone in its test binary: it points the process's AWS_ENDPOINT_URL at an emulator of its own,
//! so freezing it touches no other test.

use std::time::{Duration, Instant};

use chrono::Utc;
use mercado_testkit::cli;
use mercado_testkit::cluster::{signal, OwnMoto};
use mercado_testkit::lake::Env;

#[tokio::test]
async fn a_frozen_s3_fails_the_task_within_its_timeouts_and_the_retry_matches() {
    let moto = OwnMoto::start();
    std::env::set_var("AWS_ENDPOINT_URL", &moto.url);
    let env = Env::new().await;
    for price in ["12.50", "30.00"] {
        let (user, _) = env.app.customer_with_cart(price, 2).await;
        let r = env
            .app
            .checkout(user, Some(&format!("frozen-{price}")))
            .await;
        assert!(r.status.is_success(), "{}", r.body);
    }
    let date = Utc::now().date_naive();
    let extract = cli::run("extract", &env, date);
    cli::summary(&extract, "extract", date);
    let before = cli::summary(&cli::run("clean", &env, date), "clean", date);

    // Frozen: every S3 call hangs. 2 s per attempt, 2 attempts, 6 s per call at most.
    signal(moto.pid(), "STOP", false);
    let started = Instant::now();
    let out = cli::command("clean", &env, date)
        .env("MERCADO_AWS_ATTEMPT_TIMEOUT_SECONDS", "2")
        .env("MERCADO_AWS_MAX_ATTEMPTS", "2")
        .env("MERCADO_AWS_OPERATION_TIMEOUT_SECONDS", "6")
        .output()
        .expect("clean runs");
    let took = started.elapsed();
    signal(moto.pid(), "CONT", false);
    let reason = cli::one_line_failure(&out, "clean");
    eprintln!("clean against a frozen S3 failed after {took:.1?}: {reason}");
    assert!(took < Duration::from_secs(30), "{took:?}: {reason}");
    assert!(
        reason.to_lowercase().contains("timeout") || reason.to_lowercase().contains("timed out"),
        "{reason}"
    );

    // Back: the same task (as Airflow's retry runs it) gives what the first run gave.
    let after = cli::summary(&cli::run("clean", &env, date), "clean", date);
    for key in ["rows_in", "rows_out", "quarantined", "duplicates"] {
        assert_eq!(after[key], before[key], "{key}");
    }
    assert_eq!(
        after["datasets"].as_object().map(|d| d.len()),
        before["datasets"].as_object().map(|d| d.len())
    );
}
