//! Every client mistake is a 4xx with a JSON body naming the field; never a 5xx.

use mercado_testkit::api as common;

use common::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const UNPROCESSABLE: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

async fn expect(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Value,
    status: StatusCode,
    field: Option<&str>,
) {
    let r = app.send(method.clone(), path, Some(&body)).await;
    assert_eq!(
        (r.status, r.field()),
        (status, field),
        "{method} {path} {body} -> {}",
        r.body
    );
}

#[tokio::test]
async fn customer_errors() {
    let app = TestApp::spawn().await;
    app.customer("taken@example.com").await;
    let cases = [
        (
            json!({"first_name": "A", "last_name": "B"}),
            UNPROCESSABLE,
            "email",
        ),
        (
            json!({"first_name": "A", "last_name": "B", "email": "not-an-email"}),
            UNPROCESSABLE,
            "email",
        ),
        (
            json!({"first_name": "A", "last_name": "B", "email": 42}),
            UNPROCESSABLE,
            "email",
        ),
        (
            json!({"first_name": "", "last_name": "B", "email": "a@b.co"}),
            UNPROCESSABLE,
            "first_name",
        ),
        (
            json!({"first_name": "A", "last_name": "x".repeat(101), "email": "a@b.co"}),
            UNPROCESSABLE,
            "last_name",
        ),
        (
            json!({"first_name": "A\u{0}", "last_name": "B", "email": "a@b.co"}),
            UNPROCESSABLE,
            "first_name",
        ),
        (
            json!({"first_name": null, "last_name": "B", "email": "a@b.co"}),
            UNPROCESSABLE,
            "first_name",
        ),
        (
            json!({"first_name": "A", "last_name": "B", "email": "TAKEN@example.com"}),
            StatusCode::CONFLICT,
            "email",
        ),
        (json!([1, 2]), UNPROCESSABLE, "body"),
    ];
    for (body, status, field) in cases {
        expect(&app, Method::POST, "/customers", body, status, Some(field)).await;
    }
}

