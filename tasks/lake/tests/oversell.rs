//! No oversell, end to end: 64 buyers rush an item with 10 in stock over HTTP; exactly 10 are
//! told their order went through, and after the day's pipeline the warehouse holds exactly those
//! 10 orders and 10 units of the item.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use futures::future::join_all;
use mercado_lake::tasks::{load_redshift, reconcile};
use mercado_testkit::lake::*;
use reqwest::StatusCode;
use serde_json::json;

const BUYERS: usize = 64;
const STOCK: i64 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_buyers_of_ten_units_reach_the_warehouse_as_ten_orders() {
    let env = Env::new().await;
    let app = &env.app;
    let vendor = app.vendor("Loja").await;
    let r = app
        .post(
            &format!("/inventory?vendor_id={vendor}"),
            json!({"item_name": "Lamp", "category": 3, "price": "30.00", "stock": STOCK}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let item = r.body["id"].as_i64().expect("id");
    let mut users = Vec::with_capacity(BUYERS);
    for n in 0..BUYERS {
        let user = app.customer(&format!("rush{n}@example.com")).await;
        let r = app
            .post(
                "/cart",
                json!({"user_id": user, "cart": [{"item_id": item, "qty": 1}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        users.push(user);
    }

    let keys: Vec<String> = users.iter().map(|u| format!("rush-{u}")).collect();
    let replies = tokio::time::timeout(
        Duration::from_secs(60),
        join_all(
            users
                .iter()
                .zip(&keys)
                .map(|(&u, k)| app.checkout(u, Some(k))),
        ),
    )
    .await
    .expect("every checkout answered within a minute");
    let mut answered = HashSet::new();
    let mut days = BTreeSet::<NaiveDate>::new();
    for r in &replies {
        match r.status {
            StatusCode::OK => {
                answered.insert(r.body["transaction_id"].as_str().expect("id").to_string());
                let at: DateTime<Utc> = r.body["created_at"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .expect("created_at")
                    .with_timezone(&Utc);
                days.insert(at.date_naive());
            }
            StatusCode::CONFLICT => assert_eq!(r.body["error"]["code"], "out_of_stock"),
            other => panic!("{other}: {}", r.body),
        }
    }
    assert_eq!(answered.len(), STOCK as usize);

    let warehouse = env.warehouse().await;
    for &d in &days {
        env.pipeline(d).await;
        load_redshift::run(&env.load_args(d, &warehouse))
            .await
            .expect("load");
        reconcile::run(&env.reconcile_args(d, &warehouse))
            .await
            .expect("reconciled");
    }
    let (client, conn) = tokio_postgres::connect(&warehouse, tokio_postgres::NoTls)
        .await
        .expect("warehouse");
    tokio::spawn(conn);
    let in_warehouse: HashSet<String> = client
        .query("SELECT DISTINCT transaction_id FROM core.fact_sales", &[])
        .await
        .expect("fact_sales")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(in_warehouse, answered);
    let units: i64 = client
        .query_one(
            "SELECT COALESCE(SUM(qty), 0)::bigint FROM core.fact_sales WHERE item_id = $1",
            &[&item],
        )
        .await
        .expect("units")
        .get(0);
    assert_eq!(units, STOCK);
}
