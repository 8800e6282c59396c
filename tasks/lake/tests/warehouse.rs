//! load_redshift into PostgreSQL: load, re-load (same rows), dates out of order, SCD2, marts on
//! known data, a data-quality failure that stops one date; and the Redshift SQL against its golden
//! file.

use mercado_api::model::{Cart, CartLine, FlexId};
use mercado_lake::contracts as c;
use mercado_lake::parquet_io::PartitionWriter;
use mercado_lake::rows::Cell;
use mercado_lake::tasks::load_redshift::{self, LoadArgs};
use mercado_lake::tasks::reconcile::{self, ReconcileArgs};
use mercado_lake::warehouse::{Target, WarehouseArgs};
use mercado_testkit::lake::{at, day, money, Env};
use serde_json::json;
use tokio_postgres::{Client, NoTls};

const D1: &str = "2025-03-17";
const D2: &str = "2025-03-18";

struct Warehouse {
    url: String,
    client: Client,
}

impl Warehouse {
    async fn new(env: &Env) -> Warehouse {
        let url = env.warehouse().await;
        let (client, conn) = tokio_postgres::connect(&url, NoTls)
            .await
            .expect("warehouse");
        tokio::spawn(conn);
        Warehouse { url, client }
    }

    fn reconcile_args(&self, env: &Env, date: &str) -> ReconcileArgs {
        env.reconcile_args(day(date), &self.url)
    }

    fn args(&self, env: &Env, date: &str) -> LoadArgs {
        env.load_args(day(date), &self.url)
    }

    /// A query's rows as text, for exact comparisons.
    async fn text(&self, sql: &str) -> Vec<String> {
        let rows = self
            .client
            .query(&format!("SELECT t::text FROM ({sql}) t"), &[])
            .await
            .expect(sql);
        rows.iter().map(|r| r.get(0)).collect()
    }

    async fn snapshot(&self) -> Vec<String> {
        let mut all = Vec::new();
        for t in [
            "dim_date",
            "dim_category",
            "dim_vendor",
            "dim_customer",
            "dim_inventory",
            "fact_sales",
            "fact_cart_snapshot",
        ] {
            all.push(format!("-- {t}"));
            let mut rows = self.text(&format!("SELECT * FROM core.{t}")).await;
            rows.sort();
            all.extend(rows);
        }
        all
    }
}

/// Ana buys on D1 (mug ×2, lamp ×1) and on D2 (mug ×1 after its price rose); Rui buys on D2 and
/// leaves a cart open.
async fn two_days(env: &Env) {
    let app = &env.app;
    let ana = app.customer("ana@example.com").await;
    let rui = app.customer("rui@example.com").await;
    let vendor = app.vendor("Porto").await;
    let mug = app.item(vendor, "Mug", "12.50").await;
    let lamp = app.item(vendor, "Lamp", "30.00").await;
    env.txn(
        "t1",
        ana,
        "2025-03-17T10:00:00Z",
        &[(mug, vendor, 2, "12.50"), (lamp, vendor, 1, "30.00")],
    )
    .await;
    env.pipeline(day(D1)).await;
    assert_eq!(
        app.patch(&format!("/inventory/{mug}"), json!({"price": "14.00"}))
            .await
            .status,
        200
    );
    env.txn(
        "t2",
        ana,
        "2025-03-18T09:00:00Z",
        &[(mug, vendor, 1, "14.00")],
    )
    .await;
    env.txn(
        "t3",
        rui,
        "2025-03-18T12:00:00Z",
        &[(lamp, vendor, 2, "30.00")],
    )
    .await;
    let cart = Cart {
        user_id: FlexId(rui),
        cart: vec![CartLine {
            item_id: FlexId(mug),
            vendor_id: FlexId(vendor),
            qty: 1,
            unit_price: money("14.00"),
            total_price: money("14.00"),
        }],
        updated_at: at("2025-03-18T20:00:00Z"),
    };
    app.state.ddb.put_cart(&cart, "v").await.expect("cart");
    env.pipeline(day(D2)).await;
}

