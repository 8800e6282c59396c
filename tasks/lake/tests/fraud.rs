//! Fraud signals (`marts.flagged_transactions`) on known data: exactly the expected flags, and
//! precision and recall against the known labels.

use std::collections::BTreeSet;

use mercado_lake::warehouse::{MARTS, POSTGRES_DDL};
use tokio_postgres::NoTls;

/// (transaction, customer, created_at, total, truly fraud)
const CHECKOUTS: &[(&str, i64, &str, &str, bool)] = &[
    // Customer 1, an old account: five checkouts in eight minutes, then one later.
    ("v1", 1, "2025-03-17 10:00:00+00", "50.00", true),
    ("v2", 1, "2025-03-17 10:02:00+00", "50.00", true),
    ("v3", 1, "2025-03-17 10:04:00+00", "50.00", true),
    ("v4", 1, "2025-03-17 10:06:00+00", "50.00", true),
    ("v5", 1, "2025-03-17 10:08:00+00", "50.00", true),
    ("v6", 1, "2025-03-17 10:30:00+00", "50.00", false),
    // Customer 2's first checkout is 3,000.00; customer 3 has ordered before.
    ("n0", 3, "2025-03-10 09:00:00+00", "20.00", false),
    ("n1", 2, "2025-03-17 12:00:00+00", "3000.00", true),
    ("n2", 3, "2025-03-17 12:00:00+00", "3000.00", false),
    // Customer 4: three orders under 10.00 within a minute, then one more later.
    ("s1", 4, "2025-03-17 13:00:00+00", "5.00", true),
    ("s2", 4, "2025-03-17 13:00:20+00", "5.00", true),
    ("s3", 4, "2025-03-17 13:00:40+00", "5.00", true),
    ("s4", 4, "2025-03-17 13:05:00+00", "5.00", false),
    // Customer 5: a fraud no rule sees.
    ("x1", 5, "2025-03-17 15:00:00+00", "80.00", true),
];

#[tokio::test]
async fn rules_flag_exactly_the_expected_checkouts() {
    let url =
        mercado_testkit::services::create_database(&mercado_testkit::services::unique_name()).await;
    let (client, conn) = tokio_postgres::connect(&url, NoTls)
        .await
        .expect("warehouse");
    tokio::spawn(conn);
    client.batch_execute(POSTGRES_DDL).await.expect("ddl");
    client.batch_execute(MARTS).await.expect("marts");
    client
        .batch_execute(
            "INSERT INTO core.dim_customer (customer_id, first_name, last_name, email, joined_at, valid_from, valid_to, is_current) VALUES
               (1, 'A', 'A', 'a@x.co', '2024-01-01 00:00+00', '2024-01-01', NULL, true),
               (2, 'B', 'B', 'b@x.co', '2025-03-17 09:00+00', '2025-03-17', NULL, true),
               (3, 'C', 'C', 'c@x.co', '2023-05-01 00:00+00', '2023-05-01', NULL, true),
               (4, 'D', 'D', 'd@x.co', '2024-06-01 00:00+00', '2024-06-01', NULL, true),
               (5, 'E', 'E', 'e@x.co', '2024-06-01 00:00+00', '2024-06-01', NULL, true)",
        )
        .await
        .expect("customers");
    for (id, customer, at, total, _) in CHECKOUTS {
        client
            .batch_execute(&format!(
                "INSERT INTO core.fact_sales (transaction_id, line_no, item_id, customer_id, vendor_id, category_id, date_id, unit_price, qty, total_price, installments, created_at)
                 VALUES ('{id}', 1, 1, {customer}, 1, 1, {}, {total}, 1, {total}, 1, '{at}')",
                at[..10].replace('-', "")
            ))
            .await
            .expect("fact");
    }

    let flagged: BTreeSet<(String, String)> = client
        .query(
            "SELECT transaction_id, rule FROM marts.flagged_transactions WHERE date_id = 20250317",
            &[],
        )
        .await
        .expect("flags")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("v1", "velocity"),
        ("v2", "velocity"),
        ("v3", "velocity"),
        ("v4", "velocity"),
        ("v5", "velocity"),
        ("n1", "new_account_high_value"),
        ("s1", "small_orders_burst"),
        ("s2", "small_orders_burst"),
        ("s3", "small_orders_burst"),
    ]
    .iter()
    .map(|(t, r)| (t.to_string(), r.to_string()))
    .collect();
    assert_eq!(flagged, expected);

    // Against the labels: a transaction counts as flagged when any rule fired.
    let flagged_ids: BTreeSet<&str> = flagged.iter().map(|(t, _)| t.as_str()).collect();
    let fraud: BTreeSet<&str> = CHECKOUTS.iter().filter(|c| c.4).map(|c| c.0).collect();
    let true_positives = flagged_ids.intersection(&fraud).count() as f64;
    let precision = true_positives / flagged_ids.len() as f64;
    let recall = true_positives / fraud.len() as f64;
    eprintln!("fraud rules on known data: precision {precision:.2}, recall {recall:.2}");
    assert_eq!((precision, recall), (1.0, 9.0 / 10.0));
}
