//! Least privilege in PostgreSQL, set up as command 1 sets it up: the test's OLTP and warehouse
//! databases handed to their owners by `scripts/services.sh database`, the OLTP schema migrated by
//! `mercado_migrator`, the warehouse's DDL, marts and grants applied by `mercado_loader` (as
//! `load_redshift` does); then each login of the local cluster tries what its component needs,
//! which works, and what it must not do, which PostgreSQL refuses.

use std::path::Path;
use std::process::Command;

use mercado_testkit::services::{create_database, role_url, unique_name};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// `scripts/services.sh database KIND NAME`: the database owned and opened as command 1's are.
fn hand_over(kind: &str, url: &str) {
    let out = Command::new(root().join("scripts/services.sh"))
        .args(["database", kind, db_name(url)])
        .output()
        .expect("run scripts/services.sh");
    assert!(
        out.status.success(),
        "services.sh database {kind}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

async fn login(role: &str, url: &str) -> Client {
    connect(&role_url(role, url))
        .await
        .unwrap_or_else(|e| panic!("{role} should log in to {}: {e}", db_name(url)))
}

fn db_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

async fn allowed(client: &Client, role: &str, statements: &[&str]) {
    for sql in statements {
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{role} should be allowed {sql}: {e}"));
    }
}

/// Each statement fails with `code` (in a transaction rolled back afterwards, so a statement that
/// would wrongly succeed changes nothing for the next one).
async fn refused(client: &Client, role: &str, code: &SqlState, statements: &[&str]) {
    for sql in statements {
        client.batch_execute("BEGIN").await.expect("begin");
        let err = client
            .batch_execute(sql)
            .await
            .expect_err(&format!("{role} should be refused {sql}"));
        assert_eq!(err.code(), Some(code), "{role}: {sql}: {err}");
        client.batch_execute("ROLLBACK").await.expect("rollback");
    }
}

async fn cannot_connect(role: &str, url: &str) {
    let err = match connect(&role_url(role, url)).await {
        Ok(_) => panic!("{role} should not log in to {}", db_name(url)),
        Err(e) => e,
    };
    assert_eq!(
        err.code(),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE),
        "{role} on {}: {err}",
        db_name(url)
    );
}

#[tokio::test]
async fn each_login_does_its_job_and_nothing_more() {
    let name = unique_name();
    let oltp = create_database(&name).await;
    let warehouse = create_database(&format!("{name}_wh")).await;
    hand_over("oltp", &oltp);
    hand_over("warehouse", &warehouse);

    // The migrator owns the schema: it migrates (DDL) and grants the application's roles.
    let mut migrator = login("mercado_migrator", &oltp).await;
    let applied = mercado_api::store::migrate::migrate(&mut migrator)
        .await
        .expect("the migrator applies the migrations");
    assert!(!applied.is_empty());
    allowed(
        &migrator,
        "mercado_migrator",
        &[
            "CREATE TABLE migrator_scratch (x int)",
            "DROP TABLE migrator_scratch",
        ],
    )
    .await;

    // The loader owns the warehouse: DDL, marts and grants, as load_redshift applies them.
    let loader = login("mercado_loader", &warehouse).await;
    let sql = root().join("sql/warehouse");
    for file in ["postgres.sql", "marts.sql", "grants.sql"] {
        let text = std::fs::read_to_string(sql.join(file)).expect("warehouse SQL");
        loader
            .batch_execute(&text)
            .await
            .unwrap_or_else(|e| panic!("mercado_loader applies {file}: {e}"));
    }
    allowed(
        &loader,
        "mercado_loader",
        &[
            "INSERT INTO core.dim_vendor VALUES (1, 'Loja do Porto', 'PT', now())",
            "CREATE TABLE staging.scratch (x int)",
            "DROP TABLE staging.scratch",
            "SELECT * FROM audit.pipeline_runs",
        ],
    )
    .await;

    // The API: rows of the application's tables, nothing else.
    let api = login("mercado_api", &oltp).await;
    allowed(
        &api,
        "mercado_api",
        &[
            "INSERT INTO vendors (vendor_name, region) VALUES ('Loja do Porto', 'PT')",
            "UPDATE vendors SET vendor_name = 'Loja do Porto, Lda' WHERE region = 'PT'",
            "INSERT INTO inventory (vendor_id, category_id, item_name, price, stock) \
             SELECT id, 1, 'Mug', 12.50, 10 FROM vendors",
            "UPDATE inventory SET stock = stock - 1",
            "SELECT * FROM customers",
        ],
    )
    .await;
    refused(
        &api,
        "mercado_api",
        &SqlState::INSUFFICIENT_PRIVILEGE,
        &[
            "CREATE TABLE mine (x int)",
            "CREATE TEMP TABLE mine (x int)",
            "DROP TABLE customers",
            "ALTER TABLE inventory ADD COLUMN discount numeric",
            "TRUNCATE inventory",
            "CREATE FUNCTION mine() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            "COPY (SELECT 1) TO PROGRAM 'id'",
            "COPY customers FROM PROGRAM 'id'",
            "INSERT INTO schema_migrations (version, name) VALUES (99, 'mine')",
        ],
    )
    .await;
    cannot_connect("mercado_api", &warehouse).await;

    // extract: reads the OLTP tables; its sessions are read-only, and so are its rights.
    let extract = login("mercado_extract", &oltp).await;
    allowed(
        &extract,
        "mercado_extract",
        &["SELECT * FROM customers", "SELECT * FROM inventory"],
    )
    .await;
    refused(
        &extract,
        "mercado_extract",
        &SqlState::READ_ONLY_SQL_TRANSACTION,
        &["INSERT INTO vendors (vendor_name, region) VALUES ('Mine', 'PT')"],
    )
    .await;
    extract
        .batch_execute("SET default_transaction_read_only = off")
        .await
        .expect("a session setting");
    refused(
        &extract,
        "mercado_extract (read-write session)",
        &SqlState::INSUFFICIENT_PRIVILEGE,
        &[
            "INSERT INTO vendors (vendor_name, region) VALUES ('Mine', 'PT')",
            "UPDATE inventory SET price = 0.01",
            "DELETE FROM customers",
            "CREATE TABLE mine (x int)",
        ],
    )
    .await;
    cannot_connect("mercado_extract", &warehouse).await;

    // Vendor analytics (the API's warehouse login) and the KPIs: the marts only.
    let analytics = login("mercado_analytics", &warehouse).await;
    allowed(
        &analytics,
        "mercado_analytics",
        &[
            "SELECT * FROM marts.vendors",
            "SELECT * FROM marts.vendor_daily_sales",
            "SELECT * FROM marts.vendor_item_daily_sales",
            "SELECT * FROM marts.daily_sales",
        ],
    )
    .await;
    analytics
        .batch_execute("SET default_transaction_read_only = off")
        .await
        .expect("a session setting");
    refused(
        &analytics,
        "mercado_analytics",
        &SqlState::INSUFFICIENT_PRIVILEGE,
        &[
            "SELECT * FROM core.fact_sales",
            "SELECT * FROM core.dim_customer",
            "SELECT * FROM audit.pipeline_runs",
            "CREATE TABLE marts.mine (x int)",
            "COPY (SELECT 1) TO PROGRAM 'id'",
        ],
    )
    .await;
    cannot_connect("mercado_analytics", &oltp).await;

    // Each database is closed to the logins of the others.
    cannot_connect("mercado_loader", &oltp).await;
    cannot_connect("mercado_migrator", &warehouse).await;
    cannot_connect("mercado_airflow", &oltp).await;
    cannot_connect("mercado_airflow", &warehouse).await;
}
