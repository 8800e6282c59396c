//! TLS to PostgreSQL wherever the URL asks for it (`mercado_core::postgres`), against a server of
//! this test's own that accepts TLS connections only, with a certificate this test made:
//! - a plain connection is refused by the server;
//! - `sslmode=require` without the test's CA fails certificate verification (rustls always checks
//!   the chain and the name);
//! - `sslmode=verify-full&sslrootcert=<the CA>`, and `sslmode=require` with `PGSSLROOTCERT`, connect
//!   over TLS: the task's connection (`extract`'s, the warehouse's) and the API's pool alike, as
//!   `pg_stat_ssl` confirms.

use mercado_lake::cli::Waits;
use std::time::Duration;

use mercado_testkit::cluster::{OwnPostgres, TestCerts};
use mercado_testkit::services::unique_name;

async fn over_tls(client: &tokio_postgres::Client) -> bool {
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .expect("pg_stat_ssl")
        .get(0)
}

#[tokio::test]
async fn tasks_and_api_reach_a_tls_only_server_as_the_url_says() {
    let certs =
        TestCerts::make(&std::env::temp_dir().join(format!("mercado-certs-{}", unique_name())));
    let pg = OwnPostgres::start_tls(&certs);
    let ca = certs.ca().display().to_string();
    let waits = Waits::default();

    // Plain TCP: the server has no rule for it.
    let plain = mercado_lake::warehouse::connect(
        "WAREHOUSE_URL",
        &pg.url("?sslmode=disable"),
        false,
        "test",
        &Waits::default(),
    )
    .await;
    let refused = plain.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        refused.contains("no encryption") || refused.contains("pg_hba"),
        "{refused}"
    );

    // TLS, but the test's CA is not trusted: the certificate is refused.
    let untrusted = mercado_lake::warehouse::connect(
        "WAREHOUSE_URL",
        &pg.url("?sslmode=require"),
        false,
        "test",
        &Waits::default(),
    )
    .await;
    let why = untrusted.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        why.to_lowercase().contains("certificate") || why.contains("UnknownIssuer"),
        "{why}"
    );

    // verify-full with the CA named in the URL: connected, over TLS.
    let url = pg.url(&format!("?sslmode=verify-full&sslrootcert={ca}"));
    let (client, driver) =
        mercado_lake::warehouse::connect("WAREHOUSE_URL", &url, false, "test", &waits)
            .await
            .expect("TLS connection with the test's CA");
    assert!(over_tls(&client).await);
    drop(client);
    driver.abort();

    // The API's pool on the same URL.
    let pool = mercado_api::store::pg::pool(&url, 2, Duration::from_secs(5)).expect("pool");
    let client = pool.get().await.expect("a pooled TLS connection");
    assert!(over_tls(&client).await);
    drop(client);

    // sslmode=require with the CA from the environment, as libpq reads PGSSLROOTCERT (this test
    // is alone in its binary, so setting the variable touches no other test).
    std::env::set_var("PGSSLROOTCERT", &ca);
    let (client, driver) = mercado_lake::warehouse::connect(
        "DATABASE_URL",
        &pg.url("?sslmode=require"),
        false,
        "test",
        &Waits::default(),
    )
    .await
    .expect("TLS connection with PGSSLROOTCERT");
    assert!(over_tls(&client).await);
    drop(client);
    driver.abort();
    std::env::remove_var("PGSSLROOTCERT");

    // A bad root file is named in the error.
    let missing = pg.url("?sslmode=require&sslrootcert=/nonexistent/ca.pem");
    let err = mercado_lake::warehouse::connect("WAREHOUSE_URL", &missing, false, "test", &waits)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    let _ = std::fs::remove_dir_all(&certs.dir);
}
