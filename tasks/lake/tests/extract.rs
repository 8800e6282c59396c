//! extract: the day index read across every shard and page.

mod common;

use common::{day, Env};
use mercado_lake::contracts as c;
use mercado_lake::tasks::extract;

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

/// A table spanning more ids than one reader takes is read by several connections, each a range
/// of ids, in one snapshot: every row exactly once, whatever the number of readers.
#[tokio::test]
async fn a_large_table_is_read_in_ranges_every_row_once() {
    let env = Env::new().await;
    let vendor = env.app.vendor("Porto").await;
    let mut ids = Vec::new();
    for name in ["Mug", "Lamp", "Book"] {
        ids.push(env.app.item(vendor, name, "2.00").await);
    }
    // Far ids: the span crosses the threshold, so the ranges split it.
    for id in [150_000_i64, 150_001, 400_000] {
        env.sql(&format!(
            "INSERT INTO inventory (id, vendor_id, category_id, item_name, price, stock) \
             VALUES ({id}, {vendor}, 1, 'Far {id}', 3.00, 1)"
        ))
        .await;
        ids.push(id);
    }
    for readers in [1, 2, 3] {
        let mut args = env.extract_args(day("2025-03-17"));
        args.pg_readers = readers;
        extract::run(&args).await.expect("extract");
        let mut got: Vec<i64> = env
            .rows(c::RAW_INVENTORY, day("2025-03-17"))
            .await
            .iter()
            .filter_map(|r| r[0].as_i64())
            .collect();
        got.sort_unstable();
        assert_eq!(got, ids, "{readers} reader(s)");
    }
}
