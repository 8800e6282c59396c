//! The whole flow over HTTP on real PostgreSQL and DynamoDB: customers → vendors → inventory →
//! cart → checkout → transaction stored, cart gone.

use mercado_testkit::api as common;

use common::TestApp;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn customer_buys_from_two_vendors() {
    let app = TestApp::spawn().await;

    let r = app
        .post(
            "/customers/",
            json!({"first_name": " Ana ", "last_name": "Silva", "email": "Ana.Silva@Example.COM"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["email"], "ana.silva@example.com");
    assert_eq!(r.body["first_name"], "Ana");
    assert!(r.body["joined_at"].is_string());
    let user = r.body["id"].as_i64().expect("id");

    let r = app
        .post(
            "/vendors/",
            json!({"vendor_name": "Loja do Porto", "region": "pt"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["region"], "PT");
    let porto = r.body["id"].as_i64().expect("id");
    let lisboa = app.vendor("Loja de Lisboa").await;

    // Money exact from a number and from a string; category as a numeric string.
    let r = app
        .post(
            &format!("/inventory/?vendor_id={porto}"),
            json!({"item_name": "Mug", "category": "3", "price": 19.99, "stock": 5}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        (r.body["price"].as_f64(), r.body["category"].as_i64()),
        (Some(19.99), Some(3))
    );
    assert_eq!(r.body["vendor_id"].as_i64(), Some(porto));
    let mug = r.body["id"].as_i64().expect("id");
    let book = app.item(lisboa, "Book", "0.10").await;

    // Client prices are ignored: the server's are in the reply.
    let r = app
        .post(
            "/cart/",
            json!({"user_id": user.to_string(), "cart": [
                {"item_id": mug, "vendor_id": porto, "qty": 3, "unit_price": 0.01, "total_price": 0.03},
                {"item_id": book.to_string(), "qty": "7".parse::<i64>().expect("n")}
            ], "coupon": "ignored"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["cart"][0]["unit_price"].as_f64(), Some(19.99));
    assert_eq!(r.body["cart"][0]["total_price"].as_f64(), Some(59.97));
    assert_eq!(r.body["cart"][1]["vendor_id"].as_i64(), Some(lisboa));
    assert_eq!(r.body["cart"][1]["total_price"].as_f64(), Some(0.7));

    let r = app.get(&format!("/cart/{user}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["cart"].as_array().map(Vec::len), Some(2));

    let r = app
        .post(
            "/checkout/",
            json!({"user_id": user, "number_of_installments": 3}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["message"], "Transaction completed");
    assert_eq!(r.body["total_price"].as_f64(), Some(60.67));
    let txn_id = r.body["transaction_id"].as_str().expect("id").to_string();
    let created_at = r.body["created_at"].clone();

    // The transaction is stored with its lines, prices and installments ...
    let r = app.get(&format!("/transactions/{txn_id}/")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["user_id"].as_i64(), Some(user));
    assert_eq!(r.body["installments"].as_i64(), Some(3));
    assert_eq!(r.body["total_price"].as_f64(), Some(60.67));
    assert_eq!(r.body["created_at"], created_at);
    let lines = r.body["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["line_no"].as_i64(), Some(1));
    assert_eq!(lines[0]["qty"].as_i64(), Some(3));
    assert_eq!(lines[1]["unit_price"].as_f64(), Some(0.1));

    // ... listed under the customer ...
    let r = app.get(&format!("/customers/{user}/transactions")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["transactions"][0]["transaction_id"].as_str(),
        Some(txn_id.as_str())
    );

    // ... and the cart is gone.
    let r = app.get(&format!("/cart/{user}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.checkout(user, None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
}

#[tokio::test]
async fn reads_answer_with_and_without_trailing_slash() {
    let app = TestApp::spawn().await;
    let user = app.customer("slash@example.com").await;
    let vendor = app.vendor("V").await;
    let item = app.item(vendor, "Lamp", "35.00").await;
    for path in [
        format!("/customers/{user}"),
        format!("/customers/{user}/"),
        format!("/vendors/{vendor}"),
        format!("/vendors/{vendor}/"),
        format!("/inventory/{item}"),
        format!("/inventory/{item}/"),
        format!("/inventory?vendor_id={vendor}"),
        format!("/inventory/?vendor_id={vendor}"),
        "/categories".to_string(),
        "/categories/".to_string(),
        "/healthz/".to_string(),
        "/readyz".to_string(),
    ] {
        let r = app.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    }
    let r = app.get("/categories").await;
    assert_eq!(r.body[0], json!({"id": 1, "name": "General"}));
    assert!(r.body.as_array().map_or(0, Vec::len) >= 5);
}

#[tokio::test]
async fn inventory_patch_moves_updated_at_and_pages() {
    let app = TestApp::spawn().await;
    let vendor = app.vendor("V").await;
    let other = app.vendor("W").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.item(vendor, &format!("Item {i}"), "1.50").await);
    }
    app.item(other, "Not listed", "2.00").await;

    let before = app.get(&format!("/inventory/{}", ids[0])).await.body;
    let r = app
        .patch(
            &format!("/inventory/{}/", ids[0]),
            json!({"price": "2.25", "stock": 7}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (r.body["price"].as_f64(), r.body["stock"].as_i64()),
        (Some(2.25), Some(7))
    );
    assert_eq!(r.body["item_name"], before["item_name"]);
    assert!(r.body["updated_at"].as_str() > before["updated_at"].as_str());

    // Two pages of 3 and 2, only this vendor's items.
    let r = app
        .get(&format!("/inventory?vendor_id={vendor}&limit=3"))
        .await;
    let first: Vec<i64> = r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["id"].as_i64())
        .collect();
    assert_eq!(first, ids[..3]);
    let after = r.body["next_after_id"].as_i64().expect("next page");
    let r = app
        .get(&format!(
            "/inventory?vendor_id={vendor}&limit=3&after_id={after}"
        ))
        .await;
    let second: Vec<i64> = r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["id"].as_i64())
        .collect();
    assert_eq!(second, ids[3..]);
    assert!(r.body.get("next_after_id").is_none());
}

#[tokio::test]
async fn docs_and_openapi_are_served() {
    let app = TestApp::spawn().await;
    let r = app.get("/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.")));
    for path in [
        "/customers",
        "/inventory/{id}",
        "/cart",
        "/checkout",
        "/transactions/{id}",
    ] {
        assert!(
            r.body["paths"].get(path).is_some(),
            "{path} missing from OpenAPI"
        );
    }
    // Links chain customer → cart → checkout → transaction for clients and stateful testers.
    for (pointer, target) in [
        (
            "/paths/~1customers/post/responses/201/links/FillCart",
            "replaceCart",
        ),
        (
            "/paths/~1cart/post/responses/200/links/Checkout",
            "checkout",
        ),
        (
            "/paths/~1checkout/post/responses/200/links/GetTransaction",
            "getTransaction",
        ),
        (
            "/paths/~1vendors/post/responses/201/links/AddItem",
            "createItem",
        ),
        (
            "/paths/~1inventory/post/responses/201/links/UpdateItem",
            "updateItem",
        ),
    ] {
        assert_eq!(
            r.body.pointer(&format!("{pointer}/operationId")),
            Some(&json!(target)),
            "{pointer}"
        );
    }
    let html = app
        .http
        .get(format!("{}/docs/", app.base))
        .send()
        .await
        .expect("docs");
    assert_eq!(html.status(), StatusCode::OK);
    assert!(html.text().await.expect("text").contains("/openapi.json"));
}
