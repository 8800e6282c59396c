//! A store that does not answer is a 503 with a clear message, not a 500 or a hang.

use mercado_testkit::api as common;

use common::TestApp;
use mercado_api::store::dynamo::DynamoStore;
use mercado_api::AppState;
use reqwest::StatusCode;
use serde_json::json;

/// A port on 127.0.0.1 with nothing listening.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[tokio::test]
async fn unreachable_stores_answer_503() {
    common::load_env();
    let port = closed_port();
    let mut config = common::config(
        format!("postgres://mercado:mercado@127.0.0.1:{port}/none"),
        "absent".into(),
    );
    config.aws_endpoint_url = Some(format!("http://127.0.0.1:{port}"));
    config.store_timeout_ms = 1000;
    let state = AppState {
        pg: mercado_api::store::pg::pool(&config.database_url, 2, config.store_timeout())
            .expect("pool"),
        ddb: DynamoStore::connect(&config).await,
        warehouse: None,
        request_timeout: config.store_timeout() * 3 / 2,
        limits: mercado_api::http::limits::Limits::from_config(&config),
        auth: std::sync::Arc::new(
            mercado_api::http::auth::Auth::from_config(&config).expect("keys"),
        ),
    };
    let app = TestApp::serve(state, "outage".into(), config.database_url.clone()).await;

    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
    let r = app.get("/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let msg = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("PostgreSQL") && msg.contains("DynamoDB"),
        "{msg}"
    );

    let r = app
        .post(
            "/customers",
            json!({"first_name": "A", "last_name": "B", "email": "a@b.co"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("store_unavailable"))
    );
    assert_eq!(
        app.get("/cart/1").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        app.get("/transactions/0190a0a0-0000-7000-8000-000000000000")
            .await
            .status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Validation still comes first: a client mistake is a 4xx even during an outage.
    let r = app
        .post(
            "/customers",
            json!({"first_name": "A", "last_name": "B", "email": "nope"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}
