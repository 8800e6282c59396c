//! `--memory-limit`: a join or a snapshot comparison bigger than the limit allows runs in
//! partitions spilled to local disk, and gives exactly what a run without a limit gives.

use mercado_lake::contracts as c;
use mercado_lake::tasks::{enrich, gold};
use mercado_testkit::lake::{day, Env};

const D1: &str = "2025-03-17";
const D2: &str = "2025-03-18";

#[tokio::test]
async fn a_tiny_limit_spills_in_partitions_and_changes_nothing() {
    let env = Env::new().await;
    let app = &env.app;
    for i in 0..3 {
        app.customer(&format!("c{i}@example.com")).await;
    }
    let vendors = [app.vendor("Porto").await, app.vendor("Lisboa").await];
    let mut items = Vec::new();
    for i in 0..40 {
        let vendor = vendors[i % 2];
        items.push((app.item(vendor, &format!("Item {i}"), "2.50").await, vendor));
    }
    env.pipeline(day(D1)).await;

    // Day 2: a third of the prices change; 30 orders over the catalogue.
    env.sql("UPDATE inventory SET price = price + 1 WHERE id % 3 = 0")
        .await;
    for t in 0..30usize {
        let (item, vendor) = items[(t * 7) % items.len()];
        let price = if item % 3 == 0 { "3.50" } else { "2.50" };
        env.txn(
            &format!("t{t}"),
            (t % 3) as i64 + 1,
            "2025-03-18T12:00:00Z",
            &[(item, vendor, 1 + (t % 2) as i64, price)],
        )
        .await;
    }
    env.pipeline(day(D2)).await;
    let datasets = [
        c::WORK_SALES_LINES,
        c::GOLD_FACT_SALES,
        c::GOLD_DIM_INVENTORY,
        c::GOLD_DIM_CUSTOMER,
    ];
    let mut unlimited = Vec::new();
    for d in datasets {
        unlimited.push(env.rows(d, day(D2)).await);
    }
    assert_eq!(unlimited[0].len(), 30, "every line enriched");
    assert_eq!(unlimited[2].len(), 13, "the changed prices opened versions");

    // 1 KiB: the 40-item inventory and the 40-key snapshot are each several partitions.
    let mut args = env.whole(day(D2));
    args.lake.memory_limit = Some(1024);
    let summary = enrich::run(&args).await.expect("enrich under the limit");
    let split = summary.datasets[&c::WORK_SALES_LINES.id.to_string()].spilled_partitions;
    assert!(split > 1, "enrich joined in {split} partitions");
    let summary = gold::run(&args).await.expect("gold under the limit");
    let split = summary.datasets[&c::GOLD_DIM_INVENTORY.id.to_string()].spilled_partitions;
    assert!(split > 1, "gold compared in {split} partitions");
    for (d, want) in datasets.into_iter().zip(unlimited) {
        assert_eq!(env.rows(d, day(D2)).await, want, "{}", d.id);
    }
}
