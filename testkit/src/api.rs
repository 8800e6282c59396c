//! The API in-process: each test gets its own PostgreSQL database and DynamoDB table on the local
//! services, and an API served on a free loopback port, driven over real HTTP.

use mercado_api::{AppState, Config};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::services::env;
pub use crate::services::{create_database, load_env, unique_name, with_database};

pub fn config(database_url: String, table: String) -> Config {
    load_env();
    // A signing key of its own (generated on first use, with its JWKS) for each app.
    let keys = std::env::temp_dir()
        .join("mercado-testkit-jwt")
        .join(unique_name());
    Config {
        database_url,
        pool_size: 8,
        aws_endpoint_url: std::env::var("AWS_ENDPOINT_URL").ok(),
        aws_region: env("AWS_REGION"),
        table,
        create_table: true,
        migrate: true,
        warehouse_url: None,
        store_timeout_ms: 5000,
        header_read_timeout_ms: 10_000,
        idle_timeout_ms: 60_000,
        // Generous: the load and fault tests drive many requests from 127.0.0.1 at once and must
        // not meet the abuse limits (api/tests/limits.rs sets its own).
        max_connections: 4096,
        max_in_flight: 4096,
        rate_limit_per_second: 0,
        rate_limit_burst: 1,
        rate_limit_store: Default::default(),
        jwks_file: keys.join("jwks.json"),
        jwks_url: None,
        jwks_refresh_seconds: 300,
        jwt_issuer: "mercado-local".into(),
        jwt_audience: "mercado-api".into(),
        signing_key_file: keys.join("signing.pem"),
        jwt_leeway_seconds: 30,
    }
}

pub struct TestApp {
    pub base: String,
    /// Sends [`TestApp::token`] with every request.
    pub http: reqwest::Client,
    /// A service token with every scope (a day long), signed with the app's key.
    pub token: String,
    pub name: String,
    pub database_url: String,
    pub state: AppState,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    /// The `error.field` of an error reply.
    pub fn field(&self) -> Option<&str> {
        self.body["error"]["field"].as_str()
    }
}

impl TestApp {
    /// A fresh database and table, migrated, with the API listening on 127.0.0.1.
    pub async fn spawn() -> TestApp {
        let name = unique_name();
        let database_url = create_database(&name).await;
        let state = AppState::connect(&config(database_url.clone(), name.clone()))
            .await
            .expect("stores ready");
        Self::serve(state, name, database_url).await
    }

    /// Serves an already built state (for tests that point it at broken stores).
    pub async fn serve(state: AppState, name: String, database_url: String) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(mercado_api::serve(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        let token = token_for(&state, &mercado_api::http::auth::all_scopes("testkit"));
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("header value"),
        );
        TestApp {
            base,
            http: reqwest::Client::builder()
                .default_headers(headers)
                .build()
                .expect("client"),
            token,
            name,
            database_url,
            state,
            _stop: stop,
        }
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request sent");
        reply(resp).await
    }

    /// Sends raw bytes as the body (for malformed JSON and oversized bodies).
    pub async fn send_raw(&self, method: Method, path: &str, body: Vec<u8>) -> Reply {
        let resp = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request sent");
        reply(resp).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(&body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(&body)).await
    }

    pub async fn checkout(&self, user: i64, key: Option<&str>) -> Reply {
        let mut req = self
            .http
            .post(format!("{}/checkout", self.base))
            .json(&json!({ "user_id": user }));
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        reply(req.send().await.expect("request sent")).await
    }

    /// `POST /checkout` with this body (for bodies other than `{"user_id": user}`).
    pub async fn checkout_with(&self, body: &Value, key: Option<&str>) -> Reply {
        let mut req = self.http.post(format!("{}/checkout", self.base)).json(body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        reply(req.send().await.expect("request sent")).await
    }

    // ---- fixtures through the API ---------------------------------------------------------
    // Imported with their history (scope `history:write`), as existing since
    // [`FIXTURES_SINCE`]: the pipeline's tests extract past dates, whose snapshots take only what
    // existed by each date's end.

    pub async fn customer(&self, email: &str) -> i64 {
        let r = self
            .post(
                "/customers",
                json!({"first_name": "Ana", "last_name": "Silva", "email": email, "joined_at": FIXTURES_SINCE}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["id"].as_i64().expect("id")
    }

    pub async fn vendor(&self, name: &str) -> i64 {
        let r = self
            .post(
                "/vendors",
                json!({"vendor_name": name, "region": "PT", "joined_at": FIXTURES_SINCE}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["id"].as_i64().expect("id")
    }

    pub async fn item(&self, vendor: i64, name: &str, price: &str) -> i64 {
        let r = self
            .post(
                &format!("/inventory?vendor_id={vendor}"),
                json!({"item_name": name, "category": 1, "price": price, "stock": 100_000, "created_at": FIXTURES_SINCE}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["id"].as_i64().expect("id")
    }

    /// A customer with a one-line cart of `qty` units at `price`; returns (user, item).
    pub async fn customer_with_cart(&self, price: &str, qty: i64) -> (i64, i64) {
        let user = self
            .customer(&format!("{}@example.com", unique_name()))
            .await;
        let vendor = self.vendor("Loja").await;
        let item = self.item(vendor, "Mug", price).await;
        let r = self
            .post(
                "/cart",
                json!({"user_id": user, "cart": [{"item_id": item, "qty": qty}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        (user, item)
    }
}

/// When the fixtures' customers, vendors and items began (before any date the tests extract).
pub const FIXTURES_SINCE: &str = "2020-01-01T00:00:00Z";

/// A day-long token for `principal`, signed with the state's key.
pub fn token_for(state: &AppState, principal: &mercado_api::http::auth::Principal) -> String {
    state
        .auth
        .signer()
        .expect("the test app signs")
        .mint(principal, std::time::Duration::from_secs(86_400))
        .expect("token")
}

impl TestApp {
    /// When the fixtures' customers, vendors and items began (before any date the tests extract).
    pub const FIXTURES_SINCE: &str = "2020-01-01T00:00:00Z";

    /// A day-long token for `principal`, signed with this app's key.
    pub fn token_for(&self, principal: &mercado_api::http::auth::Principal) -> String {
        token_for(&self.state, principal)
    }
}

async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = resp.text().await.expect("body");
    assert!(
        ctype.starts_with("application/json"),
        "{status}: content-type {ctype:?}, body {text}"
    );
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {text}"));
    if status.is_client_error() || status.is_server_error() {
        assert!(
            body["error"]["code"].is_string(),
            "error body without code: {body}"
        );
        assert!(
            body["error"]["message"].is_string(),
            "error body without message: {body}"
        );
    }
    Reply { status, body }
}
