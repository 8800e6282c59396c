#[path = "../../lake/tests/common/cli_contract.rs"]
mod cli_contract;
#[path = "../../lake/tests/common/mod.rs"]
mod common;

const TASK: &str = "load_redshift";

#[test]
fn help_and_date_errors() {
    cli_contract::help_and_date_errors(TASK);
    let help = common::task(TASK).arg("--help").output().expect("help");
    let text = String::from_utf8_lossy(&help.stdout);
    for needle in [
        "--target <TARGET>",
        "redshift",
        "postgres",
        "WAREHOUSE_URL",
        "MERCADO_REDSHIFT_IAM_ROLE",
    ] {
        assert!(text.contains(needle), "--help lacks {needle}");
    }
}

#[tokio::test]
async fn loads_a_date_and_prints_its_summary_last() {
    let env = common::Env::new().await;
    let date = common::day("2025-03-17");
    let warehouse = env.warehouse().await;
    let run = || {
        common::task(TASK)
            .args(["--date", "2025-03-17"])
            .env("MERCADO_LAKE_BUCKET", &env.bucket)
            .env("WAREHOUSE_URL", &warehouse)
            .output()
            .expect("run")
    };
    let reason = cli_contract::one_line_failure(&run(), "load_redshift");
    assert!(
        reason.contains("run `gold --date 2025-03-17` first"),
        "{reason}"
    );

    env.app.customer("ana@example.com").await;
    env.pipeline(date).await;
    let v = cli_contract::summary(&run(), "load_redshift", date);
    assert_eq!(v["datasets"]["core.dim_customer"]["rows_out"], 1);
    assert_eq!(v["datasets"]["core.dim_category"]["rows_out"], 9);
}
