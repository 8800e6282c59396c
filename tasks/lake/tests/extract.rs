//! extract: the day index read across every shard and page; incremental mode by watermark.

mod common;

use common::{day, Env};
use mercado_lake::contracts as c;
use mercado_lake::tasks::extract::{self, Mode};
use serde_json::json;

#[tokio::test]
async fn reads_every_shard_and_page_of_the_day_and_nothing_else() {
    let env = Env::new().await;
    let user = env.app.customer("ana@example.com").await;
    let vendor = env.app.vendor("Porto").await;
    let item = env.app.item(vendor, "Mug", "2.00").await;
    for i in 0..60 {
        env.txn(
            &format!("t{i:03}"),
            user,
            &format!("2025-03-17T{:02}:{:02}:00Z", i / 3, i % 60),
            &[(item, vendor, 1, "2.00")],
        )
        .await;
    }
    env.txn(
        "before",
        user,
        "2025-03-16T23:59:59.999Z",
        &[(item, vendor, 1, "2.00")],
    )
    .await;
    env.txn(
        "after",
        user,
        "2025-03-18T00:00:00Z",
        &[(item, vendor, 1, "2.00")],
    )
    .await;

    let mut args = env.extract_args(day("2025-03-17"));
    args.ddb_page_size = Some(2);
    let summary = extract::run(&args).await.expect("extract");
    assert_eq!(summary.datasets["raw/dynamodb/transactions"].rows_in, 60);
    let rows = env.rows(c::RAW_TRANSACTIONS, day("2025-03-17")).await;
    let ids: std::collections::BTreeSet<&str> = rows.iter().filter_map(|r| r[0].as_str()).collect();
    assert_eq!(ids.len(), 60);
    assert!(!ids.contains("before") && !ids.contains("after"));
    let manifest = env
        .lake()
        .await
        .manifest(&c::RAW_TRANSACTIONS.id.at(day("2025-03-17")))
        .await
        .expect("read")
        .expect("published");
    assert_eq!(
        manifest.watermark.as_deref(),
        Some("2025-03-17T19:59:00.000Z")
    );
}

#[tokio::test]
async fn incremental_reads_rows_changed_since_the_last_watermark() {
    let env = Env::new().await;
    let vendor = env.app.vendor("Porto").await;
    let mug = env.app.item(vendor, "Mug", "2.00").await;
    env.app.item(vendor, "Lamp", "9.00").await;
    extract::run(&env.extract_args(day("2025-03-17")))
        .await
        .expect("snapshot");
    let lake = env.lake().await;
    let first = lake
        .manifest(&c::RAW_INVENTORY.id.at(day("2025-03-17")))
        .await
        .expect("read")
        .expect("published");
    assert_eq!(first.rows, 2);

    let r = env
        .app
        .patch(&format!("/inventory/{mug}"), json!({"stock": 3}))
        .await;
    assert_eq!(r.status, 200);
    let mut args = env.extract_args(day("2025-03-18"));
    args.mode = Mode::Incremental;
    let summary = extract::run(&args).await.expect("incremental");
    assert_eq!(summary.datasets["raw/postgres/inventory"].rows_in, 1);
    assert_eq!(summary.datasets["raw/postgres/vendors"].rows_in, 0);
    let second = lake
        .manifest(&c::RAW_INVENTORY.id.at(day("2025-03-18")))
        .await
        .expect("read")
        .expect("published");
    assert!(
        second.watermark > first.watermark,
        "{:?} then {:?}",
        first.watermark,
        second.watermark
    );
    let vendors = lake
        .manifest(&c::RAW_VENDORS.id.at(day("2025-03-18")))
        .await
        .expect("read")
        .expect("published");
    assert_eq!(vendors.rows, 0);
    assert!(
        vendors.watermark.is_some(),
        "an empty increment keeps the previous watermark"
    );
    let rows = env.rows(c::RAW_INVENTORY, day("2025-03-18")).await;
    assert_eq!(rows[0][0].as_i64(), Some(mug));
}