#[tokio::test]
async fn loads_are_idempotent_and_order_free() {
    let env = Env::new().await;
    two_days(&env).await;
    let wh = Warehouse::new(&env).await;

    // Out of order: D2 first, then D1.
    let s2 = load_redshift::run(&wh.args(&env, D2))
        .await
        .expect("load D2");
    assert_eq!(s2.datasets["core.fact_sales"].rows_out, 2);
    load_redshift::run(&wh.args(&env, D1))
        .await
        .expect("load D1");
    let first = wh.snapshot().await;
    // Re-load both: exactly the same rows.
    load_redshift::run(&wh.args(&env, D2))
        .await
        .expect("reload D2");
    load_redshift::run(&wh.args(&env, D1))
        .await
        .expect("reload D1");
    assert_eq!(wh.snapshot().await, first);

    assert_eq!(
        wh.text("SELECT transaction_id, line_no, item_id, qty, total_price, date_id FROM core.fact_sales ORDER BY 1, 2").await,
        vec!["(t1,1,1,2,25.00,20250317)", "(t1,2,2,1,30.00,20250317)", "(t2,1,1,1,14.00,20250318)", "(t3,1,2,2,60.00,20250318)"]
    );
    // SCD2: the mug's price change is two versions, whatever the load order.
    assert_eq!(
        wh.text("SELECT item_id, price, valid_from, valid_to, is_current FROM core.dim_inventory ORDER BY 1, 3").await,
        vec!["(1,12.50,2025-03-17,2025-03-18,f)", "(1,14.00,2025-03-18,,t)", "(2,30.00,2025-03-17,,t)"]
    );
    assert_eq!(wh.text("SELECT item_id FROM core.dim_inventory WHERE is_current GROUP BY 1 HAVING COUNT(*) > 1").await, Vec::<String>::new());

    // Marts on known data.
    assert_eq!(
        wh.text("SELECT date_id, gmv, orders, aov, items_sold, customers FROM marts.daily_sales ORDER BY 1").await,
        vec!["(20250317,55.00,1,55.00,3,1)", "(20250318,74.00,2,37.00,3,2)"]
    );
    assert_eq!(
        wh.text(
            "SELECT date_id, vendor_name, gmv, orders FROM marts.vendor_daily_sales ORDER BY 1"
        )
        .await,
        vec!["(20250317,Porto,55.00,1)", "(20250318,Porto,74.00,2)"]
    );
    assert_eq!(
        wh.text(
            "SELECT date_id, category_name, gmv, share_of_gmv FROM marts.category_sales ORDER BY 1"
        )
        .await,
        vec![
            "(20250317,General,55.00,1.0000)",
            "(20250318,General,74.00,1.0000)"
        ]
    );
    assert_eq!(
        wh.text(
            "SELECT date_id, item_rank, item_name, qty, gmv FROM marts.top_items ORDER BY 1, 2"
        )
        .await,
        vec![
            "(20250317,1,Lamp,1,30.00)",
            "(20250317,2,Mug,2,25.00)",
            "(20250318,1,Lamp,2,60.00)",
            "(20250318,2,Mug,1,14.00)"
        ]
    );
    assert_eq!(
        wh.text("SELECT date_id, open_carts, checkouts, open_cart_value, abandonment_rate FROM marts.cart_abandonment ORDER BY 1").await,
        vec!["(20250317,0,1,0,0.0000)", "(20250318,1,2,14.00,0.3333)"]
    );
    assert_eq!(
        wh.text("SELECT date_id, customers, repeat_customers, repeat_rate FROM marts.repeat_customer_rate ORDER BY 1").await,
        vec!["(20250317,1,0,0.0000)", "(20250318,2,1,0.5000)"]
    );
    assert_eq!(
        wh.text(
            "SELECT task, date, rows, status FROM audit.pipeline_runs ORDER BY date, finished_at"
        )
        .await,
        vec![
            "(load_redshift,2025-03-17,2,ok)",
            "(load_redshift,2025-03-17,2,ok)",
            "(load_redshift,2025-03-18,2,ok)",
            "(load_redshift,2025-03-18,2,ok)"
        ]
    );
}