#[tokio::test]
async fn vendor_and_inventory_errors() {
    let app = TestApp::spawn().await;
    let vendor = app.vendor("V").await;
    expect(
        &app,
        Method::POST,
        "/vendors",
        json!({"vendor_name": "V", "region": "XX"}),
        UNPROCESSABLE,
        Some("region"),
    )
    .await;
    expect(
        &app,
        Method::POST,
        "/vendors",
        json!({"vendor_name": "V", "region": "PRT"}),
        UNPROCESSABLE,
        Some("region"),
    )
    .await;
    expect(
        &app,
        Method::POST,
        "/vendors",
        json!({"vendor_name": " ", "region": "PT"}),
        UNPROCESSABLE,
        Some("vendor_name"),
    )
    .await;

    let item = json!({"item_name": "Mug", "category": 1, "price": 2.5});
    let with = |k: &str, v: Value| {
        let mut b = item.clone();
        b[k] = v;
        b
    };
    let inv = format!("/inventory?vendor_id={vendor}");
    expect(
        &app,
        Method::POST,
        "/inventory",
        item.clone(),
        UNPROCESSABLE,
        Some("vendor_id"),
    )
    .await;
    expect(
        &app,
        Method::POST,
        "/inventory?vendor_id=abc",
        item.clone(),
        UNPROCESSABLE,
        Some("vendor_id"),
    )
    .await;
    expect(
        &app,
        Method::POST,
        "/inventory?vendor_id=999999",
        item.clone(),
        StatusCode::NOT_FOUND,
        Some("vendor_id"),
    )
    .await;
    expect(
        &app,
        Method::POST,
        &inv,
        with("price", json!(0)),
        UNPROCESSABLE,
        Some("price"),
    )
    .await;
    expect(
        &app,
        Method::POST,
        &inv,
        with("price", json!(-3.5)),
        UNPROCESSABLE,
        Some("price"),
    )
    .await;
    expect(
        &app,
        Method::POST,
        &inv,
        with("price", json!(1.005)),
        UNPROCESSABLE,
        Some("price"),
    )
    .await;
    expect(
        &app,
        Method::POST,
        &inv,
        with("price", json!("12,50")),
        UNPROCESSABLE,
        Some("price"),
    )
    .await;
    expect(
        &app,
        Method::POST,
        &inv,
        with("price", json!(1e13)),
        UNPROCESSABLE,
        Some("price"),
    )
    .await;
    expect(
        &app,
        Method::POST,
        &inv,
        with("category", json!(99)),
        UNPROCESSABLE,
        Some("category"),
    )
    .await;
    expect(
        &app,
        Method::POST,
        &inv,
        with("category", json!("x")),
        UNPROCESSABLE,
        Some("category"),
    )
    .await;
    expect(
        &app,
        Method::POST,
        &inv,
        with("stock", json!(-1)),
        UNPROCESSABLE,
        Some("stock"),
    )
    .await;
    expect(
        &app,
        Method::POST,
        &inv,
        with("item_name", json!("")),
        UNPROCESSABLE,
        Some("item_name"),
    )
    .await;

    let id = app.item(vendor, "Mug", "2.50").await;
    let path = format!("/inventory/{id}");
    expect(
        &app,
        Method::PATCH,
        &path,
        json!({}),
        UNPROCESSABLE,
        Some("body"),
    )
    .await;
    expect(
        &app,
        Method::PATCH,
        &path,
        json!({"price": "0"}),
        UNPROCESSABLE,
        Some("price"),
    )
    .await;
    expect(
        &app,
        Method::PATCH,
        &path,
        json!({"category": 1234}),
        UNPROCESSABLE,
        Some("category"),
    )
    .await;
    expect(
        &app,
        Method::PATCH,
        "/inventory/999999",
        json!({"stock": 1}),
        StatusCode::NOT_FOUND,
        None,
    )
    .await;
    let r = app.get("/inventory?limit=0").await;
    assert_eq!((r.status, r.field()), (UNPROCESSABLE, Some("limit")));
    let r = app.get("/inventory?vendor_id=999999").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cart_errors() {
    let app = TestApp::spawn().await;
    let user = app.customer("cart@example.com").await;
    let vendor = app.vendor("V").await;
    let other = app.vendor("W").await;
    let item = app.item(vendor, "Mug", "2.50").await;
    let line = |qty: i64| json!({"item_id": item, "qty": qty});
    let cases = [
        (json!({"user_id": 999999, "cart": [line(1)]}), "user_id"),
        (json!({"user_id": "abc", "cart": [line(1)]}), "user_id"),
        (json!({"user_id": 0, "cart": [line(1)]}), "user_id"),
        (json!({"user_id": user, "cart": []}), "cart"),
        (json!({"user_id": user}), "cart"),
        (json!({"user_id": user, "cart": vec![line(1); 101]}), "cart"),
        (
            json!({"user_id": user, "cart": [line(1), line(0)]}),
            "cart[1].qty",
        ),
        (
            json!({"user_id": user, "cart": [line(10_001)]}),
            "cart[0].qty",
        ),
        (
            json!({"user_id": user, "cart": [{"item_id": item, "qty": 1.5}]}),
            "cart[0].qty",
        ),
        (
            json!({"user_id": user, "cart": [{"item_id": 999999, "qty": 1}]}),
            "cart[0].item_id",
        ),
        (
            json!({"user_id": user, "cart": [{"item_id": item, "vendor_id": other, "qty": 1}]}),
            "cart[0].vendor_id",
        ),
        (
            json!({"user_id": user, "cart": [line(6000), line(4001)]}),
            "cart[1].qty",
        ),
        (
            json!({"user_id": user, "cart": [{"qty": 1}]}),
            "cart[0].item_id",
        ),
    ];
    for (body, field) in cases {
        expect(
            &app,
            Method::POST,
            "/cart",
            body,
            UNPROCESSABLE,
            Some(field),
        )
        .await;
    }
    // 100 lines is the limit, not past it.
    let mut items = Vec::new();
    for i in 0..100 {
        items.push(json!({"item_id": app.item(vendor, &format!("I{i}"), "1.00").await, "qty": 1}));
    }
    let r = app
        .post("/cart", json!({"user_id": user, "cart": items}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// Lines of one item are summed into one line, priced by the server; the sum obeys the per-line
/// limit and every line's vendor_id must still be the item's vendor.
#[tokio::test]
async fn cart_merges_repeated_items() {
    let app = TestApp::spawn().await;
    let user = app.customer("merge@example.com").await;
    let vendor = app.vendor("V").await;
    let other = app.vendor("W").await;
    let mug = app.item(vendor, "Mug", "2.50").await;
    let pen = app.item(vendor, "Pen", "0.10").await;

    let r = app
        .post(
            "/cart",
            json!({"user_id": user, "cart": [
                {"item_id": mug, "qty": 3},
                {"item_id": pen, "qty": 1},
                {"item_id": mug, "vendor_id": vendor, "qty": 4, "unit_price": 0.01},
                {"item_id": mug.to_string(), "qty": 1},
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let expected = json!([
        {"item_id": mug, "vendor_id": vendor, "qty": 8, "unit_price": 2.5, "total_price": 20.0},
        {"item_id": pen, "vendor_id": vendor, "qty": 1, "unit_price": 0.1, "total_price": 0.1},
    ]);
    assert_eq!(r.body["cart"], expected);
    let r = app.get(&format!("/cart/{user}")).await;
    assert_eq!(r.body["cart"], expected);

    // Exactly the limit once merged is fine; one more unit is refused on the line that overflows.
    let r = app
        .post(
            "/cart",
            json!({"user_id": user, "cart": [
                {"item_id": mug, "qty": 6000}, {"item_id": mug, "qty": 4000},
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (
            r.body["cart"][0]["qty"].as_i64(),
            r.body["cart"][0]["total_price"].as_f64()
        ),
        (Some(10_000), Some(25_000.0))
    );
    let overflow = app
        .post(
            "/cart",
            json!({"user_id": user, "cart": [
                {"item_id": mug, "qty": 6000}, {"item_id": pen, "qty": 1}, {"item_id": mug, "qty": 4001},
            ]}),
        )
        .await;
    assert_eq!(
        (overflow.status, overflow.field()),
        (UNPROCESSABLE, Some("cart[2].qty")),
        "{}",
        overflow.body
    );
    assert!(
        overflow.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("10001")),
        "{}",
        overflow.body
    );
    expect(
        &app,
        Method::POST,
        "/cart",
        json!({"user_id": user, "cart": [
            {"item_id": mug, "vendor_id": vendor, "qty": 1}, {"item_id": mug, "vendor_id": other, "qty": 1},
        ]}),
        UNPROCESSABLE,
        Some("cart[1].vendor_id"),
    )
    .await;
    // The refused carts left the last accepted one in place; checkout charges the merged line.
    let r = app.checkout(user, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["total_price"].as_f64(), Some(25_000.0));
}

#[tokio::test]
async fn checkout_errors() {
    let app = TestApp::spawn().await;
    let user = app.customer("checkout@example.com").await;
    expect(
        &app,
        Method::POST,
        "/checkout",
        json!({"user_id": user}),
        StatusCode::CONFLICT,
        Some("user_id"),
    )
    .await;
    expect(
        &app,
        Method::POST,
        "/checkout",
        json!({"user_id": 999999}),
        UNPROCESSABLE,
        Some("user_id"),
    )
    .await;
    expect(
        &app,
        Method::POST,
        "/checkout",
        json!({}),
        UNPROCESSABLE,
        Some("user_id"),
    )
    .await;
    expect(
        &app,
        Method::POST,
        "/checkout",
        json!({"user_id": user, "number_of_installments": 0}),
        UNPROCESSABLE,
        Some("number_of_installments"),
    )
    .await;
    let r = app
        .http
        .post(format!("{}/checkout", app.base))
        .header("Idempotency-Key", "")
        .json(&json!({"user_id": user}))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn malformed_requests_are_4xx() {
    let app = TestApp::spawn().await;
    for (path, body) in [
        ("/customers", b"{\"first_name\": ".to_vec()),
        ("/customers", b"".to_vec()),
        ("/cart", b"not json".to_vec()),
        ("/vendors", vec![0xff, 0xfe]),
    ] {
        let r = app.send_raw(Method::POST, path, body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
    }
    // Over 1 MiB.
    let big = format!("{{\"first_name\": \"{}\"}}", "a".repeat(1 << 20));
    let r = app
        .send_raw(Method::POST, "/customers", big.into_bytes())
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);

    // Bad ids in paths are "not found", never a 5xx.
    for path in [
        "/customers/abc",
        "/customers/-1",
        "/customers/0",
        "/customers/99999999999999999999",
        "/vendors/1.5",
        "/inventory/x",
        "/cart/abc",
        "/transactions/not-a-uuid",
        "/transactions/0190a0a0-0000-7000-8000-000000000000",
        "/customers/abc/transactions",
        "/nope",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
    }
    let user = app.customer("cursor@example.com").await;
    let r = app
        .get(&format!("/customers/{user}/transactions?cursor=garbage"))
        .await;
    assert_eq!((r.status, r.field()), (UNPROCESSABLE, Some("cursor")));
    let r = app.send(Method::DELETE, "/customers", None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

/// Money is read from the JSON text itself, never through an f64: digits an f64 would drop are
/// seen and refused as a price.
#[tokio::test]
async fn money_is_read_exactly() {
    let app = TestApp::spawn().await;
    let vendor = app.vendor("V").await;
    let item = app.item(vendor, "Mug", "2.50").await;
    let inv = format!("/inventory?vendor_id={vendor}");
    let cases: [(&str, StatusCode, Option<f64>, &str); 8] = [
        (
            "12.5000000000000001",
            UNPROCESSABLE,
            None,
            "at most 2 decimal places",
        ),
        ("1e400", UNPROCESSABLE, None, "at most 9999999999.99"),
        ("-1", UNPROCESSABLE, None, "greater than 0"),
        ("0.0001e1", UNPROCESSABLE, None, "at most 2 decimal places"),
        ("\"12.50\"", StatusCode::OK, Some(12.5), ""),
        ("0.1", StatusCode::OK, Some(0.1), ""),
        ("125e-2", StatusCode::OK, Some(1.25), ""),
        ("9999999999.99", StatusCode::OK, Some(9_999_999_999.99), ""),
    ];
    for (price, status, value, message) in cases {
        for (method, path, body) in [
            (
                Method::POST,
                inv.as_str(),
                format!(r#"{{"item_name": "Mug", "category": 1, "price": {price}}}"#),
            ),
            (
                Method::PATCH,
                &format!("/inventory/{item}"),
                format!(r#"{{"price": {price}}}"#),
            ),
        ] {
            let r = app.send_raw(method.clone(), path, body.into_bytes()).await;
            let expected = match (status, &method) {
                (StatusCode::OK, &Method::POST) => StatusCode::CREATED,
                _ => status,
            };
            assert_eq!(r.status, expected, "{method} {price}: {}", r.body);
            if r.status.is_success() {
                assert_eq!(r.body["price"].as_f64(), value, "{method} {price}");
            } else {
                assert_eq!(r.field(), Some("price"), "{method} {price}: {}", r.body);
                assert!(
                    r.body["error"]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains(message)),
                    "{method} {price}: {}",
                    r.body
                );
            }
        }
    }
}

/// The rules the OpenAPI document states, at their edges: what is trimmed, what is counted as
/// sent, which numbers are integers, which texts are ids.
#[tokio::test]
async fn inputs_at_the_edges_of_the_documented_rules() {
    let app = TestApp::spawn().await;
    let customer = |first: &str, email: &str| json!({"first_name": first, "last_name": "Silva", "email": email});
    // E-mail: trimmed, lowercased, ASCII checked before lowercasing, local part ≤ 64, ≤ 254 in all.
    let r = app
        .post("/customers", customer("\tAna\n", " Ana@Example.COM "))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        (r.body["first_name"].as_str(), r.body["email"].as_str()),
        (Some("Ana"), Some("ana@example.com"))
    );
    let local64 = format!("{}@example.com", "a".repeat(64));
    let r = app.post("/customers", customer("Ana", &local64)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let long = format!("a@{}.com", vec!["b".repeat(60); 5].join("."));
    for (body, field) in [
        (customer("Ana", "\u{212a}@example.com"), "email"),
        (
            customer("Ana", &format!("{}@example.com", "a".repeat(65))),
            "email",
        ),
        (customer("Ana", &long), "email"),
        (customer("Ana", "ana@example.c0"), "email"),
        (
            customer(&format!(" {}", "x".repeat(100)), "x@example.com"),
            "first_name",
        ),
        (customer("A\u{85}B", "y@example.com"), "first_name"),
        (customer("\u{a0}\u{3000}", "z@example.com"), "first_name"),
    ] {
        expect(
            &app,
            Method::POST,
            "/customers",
            body,
            UNPROCESSABLE,
            Some(field),
        )
        .await;
    }

    // Region: the listed codes, any case, trimmed.
    let r = app
        .post("/vendors", json!({"vendor_name": " V ", "region": " gb "}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["region"], "GB");
    let vendor = r.body["id"].as_i64().expect("id");
    for (name, region, field) in [
        ("V", "uk", "region"),
        ("V", "P T", "region"),
        ("V", "", "region"),
        (&*"v".repeat(201), "PT", "vendor_name"),
    ] {
        expect(
            &app,
            Method::POST,
            "/vendors",
            json!({"vendor_name": name, "region": region}),
            UNPROCESSABLE,
            Some(field),
        )
        .await;
    }

    // Integers are JSON numbers with an integer value (50.0 is 50); ids may also be numeric text.
    // (50 in stock: the checkout below takes 12.)
    let inv = format!("/inventory?vendor_id=%20{vendor:03}%20");
    let r = app
        .post(
            &inv,
            json!({"item_name": "Mug", "category": " 3 ", "price": "2.50", "stock": 50.0}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        (r.body["stock"].as_i64(), r.body["category"].as_i64()),
        (Some(50), Some(3))
    );
    let item = r.body["id"].as_i64().expect("id");
    for (stock, field) in [
        (json!(5.5), "stock"),
        (json!("5"), "stock"),
        (json!(-1), "stock"),
    ] {
        expect(
            &app,
            Method::POST,
            &inv,
            json!({"item_name": "Mug", "category": 1, "price": 1, "stock": stock}),
            UNPROCESSABLE,
            Some(field),
        )
        .await;
    }
    let path = format!("/inventory/{item}");
    for body in [
        json!({"price": null}),
        json!({"item_name": null, "stock": null}),
        json!({"x": 1}),
    ] {
        expect(
            &app,
            Method::PATCH,
            &path,
            body,
            UNPROCESSABLE,
            Some("body"),
        )
        .await;
    }
    for (query, status) in [
        ("limit=%2B5", UNPROCESSABLE),
        ("limit=501", UNPROCESSABLE),
        ("limit=-0", UNPROCESSABLE),
        ("after_id=-1", UNPROCESSABLE),
        ("limit=0500&after_id=%200%20", StatusCode::OK),
        ("limit=+5", StatusCode::OK), // `+` is a space in a query string
    ] {
        let r = app.get(&format!("/inventory?{query}")).await;
        assert_eq!(r.status, status, "{query}: {}", r.body);
    }

    // Cart lines: qty 2.0 and 1e1 are integers; 2.5 is not; a null vendor_id is no vendor_id.
    let user = app.customer("edges@example.com").await;
    let r = app
        .post(
            "/cart",
            json!({"user_id": format!("{user:04}"), "cart": [
                {"item_id": item as f64, "qty": 2.0, "vendor_id": null},
                {"item_id": format!(" {item} "), "qty": 1e1, "vendor_id": vendor},
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["cart"][0]["qty"].as_i64(), Some(12));
    expect(
        &app,
        Method::POST,
        "/cart",
        json!({"user_id": user, "cart": [{"item_id": item, "qty": 2.5}]}),
        UNPROCESSABLE,
        Some("cart[0].qty"),
    )
    .await;
    expect(
        &app,
        Method::POST,
        "/checkout",
        json!({"user_id": user, "number_of_installments": 2.5}),
        UNPROCESSABLE,
        Some("number_of_installments"),
    )
    .await;
    for key in ["a b", &"k".repeat(201), "é"] {
        let r = app
            .http
            .post(format!("{}/checkout", app.base))
            .header("Idempotency-Key", key.as_bytes())
            .json(&json!({"user_id": user}))
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{key}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"]["field"], "Idempotency-Key", "{key}");
    }
    let r = app
        .send(
            Method::POST,
            "/checkout",
            Some(&json!({"user_id": user, "number_of_installments": 3.0})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Cursors: exactly the shape handed out; a well-formed one that matches nothing is a page.
    let id = "0190a0a0-0000-7000-8000-000000000000";
    for (cursor, status) in [
        (format!("2026-04-30T00:00:00.000Z%23{id}"), StatusCode::OK),
        (format!("2026-04-31T00:00:00.000Z%23{id}"), UNPROCESSABLE),
        (format!("2026-04-30T00:00:00Z%23{id}"), UNPROCESSABLE),
        (
            format!("2026-04-30T00:00:00.000Z%23{}", id.to_uppercase()),
            UNPROCESSABLE,
        ),
        (
            format!("2026-04-30T00:00:00.000Z%23x%23{id}"),
            UNPROCESSABLE,
        ),
    ] {
        let r = app
            .get(&format!("/customers/{user}/transactions?cursor={cursor}"))
            .await;
        assert_eq!(r.status, status, "{cursor}: {}", r.body);
        if status != StatusCode::OK {
            assert_eq!(r.field(), Some("cursor"));
        }
    }
}
