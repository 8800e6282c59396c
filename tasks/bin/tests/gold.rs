#[path = "../../lake/tests/common/cli_contract.rs"]
mod cli_contract;
#[path = "../../lake/tests/common/mod.rs"]
mod common;

use mercado_lake::tasks;

const TASK: &str = "gold";

#[test]
fn help_and_date_errors() {
    cli_contract::help_and_date_errors(TASK);
}

#[tokio::test]
async fn prints_its_summary_last_or_one_line_of_failure() {
    let env = common::Env::new().await;
    let date = common::day("2025-03-17");
    let reason = cli_contract::one_line_failure(&cli_contract::run(TASK, &env, date), "gold");
    assert!(
        reason.contains("run `clean --date 2025-03-17` first"),
        "{reason}"
    );

    env.app.customer("ana@example.com").await;
    tasks::extract::run(&env.extract_args(date))
        .await
        .expect("extract");
    tasks::clean::run(&env.args(date)).await.expect("clean");
    tasks::enrich::run(&env.args(date)).await.expect("enrich");
    let v = cli_contract::summary(&cli_contract::run(TASK, &env, date), "gold", date);
    assert_eq!(v["datasets"]["gold/mercado/dim_customer"]["rows_out"], 1);
    assert_eq!(v["datasets"]["gold/mercado/dim_category"]["rows_out"], 9);

    // With WAREHOUSE_URL set, the run is recorded in audit.pipeline_runs under its run id.
    let warehouse = env.warehouse().await;
    let load = env.load_args(date, &warehouse);
    tasks::load_redshift::run(&load)
        .await
        .expect("load creates the audit schema");
    let out = common::task(TASK)
        .args(["--date", "2025-03-17", "--run-id", "gold-audited"])
        .env("MERCADO_LAKE_BUCKET", &env.bucket)
        .env("WAREHOUSE_URL", &warehouse)
        .output()
        .expect("run");
    cli_contract::summary(&out, "gold", date);
    let (client, conn) = tokio_postgres::connect(&warehouse, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let row = client
        .query_one("SELECT status, rows FROM audit.pipeline_runs WHERE task = 'gold' AND run_id = 'gold-audited'", &[])
        .await
        .expect("audit row");
    assert_eq!(
        (row.get::<_, String>(0).as_str(), row.get::<_, i64>(1)),
        ("ok", 11)
    );
}