/// Every index and key of core, as definitions, for comparing two warehouses.
async fn core_indexes(client: &Client) -> Vec<String> {
    let rows = client
        .query(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'core' \
             UNION ALL SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) \
             FROM pg_constraint WHERE connamespace = 'core'::regnamespace ORDER BY 1",
            &[],
        )
        .await
        .expect("catalog");
    rows.iter().map(|r| r.get(0)).collect()
}

/// A first load builds an empty table's indexes after its COPY (dropped and re-created in the
/// load's transaction): afterwards core has exactly the indexes and keys the DDL alone gives, and
/// they hold (a duplicate key is refused).
#[tokio::test]
async fn a_first_load_leaves_every_index_and_key_of_the_ddl() {
    let env = Env::new().await;
    two_days(&env).await;
    let wh = Warehouse::new(&env).await;
    let ddl_only = tokio_postgres::connect(&env.named_warehouse("ddl").await, NoTls)
        .await
        .expect("second warehouse");
    tokio::spawn(ddl_only.1);
    let ddl_only = ddl_only.0;
    ddl_only
        .batch_execute(mercado_lake::warehouse::POSTGRES_DDL)
        .await
        .expect("DDL");
    let want = core_indexes(&ddl_only).await;
    assert!(
        want.iter().any(|d| d.contains("fact_sales_customer")),
        "{want:?}"
    );

    load_redshift::run(&wh.args(&env, D1))
        .await
        .expect("first load");
    assert_eq!(core_indexes(&wh.client).await, want);
    // The load analysed what it copied (the marts that run next plan with its statistics).
    assert_eq!(
        wh.text("SELECT relname FROM pg_stat_user_tables WHERE schemaname = 'core' AND last_analyze IS NULL ORDER BY 1").await,
        Vec::<String>::new()
    );
    let dup = wh
        .client
        .batch_execute("INSERT INTO core.fact_sales SELECT * FROM core.fact_sales LIMIT 1")
        .await
        .expect_err("the primary key is back");
    assert!(format!("{dup:?}").contains("fact_sales_pkey"), "{dup:?}");
    // A later load keeps them (no rebuild over history).
    load_redshift::run(&wh.args(&env, D2))
        .await
        .expect("second load");
    assert_eq!(core_indexes(&wh.client).await, want);
}

/// Loads and mart refreshes of several dates started at once outside Airflow (into a fresh
/// warehouse, so each also applies the DDL and grants): the writer lock makes them wait for each
/// other instead of failing with `tuple concurrently updated`, and the warehouse ends exactly as
/// after loading the dates one by one.
#[tokio::test]
async fn concurrent_loads_wait_for_each_other() {
    let env = Env::new().await;
    two_days(&env).await;
    let one_by_one = Warehouse::new(&env).await;
    for d in [D1, D2] {
        load_redshift::run(&one_by_one.args(&env, d))
            .await
            .expect("load");
    }
    let url = env.named_warehouse("wh_at_once").await;
    let (client, conn) = tokio_postgres::connect(&url, NoTls)
        .await
        .expect("warehouse");
    tokio::spawn(conn);
    let at_once = Warehouse { url, client };
    let marts = |d: &str| mercado_lake::tasks::marts::MartsArgs {
        lake: env.args(day(d)),
        warehouse: WarehouseArgs {
            target: Target::Postgres,
            warehouse_url: Some(at_once.url.clone()),
        },
    };
    let (l1, l2) = (at_once.args(&env, D1), at_once.args(&env, D2));
    let (a, b, c, d) = tokio::join!(
        load_redshift::run(&l1),
        load_redshift::run(&l2),
        load_redshift::run(&l2),
        load_redshift::run(&l1),
    );
    for result in [a, b, c, d] {
        result.expect("a concurrent load");
    }
    let (m1, m2) = (marts(D1), marts(D2));
    let (r1, r2) = tokio::join!(
        mercado_lake::tasks::marts::run(&m1),
        mercado_lake::tasks::marts::run(&m2)
    );
    r1.expect("marts D1");
    r2.expect("marts D2");
    assert_eq!(at_once.snapshot().await, one_by_one.snapshot().await);
}

