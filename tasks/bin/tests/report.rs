#[path = "../../lake/tests/common/cli_contract.rs"]
mod cli_contract;
#[path = "../../lake/tests/common/mod.rs"]
mod common;

const TASK: &str = "report";

#[test]
fn help_and_date_errors() {
    cli_contract::help_and_date_errors(TASK);
    let help = common::task(TASK).arg("--help").output().expect("help");
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("--out-dir <DIR>") && text.contains("MERCADO_REPORT_DIR"),
        "{text}"
    );
}

#[tokio::test]
async fn writes_the_report_and_names_it_in_the_summary() {
    let env = common::Env::new().await;
    let date = common::day("2025-03-17");
    let user = env.app.customer("ana@example.com").await;
    let vendor = env.app.vendor("Porto").await;
    let item = env.app.item(vendor, "Mug", "3.25").await;
    env.txn(
        "t1",
        user,
        "2025-03-17T10:00:00Z",
        &[(item, vendor, 2, "3.25")],
    )
    .await;
    env.pipeline(date).await;
    let warehouse = env.warehouse().await;
    let out = tempfile_dir();
    let run = || {
        common::task(TASK)
            .args(["--date", "2025-03-17"])
            .env("WAREHOUSE_URL", &warehouse)
            .env("MERCADO_LAKE_BUCKET", &env.bucket)
            .env("MERCADO_REPORT_DIR", &out)
            .output()
            .expect("run")
    };
    // Before the load: the date is not in the warehouse.
    let early = run();
    let reason = cli_contract::one_line_failure(&early, TASK);
    assert!(
        reason.contains("load_redshift --date 2025-03-17"),
        "{reason}"
    );

    let load = env.load_args(date, &warehouse);
    mercado_lake::tasks::load_redshift::run(&load)
        .await
        .expect("load");
    let v = cli_contract::summary(&run(), TASK, date);
    let path = v["figures"]["report_path"].as_str().expect("report_path");
    assert_eq!(
        std::path::Path::new(path),
        out.canonicalize()
            .expect("out dir")
            .join("mercado-report-2025-03-17.html")
    );
    let html = std::fs::read_to_string(path).expect("the report");
    assert!(html.contains("data-chart=\"daily\"") && html.contains(">6.50</td>"));
    assert_eq!(
        v["figures"]["report_uri"],
        format!(
            "s3://{}/reports/mercado/kpi/dt=2025-03-17/report.html",
            env.bucket
        )
    );
    assert_eq!(v["datasets"]["reports/mercado/kpi"]["rows_written"], 1);
    if let Some(parent) = out.parent() {
        let _ = std::fs::remove_dir_all(parent);
    }
}

/// A fresh folder for the report (the binary creates it).
fn tempfile_dir() -> std::path::PathBuf {
    std::env::temp_dir()
        .join(common::api::unique_name())
        .join("reports")
}
