//! Stores that stop answering mid-request (SIGSTOP: the process is frozen, its connections stay
//! open and silent, as with a hung server or a paused VM): requests in flight and new ones get a
//! 503 within the request timeout, the API recovers when the store resumes, and no cart or
//! transaction is left half-written: retrying each checkout with its Idempotency-Key ends with
//! exactly one whole transaction per customer.
//!
//! The test starts its own PostgreSQL cluster and its own moto server, so freezing them does not
//! disturb the other tests sharing the local services.

use mercado_testkit::api as common;
use mercado_testkit::cluster::{free_port, signal, OwnPostgres};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TestApp;
use mercado_api::AppState;
use reqwest::StatusCode;
use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_millis(1500);
/// What an answer may take beyond the timeout (scheduling, the 503 itself).
const SLACK: Duration = Duration::from_millis(1500);
const USERS: usize = 24;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// moto's server as `scripts/services.sh` runs it, on a port of this test only.
struct OwnMoto {
    child: Child,
    port: u16,
}

impl OwnMoto {
    async fn start() -> OwnMoto {
        let port = free_port();
        let python = root().join(".local/venv/bin/python");
        assert!(
            python.exists(),
            "moto's venv is missing: run scripts/services.sh start"
        );
        let child = Command::new(python)
            .arg(root().join("scripts/moto_server.py"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto starts");
        let moto = OwnMoto { child, port };
        let started = Instant::now();
        while reqwest::get(format!("{}/moto-api/", moto.url()))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        moto
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnMoto {
    fn drop(&mut self) {
        signal(self.child.id(), "CONT", false);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Answer {
    status: StatusCode,
    body: Value,
    took: Duration,
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: String,
    body: Option<Value>,
    key: Option<String>,
) -> Answer {
    let started = Instant::now();
    let mut req = app
        .http
        .request(method, format!("{}{path}", app.base))
        .timeout(Duration::from_secs(30));
    if let Some(b) = body {
        req = req.json(&b);
    }
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let resp = req.send().await.expect("the API answers");
    let status = resp.status();
    let body = resp.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        body,
        took: started.elapsed(),
    }
}

fn checkout(app: &TestApp, user: i64) -> impl std::future::Future<Output = Answer> + '_ {
    send(
        app,
        reqwest::Method::POST,
        "/checkout".into(),
        Some(json!({ "user_id": user })),
        Some(format!("fault-{user}")),
    )
}

/// Every answer during an outage is a success or a 503 with a JSON error, within the timeout.
fn check_outage_answers(what: &str, answers: &[Answer]) -> usize {
    eprintln!(
        "{what}: {:?}",
        answers
            .iter()
            .map(|a| (a.status.as_u16(), a.took.as_millis()))
            .collect::<Vec<_>>()
    );
    let mut unavailable = 0;
    for a in answers {
        assert!(
            a.status.is_success() || a.status == StatusCode::SERVICE_UNAVAILABLE,
            "{what}: {} {}",
            a.status,
            a.body
        );
        if a.status == StatusCode::SERVICE_UNAVAILABLE {
            unavailable += 1;
            assert_eq!(
                a.body["error"]["code"], "store_unavailable",
                "{what}: {}",
                a.body
            );
        }
        assert!(
            a.took <= TIMEOUT + SLACK,
            "{what}: answered after {:?}",
            a.took
        );
    }
    unavailable
}

async fn wait_ready(app: &TestApp) {
    let started = Instant::now();
    while app.get("/readyz").await.status != StatusCode::OK {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the API did not recover"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Freezes `pid` (and its children) 20 ms after `requests` start, waits for every answer and a
/// little more. The caller resumes it. Returns the answers.
async fn during_stop(
    pid: u32,
    children: bool,
    requests: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = Answer> + '_>>>,
) -> Vec<Answer> {
    let stopper = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        signal(pid, "STOP", children);
    };
    let (answers, ()) = tokio::join!(futures::future::join_all(requests), stopper);
    // Still stopped: a fresh request also gets its 503 in time.
    tokio::time::sleep(Duration::from_millis(300)).await;
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_stores_answer_503_in_time_and_lose_nothing() {
    common::load_env();
    let pg = OwnPostgres::start();
    let moto = OwnMoto::start().await;
    let mut config = common::config(pg.url(""), "faults".into());
    config.aws_endpoint_url = Some(moto.url());
    config.store_timeout_ms = TIMEOUT.as_millis() as u64;
    let state = AppState::connect(&config).await.expect("own stores ready");
    let app = TestApp::serve(state, "faults".into(), pg.url("")).await;

    let vendor = app.vendor("Loja").await;
    let items = [
        app.item(vendor, "Mug", "12.50").await,
        app.item(vendor, "Lamp", "30.00").await,
    ];
    let mut users = Vec::new();
    for n in 0..USERS {
        let user = app.customer(&format!("f{n}@example.com")).await;
        let r = app
            .post(
                "/cart",
                json!({"user_id": user, "cart": [{"item_id": items[n % 2], "qty": 1 + n % 3}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        users.push(user);
    }
    let (first, rest) = users.split_at(USERS / 3);
    let (carts, second) = rest.split_at(USERS / 3);

    // 1. PostgreSQL frozen: checkouts, sign-ups and cart replacements in flight.
    let postmaster = pg.postmaster();
    let mut requests: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = Answer> + '_>>> =
        Vec::new();
    for &u in first {
        requests.push(Box::pin(checkout(&app, u)));
    }
    for &u in carts {
        requests.push(Box::pin(send(
            &app,
            reqwest::Method::POST,
            "/cart".into(),
            Some(json!({"user_id": u, "cart": [{"item_id": items[0], "qty": 5}, {"item_id": items[1], "qty": 5}]})),
            None,
        )));
    }
    for n in 0..4 {
        requests.push(Box::pin(send(
            &app,
            reqwest::Method::POST,
            "/customers".into(),
            Some(json!({"first_name": "New", "last_name": "One", "email": format!("new{n}@example.com")})),
            None,
        )));
    }
    let answers = during_stop(postmaster, true, requests).await;
    let late = send(
        &app,
        reqwest::Method::POST,
        "/checkout".into(),
        Some(json!({"user_id": carts[0]})),
        None,
    )
    .await;
    assert_eq!(
        late.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        late.body
    );
    let unavailable = check_outage_answers("PostgreSQL frozen", &answers);
    assert!(unavailable > 0, "the freeze did not reach any request");
    signal(postmaster, "CONT", true);
    wait_ready(&app).await;

    // A cart replaced during the freeze is the old one or the new one, whole.
    for &u in carts {
        let cart = app.get(&format!("/cart/{u}")).await;
        assert_eq!(cart.status, StatusCode::OK);
        let lines = cart.body["cart"].as_array().map(Vec::len);
        assert!(matches!(lines, Some(1) | Some(2)), "{}", cart.body);
        if lines == Some(2) {
            assert!(cart.body["cart"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|l| l["qty"] == 5));
        }
    }

    // 2. The DynamoDB emulator frozen: checkouts and cart reads in flight.
    let mut requests: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = Answer> + '_>>> =
        Vec::new();
    for &u in second {
        requests.push(Box::pin(checkout(&app, u)));
        requests.push(Box::pin(send(
            &app,
            reqwest::Method::GET,
            format!("/cart/{u}"),
            None,
            None,
        )));
    }
    let answers = during_stop(moto.child.id(), false, requests).await;
    let late = send(
        &app,
        reqwest::Method::GET,
        format!("/cart/{}", carts[0]),
        None,
        None,
    )
    .await;
    assert_eq!(
        late.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        late.body
    );
    let unavailable = check_outage_answers("DynamoDB frozen", &answers);
    assert!(unavailable > 0, "the freeze did not reach any request");
    signal(moto.child.id(), "CONT", false);
    wait_ready(&app).await;

    // 3. Every client retries its checkout with its key: one whole transaction per customer,
    // the cart gone, the receipt the same however many times it is asked.
    for &u in &users {
        let a = checkout(&app, u).await;
        assert_eq!(a.status, StatusCode::OK, "user {u}: {}", a.body);
        let again = checkout(&app, u).await;
        assert_eq!(
            a.body, again.body,
            "user {u}: the retry answers the same receipt"
        );
        let history = app.get(&format!("/customers/{u}/transactions")).await;
        let txns = history.body["transactions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(txns.len(), 1, "user {u}: {}", history.body);
        let t = &txns[0];
        assert_eq!(t["transaction_id"], a.body["transaction_id"]);
        let lines = t["lines"].as_array().cloned().unwrap_or_default();
        assert!(!lines.is_empty());
        let cents = |v: &Value| (v.as_f64().unwrap_or(-1.0) * 100.0).round() as i64;
        let sum: i64 = lines.iter().map(|l| cents(&l["total_price"])).sum();
        assert_eq!(
            sum,
            cents(&t["total_price"]),
            "user {u}: lines add up to the total"
        );
        for l in &lines {
            assert_eq!(
                cents(&l["total_price"]),
                cents(&l["unit_price"]) * l["qty"].as_i64().unwrap_or(0)
            );
        }
        assert_eq!(
            app.get(&format!("/cart/{u}")).await.status,
            StatusCode::NOT_FOUND,
            "user {u}: cart consumed"
        );
    }
}