#[tokio::test]
async fn reconciliation_passes_on_good_data_and_fails_on_tampered_data() {
    let env = Env::new().await;
    two_days(&env).await;
    // Bad records on D2: quarantined by clean, so still accounted for.
    env.txn("t-neg", 1, "2025-03-18T11:00:00Z", &[(1, 1, -1, "14.00")])
        .await;
    env.txn(
        "t-unknown",
        1,
        "2025-03-18T11:30:00Z",
        &[(999, 1, 1, "5.00")],
    )
    .await;
    env.pipeline_refreshed(day(D2)).await;
    let wh = Warehouse::new(&env).await;
    for d in [D1, D2] {
        load_redshift::run(&wh.args(&env, d)).await.expect("load");
        let s = reconcile::run(&wh.reconcile_args(&env, d))
            .await
            .expect("reconciles");
        assert_eq!(s.rows_in, if d == D1 { 1 } else { 4 });
    }

    // Tampered: a line goes missing in the warehouse.
    wh.client
        .batch_execute("DELETE FROM core.fact_sales WHERE transaction_id = 't3'")
        .await
        .expect("tamper");
    let msg = reconcile::run(&wh.reconcile_args(&env, D2))
        .await
        .expect_err("mismatch")
        .to_string();
    assert!(
        msg.contains("DynamoDB 4 transactions totalling 65.00; warehouse 1 totalling 14.00; quarantined 2 totalling -9.00"),
        "{msg}"
    );
    assert_eq!(
        wh.text("SELECT check_name, severity FROM audit.dq_failures")
            .await,
        vec!["(reconcile,critical)"]
    );
    assert_eq!(
        wh.text("SELECT task, date, status FROM audit.pipeline_runs WHERE task = 'reconcile' ORDER BY finished_at").await,
        vec!["(reconcile,2025-03-17,ok)", "(reconcile,2025-03-18,ok)", "(reconcile,2025-03-18,failed)"]
    );
}

#[tokio::test]
async fn a_failed_quality_rule_stops_that_date_only() {
    let env = Env::new().await;
    two_days(&env).await;
    let wh = Warehouse::new(&env).await;
    load_redshift::run(&wh.args(&env, D1))
        .await
        .expect("load D1");

    // Tamper with D2's gold facts: a negative price and an unknown item.
    let lake = env.lake().await;
    let mut w = PartitionWriter::new(&lake, "gold", c::GOLD_FACT_SALES, day(D2), "tampered")
        .expect("writer");
    let ts = at("2025-03-18T09:00:00Z").timestamp_micros();
    for (txn, item, price) in [("t2", 1, -1400), ("t9", 999, 100)] {
        w.push(&[
            Cell::Str(txn),
            Cell::I32(1),
            Cell::I64(item),
            Cell::I64(1),
            Cell::I64(1),
            Cell::I32(1),
            Cell::I32(20250318),
            Cell::Money(price),
            Cell::I64(1),
            Cell::Money(price),
            Cell::I32(1),
            Cell::Ts(ts),
        ])
        .await
        .expect("row");
    }
    w.publish(None, Default::default()).await.expect("publish");

    let err = load_redshift::run(&wh.args(&env, D2))
        .await
        .expect_err("refused");
    let msg = err.to_string();
    assert!(
        msg.contains("non_negative_money")
            && msg.contains("referential_integrity")
            && msg.contains("nothing loaded"),
        "{msg}"
    );
    assert_eq!(
        wh.text("SELECT check_name, severity FROM audit.dq_failures ORDER BY 1")
            .await,
        vec![
            "(non_negative_money,critical)",
            "(referential_integrity,critical)"
        ]
    );
    assert_eq!(
        wh.text("SELECT DISTINCT date_id FROM core.fact_sales")
            .await,
        vec!["(20250317)"]
    );
    assert_eq!(
        wh.text("SELECT status FROM audit.pipeline_runs WHERE date = '2025-03-18'")
            .await,
        vec!["(failed)"]
    );
}

