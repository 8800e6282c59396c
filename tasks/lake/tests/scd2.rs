//! Slowly changing dimensions across two dates: a date's gold partition holds the versions it
//! opens (the warehouse load closes the ones they replace: tests/warehouse.rs), whatever the
//! order gold runs in.

use mercado_lake::contracts as c;
use mercado_lake::rows::Val;
use mercado_testkit::lake::{cents, day, s, Env};
use serde_json::json;

const D1: &str = "2025-03-17";
const D2: &str = "2025-03-18";

fn days(d: &str) -> Val {
    Val::Date(mercado_core::calendar::epoch_days(day(d)))
}

/// dim_inventory row: item, vendor, category, name, price, valid_from, valid_to, is_current.
fn item(id: i64, name: &str, price: i128, from: &str, to: Option<&str>) -> Vec<Val> {
    vec![
        Val::I64(id),
        Val::I64(1),
        Val::I32(1),
        s(name),
        cents(price),
        days(from),
        to.map_or(Val::Null, days),
        Val::Bool(to.is_none()),
    ]
}

#[tokio::test]
async fn a_price_change_opens_a_new_version() {
    let env = Env::new().await;
    let app = &env.app;
    app.customer("ana@example.com").await;
    let vendor = app.vendor("Porto").await;
    let mug = app.item(vendor, "Mug", "12.50").await;
    let lamp = app.item(vendor, "Lamp", "30.00").await;
    env.pipeline(day(D1)).await;

    let r = app
        .patch(&format!("/inventory/{mug}"), json!({"price": "14.00"}))
        .await;
    assert_eq!(r.status, 200);
    env.sql("UPDATE customers SET last_name = 'Costa' WHERE id = 1")
        .await;
    env.pipeline(day(D2)).await;

    let d1 = vec![
        item(mug, "Mug", 1250, D1, None),
        item(lamp, "Lamp", 3000, D1, None),
    ];
    // Only the mug changed on D2: the lamp's version of D1 still holds.
    let d2 = vec![item(mug, "Mug", 1400, D2, None)];
    assert_eq!(
        env.rows(c::GOLD_DIM_INVENTORY, day(D1)).await,
        sorted(d1.clone())
    );
    assert_eq!(env.rows(c::GOLD_DIM_INVENTORY, day(D2)).await, d2);

    let customers = env.rows(c::GOLD_DIM_CUSTOMER, day(D2)).await;
    let versions: Vec<(&Val, &Val, &Val, &Val)> = customers
        .iter()
        .map(|r| (&r[2], &r[5], &r[6], &r[7]))
        .collect();
    assert_eq!(
        versions,
        vec![(&s("Costa"), &days(D2), &Val::Null, &Val::Bool(true))]
    );

    // Out of order: gold for D1 again, after D2 exists, still compares with what came before D1 ...
    mercado_lake::tasks::gold::run(&env.whole(day(D1)))
        .await
        .expect("gold D1");
    assert_eq!(env.rows(c::GOLD_DIM_INVENTORY, day(D1)).await, sorted(d1));
    // ... and D2 again opens the same versions.
    mercado_lake::tasks::gold::run(&env.whole(day(D2)))
        .await
        .expect("gold D2");
    assert_eq!(env.rows(c::GOLD_DIM_INVENTORY, day(D2)).await, d2);
}

fn sorted(mut rows: Vec<Vec<Val>>) -> Vec<Vec<Val>> {
    rows.sort_by_key(|r| format!("{r:?}"));
    rows
}
