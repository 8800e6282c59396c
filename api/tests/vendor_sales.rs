//! `GET /vendors/{id}/sales` on a real warehouse: each test creates its own warehouse database,
//! applies `sql/warehouse/postgres.sql` and `marts.sql`, inserts known rows, and drives the API
//! over HTTP.

use mercado_testkit::api as common;

use common::TestApp;
use mercado_api::AppState;
use reqwest::StatusCode;
use serde_json::json;
use tokio_postgres::NoTls;

/// A fresh warehouse database with the DDL and marts applied; its URL.
async fn warehouse(rows: &str) -> String {
    let url = common::create_database(&format!("{}_wh", common::unique_name())).await;
    let (client, conn) = tokio_postgres::connect(&url, NoTls)
        .await
        .expect("connect to the warehouse");
    tokio::spawn(conn);
    let sql = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql/warehouse");
    for file in ["postgres.sql", "marts.sql"] {
        let text = std::fs::read_to_string(sql.join(file)).expect("warehouse SQL");
        client
            .batch_execute(&text)
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    client.batch_execute(rows).await.expect("test rows");
    url
}

/// The API with its own OLTP database and table, reading the given warehouse.
async fn app_with_warehouse(warehouse_url: Option<String>) -> TestApp {
    let name = common::unique_name();
    let database_url = common::create_database(&name).await;
    let mut config = common::config(database_url.clone(), name.clone());
    config.warehouse_url = warehouse_url;
    let state = AppState::connect(&config).await.expect("stores ready");
    TestApp::serve(state, name, database_url).await
}

/// Vendor 7 sells items 101 to 104; vendor 8 sells 201. Days 2025-03-14 to 2025-03-18; vendor 7
/// has no sale on the 16th, and sales on the 14th and 18th that fall outside the tested range.
/// Item 101 was renamed on the 16th (Cup → Mug): the current name is reported.
const ROWS: &str = "
INSERT INTO core.dim_date (date_id, date, year, quarter, month, day, day_of_week, is_weekend) VALUES
 (20250314, '2025-03-14', 2025, 1, 3, 14, 5, false),
 (20250315, '2025-03-15', 2025, 1, 3, 15, 6, true),
 (20250316, '2025-03-16', 2025, 1, 3, 16, 7, true),
 (20250317, '2025-03-17', 2025, 1, 3, 17, 1, false),
 (20250318, '2025-03-18', 2025, 1, 3, 18, 2, false);
INSERT INTO core.dim_vendor (vendor_id, vendor_name, region, joined_at) VALUES
 (7, 'Loja do Porto', 'PT', '2025-01-01T00:00:00Z'),
 (8, 'Other Shop', 'ES', '2025-01-01T00:00:00Z');
INSERT INTO core.dim_inventory (item_id, vendor_id, category_id, item_name, price, valid_from, valid_to, is_current) VALUES
 (101, 7, 1, 'Cup',    12.50, '2025-01-01', '2025-03-16', false),
 (101, 7, 1, 'Mug',    12.50, '2025-03-16', NULL,         true),
 (102, 7, 1, 'Teapot', 30.10, '2025-01-01', NULL,         true),
 (103, 7, 1, 'Plate',  10.00, '2025-01-01', NULL,         true),
 (104, 7, 1, 'Spoon',  12.50, '2025-01-01', NULL,         true),
 (201, 8, 1, 'Other',   1.00, '2025-01-01', NULL,         true);
INSERT INTO core.fact_sales (transaction_id, line_no, item_id, customer_id, vendor_id, category_id,
                             date_id, unit_price, qty, total_price, installments, created_at) VALUES
 ('t-before', 1, 101, 1, 7, 1, 20250314, 12.50,   1,   12.50, 1, '2025-03-14T10:00:00Z'),
 ('t-a',      1, 101, 1, 7, 1, 20250315, 12.50,   2,   25.00, 1, '2025-03-15T10:00:00Z'),
 ('t-a',      2, 102, 1, 7, 1, 20250315, 30.10,   1,   30.10, 1, '2025-03-15T10:00:00Z'),
 ('t-a',      3, 201, 1, 8, 1, 20250315,  1.00,   5,    5.00, 1, '2025-03-15T10:00:00Z'),
 ('t-b',      1, 101, 2, 7, 1, 20250315, 12.50,   1,   12.50, 1, '2025-03-15T11:00:00Z'),
 ('t-c',      1, 201, 2, 8, 1, 20250316,  1.00,   3,    3.00, 1, '2025-03-16T11:00:00Z'),
 ('t-d',      1, 103, 3, 7, 1, 20250317, 10.00,   4,   40.00, 2, '2025-03-17T09:00:00Z'),
 ('t-d',      2, 102, 3, 7, 1, 20250317, 30.10,   1,   30.10, 2, '2025-03-17T09:00:00Z'),
 ('t-d',      3, 104, 3, 7, 1, 20250317, 12.50,   3,   37.50, 2, '2025-03-17T09:00:00Z'),
 ('t-after',  1, 101, 1, 7, 1, 20250318, 12.50, 100, 1250.00, 1, '2025-03-18T10:00:00Z');
";

#[tokio::test]
async fn three_days_with_an_empty_one_add_up_exactly() {
    let app = app_with_warehouse(Some(warehouse(ROWS).await)).await;
    let r = app
        .get("/vendors/7/sales?from=2025-03-15&to=2025-03-17")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body,
        json!({
            "vendor_id": 7,
            "vendor_name": "Loja do Porto",
            "from": "2025-03-15",
            "to": "2025-03-17",
            "days": [
                {"date": "2025-03-15", "revenue": 67.6, "orders": 2, "units": 4},
                {"date": "2025-03-16", "revenue": 0.0, "orders": 0, "units": 0},
                {"date": "2025-03-17", "revenue": 107.6, "orders": 1, "units": 8},
            ],
            "totals": {"revenue": 175.2, "orders": 3, "units": 12},
            "top_items": [
                {"item_id": 102, "item_name": "Teapot", "units": 2, "revenue": 60.2},
                {"item_id": 103, "item_name": "Plate", "units": 4, "revenue": 40.0},
                {"item_id": 101, "item_name": "Mug", "units": 3, "revenue": 37.5},
                {"item_id": 104, "item_name": "Spoon", "units": 3, "revenue": 37.5},
            ],
        })
    );

    // One day, the id written as the other `/{id}` routes accept it, a trailing slash.
    let r = app
        .get("/vendors/007/sales/?from=2025-03-16&to=2025-03-16")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["vendor_id"], json!(7));
    assert_eq!(
        r.body["days"],
        json!([{"date": "2025-03-16", "revenue": 0.0, "orders": 0, "units": 0}])
    );
    assert_eq!(r.body["top_items"], json!([]));

    // Another vendor's sales are its own.
    let r = app
        .get("/vendors/8/sales?from=2025-03-15&to=2025-03-17")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["totals"],
        json!({"revenue": 8.0, "orders": 2, "units": 8})
    );

    // A whole leap year is the longest range.
    let r = app
        .get("/vendors/7/sales?from=2024-01-01&to=2024-12-31")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["days"].as_array().map(Vec::len), Some(366));
    assert_eq!(
        r.body["totals"],
        json!({"revenue": 0.0, "orders": 0, "units": 0})
    );
}

