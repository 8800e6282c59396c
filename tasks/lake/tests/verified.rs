//! Verified files: each reader (`clean`, `enrich`, `gold`, `load_redshift`), run as users run it,
//! finds its input object truncated, deleted, or replaced by another valid Parquet file (the same
//! dataset's file of the other day) and fails with one line naming the key: its own output
//! partition stays as it was published before (the warehouse too, for the load), its failed run
//! is in the audit, and once the object is back the same run succeeds.

use chrono::NaiveDate;
use mercado_lake::contracts::{self as c, Contract};
use mercado_lake::lake::Lake;
use mercado_lake::tasks;
use mercado_testkit::cli;
use mercado_testkit::lake::{day, Env};
use tokio_postgres::NoTls;

const D1: &str = "2025-03-17";
const D2: &str = "2025-03-18";

/// Two days of one sale each, through gold (and loaded for D1 into the test's warehouse).
async fn two_days(env: &Env, warehouse: &str) {
    let app = &env.app;
    let ana = app.customer("ana@example.com").await;
    let vendor = app.vendor("Porto").await;
    let mug = app.item(vendor, "Mug", "12.50").await;
    env.txn(
        "t1",
        ana,
        "2025-03-17T10:00:00Z",
        &[(mug, vendor, 2, "12.50")],
    )
    .await;
    env.txn(
        "t2",
        ana,
        "2025-03-18T11:00:00Z",
        &[(mug, vendor, 1, "12.50")],
    )
    .await;
    for d in [D1, D2] {
        let date = day(d);
        tasks::extract::run(&env.extract_args(date))
            .await
            .expect("extract");
        tasks::clean::run(&env.whole(date)).await.expect("clean");
        tasks::enrich::run(&env.whole(date)).await.expect("enrich");
        tasks::gold::run(&env.whole(date)).await.expect("gold");
    }
    tasks::load_redshift::run(&env.load_args(day(D1), warehouse))
        .await
        .expect("load D1");
}

/// The published manifest of `contract` for `date`, as JSON (to compare before and after).
async fn manifest(lake: &Lake, contract: Contract, date: NaiveDate) -> String {
    let m = lake
        .manifest(&contract.id.at(date))
        .await
        .expect("read manifest")
        .expect("published");
    serde_json::to_string(&m).expect("json")
}

async fn warehouse_rows(url: &str) -> Vec<String> {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("warehouse");
    tokio::spawn(conn);
    let mut rows = Vec::new();
    for t in [
        "fact_sales",
        "dim_customer",
        "dim_inventory",
        "fact_cart_snapshot",
    ] {
        for r in client
            .query(&format!("SELECT t::text FROM core.{t} t ORDER BY 1"), &[])
            .await
            .expect(t)
        {
            rows.push(format!("{t} {}", r.get::<_, String>(0)));
        }
    }
    rows
}

async fn audit_status(url: &str, run_id: &str) -> Vec<String> {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("warehouse");
    tokio::spawn(conn);
    client
        .query(
            "SELECT status FROM audit.pipeline_runs WHERE run_id = $1",
            &[&run_id],
        )
        .await
        .expect("audit")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// `reader` on D2 with its input `input` tampered three ways; `output` is what it publishes.
async fn tampered_input_is_refused(reader: &str, input: Contract, output: Option<Contract>) {
    let env = Env::new().await;
    let warehouse = env.warehouse().await;
    two_days(&env, &warehouse).await;
    let lake = Lake::connect(&env.args(day(D2))).await.expect("lake");
    let (d1, d2) = (day(D1), day(D2));
    let victim = lake
        .manifest(&input.id.at(d2))
        .await
        .expect("manifest")
        .expect("published")
        .files[0]
        .key
        .clone();
    let other_day = lake
        .manifest(&input.id.at(d1))
        .await
        .expect("manifest")
        .expect("published")
        .files[0]
        .key
        .clone();
    let original = lake.get_bytes(&victim).await.expect("get").expect("exists");
    let swapped = lake
        .get_bytes(&other_day)
        .await
        .expect("get")
        .expect("exists");
    let output_before = match output {
        Some(o) => manifest(&lake, o, d2).await,
        None => String::new(),
    };
    let warehouse_before = warehouse_rows(&warehouse).await;

    for (how, bytes) in [
        ("truncated", Some(original[..original.len() / 2].to_vec())),
        ("deleted", None),
        ("swapped", Some(swapped.clone())),
    ] {
        match &bytes {
            Some(b) => lake
                .put_bytes(&victim, b.clone(), "application/octet-stream")
                .await
                .expect("tamper"),
            None => lake
                .delete_keys(std::slice::from_ref(&victim))
                .await
                .expect("delete"),
        }
        let run_id = format!("{reader}-{how}");
        let out = cli::command(reader, &env, d2)
            .env("WAREHOUSE_URL", &warehouse)
            .env("MERCADO_RUN_ID", &run_id)
            .output()
            .expect("run");
        let reason = cli::one_line_failure(&out, reader);
        assert!(reason.contains(&victim), "{reader}, {how}: {reason}");
        if let Some(o) = output {
            assert_eq!(
                manifest(&lake, o, d2).await,
                output_before,
                "{reader}, {how}: its output was published"
            );
        }
        assert_eq!(
            warehouse_rows(&warehouse).await,
            warehouse_before,
            "{reader}, {how}"
        );
        assert_eq!(
            audit_status(&warehouse, &run_id).await,
            ["failed"],
            "{reader}, {how}"
        );
        lake.put_bytes(&victim, original.clone(), "application/octet-stream")
            .await
            .expect("restore");
    }
    let out = cli::command(reader, &env, d2)
        .env("WAREHOUSE_URL", &warehouse)
        .output()
        .expect("run");
    cli::summary(&out, reader, d2);
}

#[tokio::test]
async fn clean_refuses_a_tampered_raw_file() {
    tampered_input_is_refused(
        "clean",
        c::RAW_TRANSACTIONS,
        Some(c::CLEAN_TRANSACTION_LINES),
    )
    .await;
}

#[tokio::test]
async fn enrich_refuses_a_tampered_cleaned_file() {
    tampered_input_is_refused(
        "enrich",
        c::CLEAN_TRANSACTION_LINES,
        Some(c::WORK_SALES_LINES),
    )
    .await;
}

#[tokio::test]
async fn gold_refuses_a_tampered_work_file() {
    tampered_input_is_refused("gold", c::WORK_SALES_LINES, Some(c::GOLD_FACT_SALES)).await;
}

#[tokio::test]
async fn load_redshift_refuses_a_tampered_gold_file() {
    tampered_input_is_refused("load_redshift", c::GOLD_FACT_SALES, None).await;
}
