//! Issue 20, "Trust": an Idempotency-Key is bound to the request it answered and expires; stock is
//! taken with the order, all lines or none, so concurrent buyers cannot oversell, and a DynamoDB
//! write that fails gives the stock back.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;
use mercado_api::keys;
use mercado_testkit::api as common;

use common::TestApp;
use reqwest::StatusCode;
use serde_json::json;

/// Transactions of the test's table, read straight from DynamoDB.
async fn ddb_transactions(app: &TestApp) -> usize {
    let mut count = 0;
    let mut start = None;
    loop {
        let out = app
            .state
            .ddb
            .client()
            .scan()
            .table_name(&app.name)
            .filter_expression("entity = :t")
            .expression_attribute_values(":t", AttributeValue::S("transaction".into()))
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .send()
            .await
            .expect("scan");
        count += out.items().len();
        start = out.last_evaluated_key().cloned();
        if start.is_none() {
            return count;
        }
    }
}

async fn stock(app: &TestApp, item: i64) -> i32 {
    let client = app.state.pg.get().await.expect("pg");
    client
        .query_one("SELECT stock FROM inventory WHERE id = $1", &[&item])
        .await
        .expect("stock")
        .get(0)
}

async fn item_with_stock(app: &TestApp, vendor: i64, stock: i64) -> i64 {
    let r = app
        .post(
            &format!("/inventory?vendor_id={vendor}"),
            json!({"item_name": "Lamp", "category": 1, "price": "30.00", "stock": stock}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_i64().expect("id")
}

async fn cart(app: &TestApp, user: i64, lines: serde_json::Value) {
    let r = app
        .post("/cart", json!({"user_id": user, "cart": lines}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn a_key_replays_only_the_request_it_answered() {
    let app = TestApp::spawn().await;
    let (user, item) = app.customer_with_cart("4.20", 2).await;
    let body = json!({"user_id": user, "number_of_installments": 7});
    let first = app.checkout_with(&body, Some("k-1")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);

    // The same request as parsed (the id as a string, 7 as 7.0) is the same request: the first
    // receipt.
    let same = json!({"user_id": user.to_string(), "number_of_installments": 7.0});
    let again = app.checkout_with(&same, Some("k-1")).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body, first.body);
    assert_eq!(ddb_transactions(&app).await, 1);
    assert_eq!(
        stock(&app, item).await,
        100_000 - 2,
        "a replay takes no stock"
    );

    // Another request with the key: 422, nothing written.
    let other = json!({"user_id": user, "number_of_installments": 3});
    let r = app.checkout_with(&other, Some("k-1")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "idempotency_key_reused");
    assert_eq!(r.field(), Some("Idempotency-Key"));
    assert!(
        r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("another request")),
        "{}",
        r.body
    );
    // Absent installments is 1, not 7: another request too.
    let r = app.checkout(user, Some("k-1")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(ddb_transactions(&app).await, 1);

    // Keys are scoped to the user: another user's same key is a new order.
    let (other_user, _) = app.customer_with_cart("1.00", 1).await;
    let r = app
        .checkout_with(
            &json!({"user_id": other_user, "number_of_installments": 7}),
            Some("k-1"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_ne!(r.body["transaction_id"], first.body["transaction_id"]);
    assert_eq!(ddb_transactions(&app).await, 2);
}

#[tokio::test]
async fn an_expired_key_is_not_replayed() {
    let app = TestApp::spawn().await;
    let (user, item) = app.customer_with_cart("5.00", 3).await;
    // A record DynamoDB's TTL has not deleted yet: expired a minute ago, same request.
    let expired = (chrono::Utc::now() - chrono::Duration::minutes(1)).timestamp();
    let record: HashMap<String, AttributeValue> = HashMap::from([
        (
            keys::PK.into(),
            AttributeValue::S(keys::idem_pk(user, "old-key")),
        ),
        (keys::SK.into(), AttributeValue::S(keys::IDEM_SK.into())),
        ("entity".into(), AttributeValue::S("idempotency".into())),
        (
            "request_digest".into(),
            AttributeValue::S(mercado_api::rules::checkout::request_digest(
                mercado_api::model::FlexId(user),
                1,
            )),
        ),
        (
            "transaction_id".into(),
            AttributeValue::S("0190a000-0000-7000-8000-000000000000".into()),
        ),
        ("total_price".into(), AttributeValue::N("1.00".into())),
        (
            "created_at".into(),
            AttributeValue::S("2026-01-01T00:00:00.000Z".into()),
        ),
        (
            keys::TTL_ATTRIBUTE.into(),
            AttributeValue::N(expired.to_string()),
        ),
    ]);
    app.state
        .ddb
        .client()
        .put_item()
        .table_name(&app.name)
        .set_item(Some(record))
        .send()
        .await
        .expect("put expired record");

    let r = app.checkout(user, Some("old-key")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_ne!(
        r.body["transaction_id"], "0190a000-0000-7000-8000-000000000000",
        "an expired record is not replayed"
    );
    assert_eq!(r.body["total_price"].as_f64(), Some(15.0));
    assert_eq!(ddb_transactions(&app).await, 1);
    assert_eq!(stock(&app, item).await, 100_000 - 3);
    // The new order's record replaced the expired one: the key now replays it.
    let again = app.checkout(user, Some("old-key")).await;
    assert_eq!(again.body, r.body);
    assert_eq!(ddb_transactions(&app).await, 1);
}

#[tokio::test]
async fn a_line_without_stock_takes_nothing_and_is_named() {
    let app = TestApp::spawn().await;
    let user = app.customer("short@example.com").await;
    let vendor = app.vendor("Loja").await;
    let plenty = item_with_stock(&app, vendor, 50).await;
    let scarce = item_with_stock(&app, vendor, 2).await;
    cart(
        &app,
        user,
        json!([{"item_id": plenty, "qty": 5}, {"item_id": scarce, "qty": 3}]),
    )
    .await;
    let r = app.checkout(user, None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "out_of_stock");
    assert_eq!(r.field(), Some("cart[1].qty"));
    assert_eq!(
        (stock(&app, plenty).await, stock(&app, scarce).await),
        (50, 2)
    );
    assert_eq!(ddb_transactions(&app).await, 0);
    // The cart is still open; with what is in stock it checks out.
    cart(
        &app,
        user,
        json!([{"item_id": plenty, "qty": 5}, {"item_id": scarce, "qty": 2}]),
    )
    .await;
    let r = app.checkout(user, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (stock(&app, plenty).await, stock(&app, scarce).await),
        (45, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_buyers_of_ten_units_make_ten_orders() {
    const BUYERS: usize = 64;
    let app = TestApp::spawn().await;
    let vendor = app.vendor("Loja").await;
    let item = item_with_stock(&app, vendor, 10).await;
    let mut users = Vec::with_capacity(BUYERS);
    for n in 0..BUYERS {
        let user = app.customer(&format!("buyer{n}@example.com")).await;
        cart(&app, user, json!([{"item_id": item, "qty": 1}])).await;
        users.push(user);
    }
    let started = Instant::now();
    let replies = tokio::time::timeout(
        Duration::from_secs(60),
        join_all(users.iter().map(|&u| app.checkout(u, None))),
    )
    .await
    .expect("64 checkouts answered within a minute");
    let elapsed = started.elapsed();
    let ok = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let out_of_stock = replies
        .iter()
        .filter(|r| {
            r.status == StatusCode::CONFLICT
                && r.body["error"]["code"] == "out_of_stock"
                && r.field() == Some("cart[0].qty")
        })
        .count();
    eprintln!("oversell: {ok} x 200, {out_of_stock} x 409 out_of_stock in {elapsed:?}");
    assert_eq!(
        (ok, out_of_stock),
        (10, BUYERS - 10),
        "{:?}",
        replies
            .iter()
            .map(|r| (r.status, r.body["error"]["code"].clone()))
            .collect::<Vec<_>>()
    );
    assert_eq!(stock(&app, item).await, 0);
    assert_eq!(ddb_transactions(&app).await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_dynamodb_write_gives_the_stock_back() {
    let app = TestApp::spawn().await;
    let user = app.customer("giveback@example.com").await;
    let vendor = app.vendor("Loja").await;
    let item = item_with_stock(&app, vendor, 10).await;
    cart(&app, user, json!([{"item_id": item, "qty": 4}])).await;

    // Hold the item's row so the checkout stops at taking stock, after it read the cart.
    let lock = app.state.pg.get().await.expect("pg");
    lock.batch_execute(&format!(
        "BEGIN; SELECT 1 FROM inventory WHERE id = {item} FOR UPDATE"
    ))
    .await
    .expect("lock");
    let checkout = tokio::spawn({
        let base = app.base.clone();
        let http = app.http.clone();
        async move {
            http.post(format!("{base}/checkout"))
                .json(&json!({"user_id": user}))
                .send()
                .await
                .expect("sent")
        }
    });
    // Watched from another session: pg_stat_activity is a snapshot within a transaction.
    let watch = app.state.pg.get().await.expect("pg");
    let waiting = Instant::now();
    loop {
        let blocked = watch
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE inventory SET stock%'",
                &[],
            )
            .await
            .expect("activity")
            .get::<_, i64>(0);
        if blocked > 0 {
            break;
        }
        assert!(
            waiting.elapsed() < Duration::from_secs(3),
            "checkout never waited on the row"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The cart changes meanwhile: the DynamoDB transaction's condition on its version fails.
    cart(&app, user, json!([{"item_id": item, "qty": 1}])).await;
    lock.batch_execute("ROLLBACK").await.expect("unlock");

    let resp = checkout.await.expect("checkout task");
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "cart_changed");
    assert_eq!(stock(&app, item).await, 10, "the stock was given back");
    assert_eq!(ddb_transactions(&app).await, 0);

    // The new cart checks out and takes its own stock.
    let r = app.checkout(user, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(stock(&app, item).await, 9);
    assert_eq!(ddb_transactions(&app).await, 1);
}
