//! The traffic generator's scenario mode on real services: a living catalogue across days, the
//! labels file naming exactly the fraud scenario's transactions, and a day already generated
//! never written twice.

use mercado_testkit::api as common;

use chrono::NaiveDate;
use common::TestApp;
use mercado_traffic::scenarios::Scenario;
use mercado_traffic::{self as traffic, TrafficArgs};

fn args(app: &TestApp, dir: &std::path::Path, date: &str, scenario: Scenario) -> TrafficArgs {
    TrafficArgs {
        date: NaiveDate::parse_from_str(date, "%Y-%m-%d").expect("date"),
        api_url: app.base.clone(),
        api_token: Some(app.token.clone()),
        customers: 12,
        vendors: 3,
        items: 15,
        orders: 30,
        carts: 4,
        bad_records: false,
        seed: 42,
        state: Some(dir.join("state.json")),
        scenario: Some(scenario),
        labels: Some(dir.join("labels.jsonl")),
        live: false,
        concurrency: 8,
        rate: 0.0,
    }
}

#[tokio::test]
async fn scenario_days_label_their_fraud_and_keep_the_catalogue() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().expect("tmp");
    let store = &app.state.ddb;

    let fraud = traffic::run(
        &args(&app, dir.path(), "2025-03-17", Scenario::Fraud),
        store,
    )
    .await
    .expect("fraud day");
    let normal = traffic::run(
        &args(&app, dir.path(), "2025-03-18", Scenario::Normal),
        store,
    )
    .await
    .expect("normal day");
    assert_eq!(fraud.fraud_orders, Some(3 * 4 + 2 + 6));
    assert_eq!(normal.fraud_orders, Some(0));
    assert!(
        normal.customers > 12,
        "accounts open every day: {}",
        normal.customers
    );

    let labels: Vec<serde_json::Value> = std::fs::read_to_string(dir.path().join("labels.jsonl"))
        .expect("labels")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(labels.len(), 2);
    assert_eq!(labels[0]["scenario"], "fraud");
    assert_eq!(labels[1]["scenario"], "normal");
    let ids = labels[0]["fraud_transactions"].as_array().expect("ids");
    assert_eq!(ids.len(), 20);
    for id in ids {
        let t = store
            .get_transaction(id.as_str().expect("id"))
            .await
            .expect("read")
            .expect("every labelled transaction was written");
        assert_eq!(t.created_at.date_naive().to_string(), "2025-03-17");
    }
    assert_eq!(labels[0]["orders"].as_u64(), Some(fraud.orders as u64));

    // A day already generated is not written again.
    let again = traffic::run(
        &args(&app, dir.path(), "2025-03-17", Scenario::Fraud),
        store,
    )
    .await
    .expect("re-run");
    assert_eq!((again.status, again.orders), ("skipped", 0));
    let lines = std::fs::read_to_string(dir.path().join("labels.jsonl")).expect("labels");
    assert_eq!(lines.lines().count(), 2);
}

/// Live mode: today's orders through the API's own carts and checkouts, customers concurrently;
/// every labelled transaction is one the API answered.
#[tokio::test]
async fn live_mode_checks_out_through_the_api() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().expect("tmp");
    let today = chrono::Utc::now().date_naive().to_string();
    let mut live = args(&app, dir.path(), &today, Scenario::Fraud);
    live.live = true;
    live.orders = 20;
    let summary = traffic::run(&live, &app.state.ddb).await.expect("live day");
    let labels = std::fs::read_to_string(dir.path().join("labels.jsonl")).expect("labels");
    let day: serde_json::Value = serde_json::from_str(labels.trim()).expect("json");
    let ids = day["fraud_transactions"].as_array().expect("ids");
    assert_eq!(ids.len(), 20, "every fraud order went through");
    assert_eq!(day["orders"].as_u64(), Some(summary.orders as u64));
    for id in ids {
        let r = app
            .get(&format!("/transactions/{}", id.as_str().expect("id")))
            .await;
        assert_eq!(r.status, reqwest::StatusCode::OK, "{}", r.body);
    }
    // A past day cannot be live.
    let mut past = args(&app, dir.path(), "2025-03-17", Scenario::Normal);
    past.live = true;
    let err = traffic::run(&past, &app.state.ddb)
        .await
        .expect_err("live is today only");
    assert!(
        err.to_string().contains("--live writes today's traffic"),
        "{err}"
    );
}

/// Against an API with a tight per-client rate limit, the generator waits out every 429 as its
/// `Retry-After` says and writes the same day as against an API without a limit: the same orders
/// and GMV, none lost.
#[tokio::test]
async fn a_rate_limited_api_is_waited_out_and_the_day_is_whole() {
    let limited = {
        let name = common::unique_name();
        let database_url = common::create_database(&name).await;
        let mut config = common::config(database_url.clone(), name.clone());
        config.rate_limit_per_second = 40;
        config.rate_limit_burst = 5;
        let state = mercado_api::AppState::connect(&config)
            .await
            .expect("stores ready");
        TestApp::serve(state, name, database_url).await
    };
    let free = TestApp::spawn().await;
    let (dir_limited, dir_free) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let day = "2025-03-17";
    let expected = traffic::run(
        &args(&free, dir_free.path(), day, Scenario::Normal),
        &free.state.ddb,
    )
    .await
    .expect("the day without a limit");
    let waited_before = traffic::requests_waited();
    let got = traffic::run(
        &args(&limited, dir_limited.path(), day, Scenario::Normal),
        &limited.state.ddb,
    )
    .await
    .expect("the day with a limit");
    assert!(
        traffic::requests_waited() > waited_before,
        "the limit (40/s, burst 5) was never met: the test proves nothing"
    );
    assert_eq!(
        (got.orders, &got.gmv, got.carts),
        (expected.orders, &expected.gmv, expected.carts)
    );
    assert!(got.orders > 0);
}