#[tokio::test]
async fn only_the_ten_best_items_by_revenue_ties_by_item_id() {
    // Items 1..=12, each sold once on 2025-03-15 for 5.00 (items 1 to 6) or 9.00 (7 to 12).
    let mut rows = String::from(
        "INSERT INTO core.dim_vendor VALUES (3, 'Many', 'PT', NULL);
         INSERT INTO core.dim_date VALUES (20250315, '2025-03-15', 2025, 1, 3, 15, 6, true);",
    );
    for item in 1..=12 {
        let price = if item <= 6 { "5.00" } else { "9.00" };
        rows.push_str(&format!(
            "INSERT INTO core.dim_inventory VALUES ({item}, 3, 1, 'Item {item}', {price}, '2025-01-01', NULL, true);
             INSERT INTO core.fact_sales VALUES ('t{item}', 1, {item}, 1, 3, 1, 20250315, {price}, 1, {price}, 1, '2025-03-15T10:00:00Z');"
        ));
    }
    let app = app_with_warehouse(Some(warehouse(&rows).await)).await;
    let r = app
        .get("/vendors/3/sales?from=2025-03-15&to=2025-03-15")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let ids: Vec<i64> = r.body["top_items"]
        .as_array()
        .expect("top_items")
        .iter()
        .filter_map(|i| i["item_id"].as_i64())
        .collect();
    assert_eq!(ids, [7, 8, 9, 10, 11, 12, 1, 2, 3, 4]);
    assert_eq!(
        r.body["totals"],
        json!({"revenue": 84.0, "orders": 12, "units": 12})
    );
}