#[test]
fn redshift_sql_matches_its_golden_file() {
    let sql: String = mercado_lake::warehouse::redshift_script(
        day(D1),
        "mercado-lake",
        "arn:aws:iam::123456789012:role/mercado-redshift-copy",
        "01900000000070008000000000000001",
    )
    .iter()
    .map(|s| format!("{s};\n"))
    .collect();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/redshift_load_2025-03-17.sql"
    );
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &sql).expect("write golden");
    }
    let golden = std::fs::read_to_string(path).expect("golden file (UPDATE_GOLDEN=1 writes it)");
    assert_eq!(sql, golden);
    assert!(sql.contains("FORMAT AS PARQUET MANIFEST"));
    assert!(sql.contains("COPY staging.fact_sales_20250317 FROM 's3://mercado-lake/gold/mercado/fact_sales/dt=2025-03-17/_redshift.manifest'"));
}

/// Connects as a fresh login role that is a member of `role`.
async fn login_as(wh: &Warehouse, env: &Env, role: &str) -> Client {
    let user = format!("{}_{role}", env.app.name);
    let password = uuid::Uuid::now_v7().simple().to_string();
    wh.client
        .batch_execute(&format!(
            "CREATE ROLE {user} LOGIN PASSWORD '{password}' IN ROLE {role}"
        ))
        .await
        .expect("login role");
    // The warehouse's URL with this login in place of its user and password.
    let (scheme, rest) = wh.url.split_once("://").expect("a URL");
    let (_, place) = rest.split_once('@').expect("a URL with a user");
    let url = format!("{scheme}://{user}:{password}@{place}");
    let (client, conn) = tokio_postgres::connect(&url, NoTls)
        .await
        .expect("connect as role");
    tokio::spawn(conn);
    client
}

#[tokio::test]
async fn each_role_can_do_what_it_should_and_nothing_more() {
    let env = Env::new().await;
    two_days(&env).await;
    let wh = Warehouse::new(&env).await;
    load_redshift::run(&wh.args(&env, D1)).await.expect("load");

    let cases: [(&str, &[&str], &[&str]); 4] = [
        (
            "marts_reader",
            &[
                "SELECT * FROM marts.daily_sales",
                "SELECT * FROM marts.vendors",
                "SELECT * FROM marts.vendor_item_daily_sales",
            ],
            &[
                "SELECT * FROM core.fact_sales",
                "SELECT * FROM core.dim_customer",
                "SELECT * FROM audit.pipeline_runs",
                "CREATE TABLE marts.mine (x int)",
            ],
        ),
        (
            "bi_analyst",
            &[
                "SELECT * FROM marts.daily_sales",
                "SELECT * FROM core.fact_sales",
                "SELECT * FROM marts.top_items",
            ],
            &[
                "SELECT * FROM audit.pipeline_runs",
                "DELETE FROM core.fact_sales",
                "CREATE TABLE marts.mine (x int)",
                "CREATE TABLE sandbox.mine (x int)",
            ],
        ),
        (
            "data_scientist",
            &[
                "SELECT * FROM core.dim_inventory",
                "CREATE TABLE sandbox.features AS SELECT item_id, price FROM core.dim_inventory",
                "DROP TABLE sandbox.features",
            ],
            &[
                "SELECT * FROM marts.daily_sales",
                "UPDATE core.dim_inventory SET price = 0",
                "SELECT * FROM audit.dq_failures",
                "CREATE TABLE core.mine (x int)",
            ],
        ),
        (
            "data_engineer",
            &[
                "SELECT * FROM audit.pipeline_runs",
                "SELECT * FROM marts.daily_sales",
                "CREATE TABLE staging.scratch (x int)",
                "DROP TABLE staging.scratch",
                "DELETE FROM core.fact_cart_snapshot WHERE date_id = 0",
            ],
            &[],
        ),
    ];
    for (role, allowed, denied) in cases {
        let client = login_as(&wh, &env, role).await;
        for sql in allowed {
            client
                .batch_execute(sql)
                .await
                .unwrap_or_else(|e| panic!("{role} should be allowed {sql}: {e}"));
        }
        for sql in denied {
            let err = client
                .batch_execute(sql)
                .await
                .expect_err(&format!("{role} should be denied {sql}"));
            assert_eq!(
                err.code(),
                Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
                "{role}: {sql}: {err}"
            );
        }
    }
}

