//! Checkout is atomic and idempotent, and priced from inventory at the moment of checkout.

use mercado_testkit::api as common;

use common::TestApp;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

async fn transaction_count(app: &TestApp, user: i64) -> usize {
    let r = app
        .get(&format!("/customers/{user}/transactions?limit=100"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["transactions"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn repeating_an_idempotency_key_returns_the_first_result() {
    let app = TestApp::spawn().await;
    let (user, _) = app.customer_with_cart("4.20", 2).await;
    let first = app.checkout(user, Some("order-123")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["total_price"].as_f64(), Some(8.4));
    let again = app.checkout(user, Some("order-123")).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body, first.body);
    assert_eq!(transaction_count(&app, user).await, 1);

    // A new cart with the same key still answers the first result and writes nothing ...
    let item = app
        .get(&format!("/customers/{user}/transactions"))
        .await
        .body["transactions"][0]["lines"][0]["item_id"]
        .as_i64()
        .expect("item");
    let r = app
        .post(
            "/cart",
            json!({"user_id": user, "cart": [{"item_id": item, "qty": 5}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let again = app.checkout(user, Some("order-123")).await;
    assert_eq!(again.body, first.body);
    assert_eq!(transaction_count(&app, user).await, 1);
    // ... while a new key checks the new cart out.
    let second = app.checkout(user, Some("order-124")).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_ne!(second.body["transaction_id"], first.body["transaction_id"]);
    assert_eq!(second.body["total_price"].as_f64(), Some(21.0));
    assert_eq!(transaction_count(&app, user).await, 2);
}

#[tokio::test]
async fn fifty_concurrent_checkouts_of_one_cart_make_one_transaction() {
    let app = TestApp::spawn().await;
    let (user, _) = app.customer_with_cart("10.00", 1).await;
    let replies = join_all((0..50).map(|_| app.checkout(user, None))).await;
    let ok = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let conflict = replies
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .count();
    assert_eq!(
        (ok, conflict),
        (1, 49),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(transaction_count(&app, user).await, 1);
    assert_eq!(
        app.get(&format!("/cart/{user}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn concurrent_checkouts_with_one_key_all_get_the_same_transaction() {
    let app = TestApp::spawn().await;
    let (user, _) = app.customer_with_cart("3.00", 3).await;
    let replies = join_all((0..20).map(|_| app.checkout(user, Some("same-key")))).await;
    let ids: std::collections::HashSet<String> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            r.body["transaction_id"].as_str().expect("id").to_string()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(transaction_count(&app, user).await, 1);
}

#[tokio::test]
async fn checkout_charges_the_inventory_price_of_the_moment() {
    let app = TestApp::spawn().await;
    let (user, item) = app.customer_with_cart("5.00", 4).await;
    let r = app
        .patch(&format!("/inventory/{item}"), json!({"price": 6.25}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.checkout(user, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["total_price"].as_f64(), Some(25.0));
    let txn = app
        .get(&format!(
            "/transactions/{}",
            r.body["transaction_id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(txn.body["lines"][0]["unit_price"].as_f64(), Some(6.25));
}

#[tokio::test]
async fn a_customers_transactions_page_newest_first() {
    let app = TestApp::spawn().await;
    let (user, item) = app.customer_with_cart("1.00", 1).await;
    let mut ids = Vec::new();
    for qty in 1..=5 {
        let r = app
            .post(
                "/cart",
                json!({"user_id": user, "cart": [{"item_id": item, "qty": qty}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        ids.push(
            app.checkout(user, None).await.body["transaction_id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut path = format!("/customers/{user}/transactions?limit=2");
    loop {
        let r = app.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        seen.extend(
            r.body["transactions"]
                .as_array()
                .expect("list")
                .iter()
                .map(|t| t["transaction_id"].as_str().expect("id").to_string()),
        );
        match r.body["next_cursor"].as_str() {
            Some(c) => {
                path = format!(
                    "/customers/{user}/transactions?limit=2&cursor={}",
                    urlencode(c)
                )
            }
            None => break,
        }
    }
    assert_eq!(seen, ids);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
