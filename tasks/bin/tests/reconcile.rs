#[path = "../../lake/tests/common/cli_contract.rs"]
mod cli_contract;
#[path = "../../lake/tests/common/mod.rs"]
mod common;

const TASK: &str = "reconcile";

#[test]
fn help_and_date_errors() {
    cli_contract::help_and_date_errors(TASK);
}

#[tokio::test]
async fn reconciles_a_loaded_date_and_prints_its_summary_last() {
    let env = common::Env::new().await;
    let date = common::day("2025-03-17");
    let user = env.app.customer("ana@example.com").await;
    let vendor = env.app.vendor("Porto").await;
    let item = env.app.item(vendor, "Mug", "3.00").await;
    env.txn(
        "t1",
        user,
        "2025-03-17T10:00:00Z",
        &[(item, vendor, 2, "3.00")],
    )
    .await;
    env.pipeline(date).await;
    let warehouse = env.warehouse().await;
    let load = env.load_args(date, &warehouse);
    mercado_lake::tasks::load_redshift::run(&load)
        .await
        .expect("load");
    let out = common::task(TASK)
        .args(["--date", "2025-03-17"])
        .env("MERCADO_LAKE_BUCKET", &env.bucket)
        .env("MERCADO_DDB_TABLE", &env.app.name)
        .env("WAREHOUSE_URL", &warehouse)
        .output()
        .expect("run");
    let v = cli_contract::summary(&out, "reconcile", date);
    assert_eq!(
        (
            v["rows_in"].as_u64(),
            v["datasets"]["warehouse"]["rows_out"].as_u64()
        ),
        (Some(1), Some(1))
    );
}