/// Gold for a date re-run after a source fix, then loaded again: the warehouse's SCD2 versions
/// are the corrected ones (a wrong attribute corrected, then a wrong version removed), equal to a
/// warehouse that only ever loaded the corrected gold.
#[tokio::test]
async fn a_corrected_gold_reloads_its_history() {
    let env = Env::new().await;
    two_days(&env).await;
    let wh = Warehouse::new(&env).await;
    for d in [D1, D2] {
        load_redshift::run(&wh.args(&env, d)).await.expect("load");
    }
    let mug_versions = "SELECT price, valid_from, valid_to, is_current FROM core.dim_inventory \
                        WHERE item_name = 'Mug' ORDER BY valid_from";
    assert_eq!(
        wh.text(mug_versions).await,
        ["(12.50,2025-03-17,2025-03-18,f)", "(14.00,2025-03-18,,t)"]
    );
    let mug = wh
        .text("SELECT item_id FROM core.dim_inventory WHERE item_name = 'Mug' LIMIT 1")
        .await[0]
        .trim_matches(|c| c == '(' || c == ')')
        .parse::<i64>()
        .expect("id");

    // Fix 1: D2's new price was 14.50, not 14.00. Fix 2: there was no price change at all.
    for (price, expected) in [
        (
            "14.50",
            vec!["(12.50,2025-03-17,2025-03-18,f)", "(14.50,2025-03-18,,t)"],
        ),
        ("12.50", vec!["(12.50,2025-03-17,,t)"]),
    ] {
        let r = env
            .app
            .patch(&format!("/inventory/{mug}"), json!({ "price": price }))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        // A correction of a closed date: its kept snapshot is taken again.
        env.pipeline_refreshed(day(D2)).await;
        load_redshift::run(&wh.args(&env, D2))
            .await
            .expect("reload");
        assert_eq!(
            wh.text(mug_versions).await,
            expected,
            "after the fix to {price}"
        );

        let url = env
            .named_warehouse(&format!("fresh{}", price.replace('.', "")))
            .await;
        let (client, conn) = tokio_postgres::connect(&url, NoTls)
            .await
            .expect("fresh warehouse");
        tokio::spawn(conn);
        let fresh = Warehouse { url, client };
        for d in [D1, D2] {
            load_redshift::run(&fresh.args(&env, d))
                .await
                .expect("fresh load");
        }
        assert_eq!(
            wh.snapshot().await,
            fresh.snapshot().await,
            "after the fix to {price}"
        );
    }
}