#[tokio::test]
async fn unknown_vendors_are_404() {
    let app = app_with_warehouse(Some(warehouse(ROWS).await)).await;
    for path in [
        "/vendors/999/sales?from=2025-03-15&to=2025-03-17",
        "/vendors/0/sales?from=2025-03-15&to=2025-03-17",
        "/vendors/abc/sales?from=2025-03-15&to=2025-03-17",
        "/vendors/-7/sales?from=2025-03-15&to=2025-03-17",
    ] {
        let r = app.get(path).await;
        assert_eq!(
            (r.status, r.body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "{path}: {}",
            r.body
        );
    }
}

#[tokio::test]
async fn bad_ranges_are_422_naming_the_field() {
    let app = app_with_warehouse(Some(warehouse(ROWS).await)).await;
    for (query, field) in [
        ("to=2025-03-17", "from"),
        ("from=&to=2025-03-17", "from"),
        ("from=2025-02-30&to=2025-03-17", "from"),
        ("from=2025-3-1&to=2025-03-17", "from"),
        ("from=%202025-03-01&to=2025-03-17", "from"),
        ("from=2025-03-01T00:00:00Z&to=2025-03-17", "from"),
        ("from=2025-03-15", "to"),
        ("from=2025-03-15&to=yesterday", "to"),
        ("from=2025-03-15&to=20250317", "to"),
        ("from=2025-03-18&to=2025-03-17", "from"),
        ("from=2024-01-01&to=2025-01-01", "to"),
        ("from=2025-01-01&to=9999-12-31", "to"),
    ] {
        let r = app.get(&format!("/vendors/7/sales?{query}")).await;
        assert_eq!(
            (r.status, r.field()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{query}: {}",
            r.body
        );
    }
}

#[tokio::test]
async fn without_a_warehouse_it_is_503() {
    let app = app_with_warehouse(None).await;
    let r = app
        .get("/vendors/7/sales?from=2025-03-15&to=2025-03-17")
        .await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some("warehouse_unavailable")
        ),
        "{}",
        r.body
    );
    // A client mistake is still a 4xx.
    let r = app.get("/vendors/7/sales?from=2025-03-15").await;
    assert_eq!(
        (r.status, r.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("to"))
    );

    // A warehouse that does not answer, and one nothing was loaded into yet.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    for url in [
        format!("postgres://mercado:mercado@127.0.0.1:{closed}/warehouse"),
        common::create_database(&format!("{}_empty", common::unique_name())).await,
    ] {
        let app = app_with_warehouse(Some(url.clone())).await;
        let r = app
            .get("/vendors/7/sales?from=2025-03-15&to=2025-03-17")
            .await;
        assert_eq!(
            (r.status, r.body["error"]["code"].as_str()),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Some("warehouse_unavailable")
            ),
            "{url}: {}",
            r.body
        );
    }
}
