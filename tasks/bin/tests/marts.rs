#[path = "../../lake/tests/common/cli_contract.rs"]
mod cli_contract;
#[path = "../../lake/tests/common/mod.rs"]
mod common;

const TASK: &str = "marts";

#[test]
fn help_and_date_errors() {
    cli_contract::help_and_date_errors(TASK);
}

#[tokio::test]
async fn reports_the_days_kpis_last() {
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
    let run = || {
        common::task(TASK)
            .args(["--date", "2025-03-17"])
            .env("WAREHOUSE_URL", &warehouse)
            .env("MERCADO_LAKE_BUCKET", &env.bucket)
            .output()
            .expect("run")
    };
    let load = env.load_args(date, &warehouse);
    mercado_lake::tasks::load_redshift::run(&load)
        .await
        .expect("load");
    let v = cli_contract::summary(&run(), "marts", date);
    assert_eq!(v["figures"]["gmv"], "6.50");
    assert_eq!(v["figures"]["orders"], "1");
    assert_eq!(v["figures"]["aov"], "6.50");
    assert_eq!(v["datasets"]["marts.top_items"]["rows_out"], 1);
}