/// A load that fails for any reason (here: the date's gold was never built) still leaves its
/// failed run in `audit.pipeline_runs`, with the reason.
#[tokio::test]
async fn a_failed_load_writes_its_audit_row() {
    let env = Env::new().await;
    two_days(&env).await;
    let wh = Warehouse::new(&env).await;
    load_redshift::run(&wh.args(&env, D1)).await.expect("load");
    let out = mercado_testkit::cli::task("load_redshift")
        .env("MERCADO_DATE", "2025-03-25")
        .env("MERCADO_LAKE_BUCKET", &env.bucket)
        .env("WAREHOUSE_URL", &wh.url)
        .env("MERCADO_WAREHOUSE_TARGET", "postgres")
        .env("MERCADO_RUN_ID", "failing-load")
        .output()
        .expect("load_redshift runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("load_redshift failed"), "{stderr}");
    let rows = wh
        .text("SELECT task, date, run_id, status, detail LIKE '%gold%' FROM audit.pipeline_runs WHERE run_id = 'failing-load'")
        .await;
    assert_eq!(
        rows,
        ["(load_redshift,2025-03-25,failing-load,failed,t)"],
        "{stderr}"
    );
}

/// A checkout total that is not a decimal amount is never counted as zero: reconcile fails and
/// names the record, in its error and in `audit.dq_failures`.
#[tokio::test]
async fn an_unreadable_total_fails_reconciliation_with_its_record() {
    let env = Env::new().await;
    two_days(&env).await;
    let bad = env
        .txn(
            "t-garbled",
            1,
            "2025-03-17T15:00:00Z",
            &[(1, 1, 1, "12.50")],
        )
        .await;
    let mut item = mercado_api::store::dynamo::transaction_item(&bad);
    item.insert(
        "total_price".into(),
        aws_sdk_dynamodb::types::AttributeValue::S("12,50 EUR".into()),
    );
    env.put_raw(item).await;
    env.pipeline(day(D1)).await;
    let wh = Warehouse::new(&env).await;
    load_redshift::run(&wh.args(&env, D1)).await.expect("load");
    let msg = reconcile::run(&wh.reconcile_args(&env, D1))
        .await
        .expect_err("an unreadable total does not reconcile")
        .to_string();
    assert!(
        msg.contains("DynamoDB transaction t-garbled total Some(\"12,50 EUR\")"),
        "{msg}"
    );
    let failures = wh
        .text("SELECT detail LIKE '%t-garbled%' FROM audit.dq_failures WHERE check_name = 'reconcile'")
        .await;
    assert_eq!(failures, ["(t)"]);
}

/// The warehouse's writer lock held by another session (a stuck load): `load_redshift`, run as a
/// user runs it with `MERCADO_PG_LOCK_TIMEOUT_SECONDS=2`, gives up within its lock timeout with a
/// message naming the lock, loads nothing of the date, and records its failed run.
#[tokio::test]
async fn a_held_writer_lock_fails_the_load_within_its_lock_timeout() {
    let env = Env::new().await;
    two_days(&env).await;
    let wh = Warehouse::new(&env).await;
    load_redshift::run(&wh.args(&env, D1)).await.expect("load");
    let (holder, conn) = tokio_postgres::connect(&wh.url, NoTls)
        .await
        .expect("a second session");
    tokio::spawn(conn);
    holder
        .execute(
            "SELECT pg_advisory_lock($1)",
            &[&mercado_lake::warehouse::WRITER_LOCK],
        )
        .await
        .expect("the lock");

    let started = std::time::Instant::now();
    let out = mercado_testkit::cli::task("load_redshift")
        .env("MERCADO_DATE", D2)
        .env("MERCADO_LAKE_BUCKET", &env.bucket)
        .env("WAREHOUSE_URL", &wh.url)
        .env("MERCADO_WAREHOUSE_TARGET", "postgres")
        .env("MERCADO_RUN_ID", "locked-out")
        .env("MERCADO_PG_LOCK_TIMEOUT_SECONDS", "2")
        .output()
        .expect("load_redshift runs");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr
            .contains("load_redshift failed: the warehouse writer lock is held by another session")
            && stderr.contains("gave up after 2 s"),
        "{stderr}"
    );
    eprintln!("load_redshift gave up on the held lock after {took:.1?}");
    assert!(took < std::time::Duration::from_secs(20), "{took:?}");
    assert_eq!(
        wh.text("SELECT COUNT(*) FROM core.fact_sales WHERE date_id = 20250318")
            .await,
        ["(0)"],
        "nothing of the date is loaded"
    );
    assert_eq!(
        wh.text("SELECT status FROM audit.pipeline_runs WHERE run_id = 'locked-out'")
            .await,
        ["(failed)"]
    );
    // Released, the same load goes through.
    holder
        .execute(
            "SELECT pg_advisory_unlock($1)",
            &[&mercado_lake::warehouse::WRITER_LOCK],
        )
        .await
        .expect("unlock");
    load_redshift::run(&wh.args(&env, D2))
        .await
        .expect("the load after the lock is free");
}
