//! The abuse limits on a real server on 127.0.0.1: slow sockets are closed by the header-read
//! timeout while the API keeps answering, a client over its rate gets 429, requests over the
//! in-flight cap get 503 `overloaded`, and connections over the cap wait.

use std::time::{Duration, Instant};

use mercado_api::{AppState, Config};
use mercado_testkit::api as common;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::TestApp;

/// A server on its own database and table, with `limits` applied to the test configuration.
async fn spawn(limits: impl FnOnce(&mut Config)) -> TestApp {
    let name = common::unique_name();
    let database_url = common::create_database(&name).await;
    let mut config = common::config(database_url.clone(), name.clone());
    limits(&mut config);
    let state = AppState::connect(&config).await.expect("stores ready");
    TestApp::serve(state, name, database_url).await
}

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_string()
}

/// The error body's code and the Retry-After header (whole seconds).
async fn refusal(resp: reqwest::Response) -> (StatusCode, Option<u64>, String) {
    let status = resp.status();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().unwrap_or("").to_string();
    (status, retry, code)
}

/// 200 sockets trickle a request line a byte a second, never finishing their headers: the
/// header-read timeout (2 s here) closes every one of them, however steadily it sends, and
/// `/healthz` answers in under a second all along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off_while_health_answers() {
    const SOCKETS: usize = 200;
    const TIMEOUT: Duration = Duration::from_secs(2);
    const MARGIN: Duration = Duration::from_secs(3);
    let app = spawn(|c| c.header_read_timeout_ms = TIMEOUT.as_millis() as u64).await;
    let addr = addr(&app);

    let started = Instant::now();
    let mut sockets = Vec::new();
    for _ in 0..SOCKETS {
        let addr = addr.clone();
        sockets.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&addr).await.expect("connect");
            let opened = Instant::now();
            let line = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaa";
            let mut buf = [0u8; 1024];
            for byte in line.iter().cycle() {
                if s.write_all(&[*byte]).await.is_err() {
                    break;
                }
                // Wait a second for the server to close (EOF, a reset, or a 408 then EOF).
                match tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(_)) => {
                        // hyper may answer 408 before closing: read on to the close.
                        let _ =
                            tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await;
                        break;
                    }
                    Err(_) => {}
                }
                if opened.elapsed() > Duration::from_secs(30) {
                    break; // never reached when the timeout works; bounds the test when not
                }
            }
            opened.elapsed()
        }));
    }

    // Health checks all along, on fresh connections, until the sockets are all closed.
    let mut latencies = Vec::new();
    while sockets.iter().any(|s| !s.is_finished()) && started.elapsed() < Duration::from_secs(35) {
        let t = Instant::now();
        let r = reqwest::Client::new()
            .get(format!("{}/healthz", app.base))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("healthz answers");
        assert_eq!(r.status(), StatusCode::OK);
        latencies.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut open_for = Vec::new();
    for s in sockets {
        open_for.push(s.await.expect("socket task"));
    }
    let longest = open_for.iter().max().copied().unwrap_or_default();
    let shortest = open_for.iter().min().copied().unwrap_or_default();
    let slowest_health = latencies.iter().max().copied().unwrap_or_default();
    eprintln!(
        "{SOCKETS} slow sockets open for {shortest:?} … {longest:?} (timeout {TIMEOUT:?}); \
         {} health checks meanwhile, slowest {slowest_health:?}",
        latencies.len()
    );
    assert!(
        longest <= TIMEOUT + MARGIN,
        "a slow socket stayed open {longest:?}"
    );
    assert!(
        shortest >= TIMEOUT - Duration::from_millis(100),
        "closed before the timeout: {shortest:?}"
    );
    assert!(!latencies.is_empty());
    assert!(
        slowest_health < Duration::from_secs(1),
        "healthz took {slowest_health:?} during the attack"
    );
}

/// Over its rate (5/s, burst 10) a client gets 429 `rate_limited` with Retry-After; under it
/// requests succeed; the health probes are never limited.
#[tokio::test]
async fn a_client_over_its_rate_gets_429() {
    let app = spawn(|c| {
        c.rate_limit_per_second = 5;
        c.rate_limit_burst = 10;
    })
    .await;
    let http = reqwest::Client::new();
    let url = format!("{}/openapi.json", app.base);

    let (mut ok, mut limited) = (0, 0);
    for _ in 0..40 {
        let resp = http.get(&url).send().await.expect("sent");
        if resp.status() == StatusCode::OK {
            ok += 1;
            continue;
        }
        let (status, retry, code) = refusal(resp).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(code, "rate_limited");
        let retry = retry.expect("Retry-After on a 429");
        assert!((1..=2).contains(&retry), "Retry-After {retry}");
        limited += 1;
    }
    eprintln!("40 requests at once: {ok} answered, {limited} refused with 429");
    assert!((10..=15).contains(&ok), "{ok} answered");
    assert_eq!(ok + limited, 40);

    // The probes are exempt, however many.
    for path in ["/healthz", "/readyz"] {
        for _ in 0..30 {
            let r = http
                .get(format!("{}{path}", app.base))
                .send()
                .await
                .expect("sent");
            assert_eq!(r.status(), StatusCode::OK, "{path}");
        }
    }

    // Under the rate (one request every 250 ms, after the bucket refills) nothing is refused.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for _ in 0..8 {
        let r = http.get(&url).send().await.expect("sent");
        assert_eq!(r.status(), StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The rate is counted per principal (the token's `sub`), not per address: a client over its rate
/// does not use up another's budget from the same address; requests without a valid token are
/// counted against the address.
#[tokio::test]
async fn each_principal_has_its_own_rate() {
    use mercado_api::http::auth::Principal;
    let app = spawn(|c| {
        c.rate_limit_per_second = 1;
        c.rate_limit_burst = 5;
    })
    .await;
    let http = reqwest::Client::new();
    let url = format!("{}/categories", app.base);
    let (a, b) = (
        app.token_for(&Principal::Customer(1)),
        app.token_for(&Principal::Customer(2)),
    );
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let r = http.get(&url).bearer_auth(&a).send().await.expect("sent");
        statuses.push(r.status());
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    for _ in 0..4 {
        let r = http.get(&url).bearer_auth(&b).send().await.expect("sent");
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "another principal from the same address"
        );
    }
    let mut anonymous = Vec::new();
    for _ in 0..10 {
        anonymous.push(http.get(&url).send().await.expect("sent").status());
    }
    assert_eq!(anonymous[0], StatusCode::UNAUTHORIZED);
    assert!(
        anonymous.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{anonymous:?}"
    );
}

/// Replicas of the API counting rates in PostgreSQL (`MERCADO_RATE_LIMIT_STORE=postgres`) share
/// each client's budget: what a client used on one replica is gone on the other, the refusal's
/// Retry-After is the shared one, another client is untouched, and the budget comes back with
/// time on either. (Counted in memory, the second replica would have answered a full budget.)
#[tokio::test]
async fn replicas_with_the_postgres_store_share_each_clients_rate() {
    use mercado_api::config::RateLimitStore;
    use mercado_api::http::auth::Principal;
    let name = common::unique_name();
    let database_url = common::create_database(&name).await;
    let mut config = common::config(database_url.clone(), name.clone());
    config.rate_limit_per_second = 2;
    config.rate_limit_burst = 6;
    config.rate_limit_store = RateLimitStore::Postgres;
    let one = TestApp::serve(
        AppState::connect(&config).await.expect("stores ready"),
        name.clone(),
        database_url.clone(),
    )
    .await;
    let two = TestApp::serve(
        AppState::connect(&config).await.expect("stores ready"),
        name,
        database_url,
    )
    .await;
    let http = reqwest::Client::new();
    let (a, b) = (
        one.token_for(&Principal::Customer(1)),
        one.token_for(&Principal::Customer(2)),
    );
    let get = |app: &TestApp, token: &str| {
        http.get(format!("{}/categories", app.base))
            .bearer_auth(token)
            .send()
    };
    // The burst, three requests on each replica.
    for app in [&one, &two, &one, &two, &one, &two] {
        let r = get(app, &a).await.expect("sent");
        assert_eq!(r.status(), StatusCode::OK, "within the burst");
    }
    // Spent, on both: the next request is refused by either replica.
    for app in [&one, &two] {
        let (status, retry, code) = refusal(get(app, &a).await.expect("sent")).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
        );
        assert_eq!(retry, Some(1), "one request comes back every 0.5 s");
    }
    // Another client has its own budget.
    assert_eq!(get(&two, &b).await.expect("sent").status(), StatusCode::OK);
    // After a second, two requests are back, counted once across the replicas.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(&two, &a).await.expect("sent").status(), StatusCode::OK);
    assert_eq!(get(&one, &a).await.expect("sent").status(), StatusCode::OK);
    assert_eq!(
        get(&two, &a).await.expect("sent").status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// With one request allowed in flight, a request whose body is still arriving holds it: the next
/// request is answered 503 `overloaded` with `Retry-After: 1` at once; the probe still answers;
/// once the first finishes, requests go through again.
#[tokio::test]
async fn over_the_in_flight_cap_is_503_overloaded() {
    let app = spawn(|c| c.max_in_flight = 1).await;
    let http = reqwest::Client::new();

    // A request that stays in flight: headers sent, half of its body held back.
    let body = r#"{"first_name":"Ana","last_name":"Silva","email":"slow@example.com"}"#;
    let mut slow = TcpStream::connect(addr(&app)).await.expect("connect");
    let head = format!(
        "POST /customers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {}\r\nContent-Length: {}\r\n\r\n",
        app.token,
        body.len()
    );
    slow.write_all(head.as_bytes()).await.expect("write");
    slow.write_all(&body.as_bytes()[..10]).await.expect("write");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let t = Instant::now();
    let resp = http
        .get(format!("{}/openapi.json", app.base))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("answered, not hung");
    let (status, retry, code) = refusal(resp).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(code, "overloaded");
    assert_eq!(retry, Some(1));
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    let r = http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::OK);

    // The slow request completes, and frees its place.
    slow.write_all(&body.as_bytes()[10..]).await.expect("write");
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut answer))
        .await
        .expect("answered")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let r = http
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::OK);
}

/// With two connections allowed, a third waits (in the listen backlog) until one closes, then
/// is served.
#[tokio::test]
async fn over_the_connection_cap_a_client_waits() {
    let app = spawn(|c| c.max_connections = 2).await;
    let a = TcpStream::connect(addr(&app)).await.expect("connect");
    let _b = TcpStream::connect(addr(&app)).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let third = tokio::spawn({
        let url = format!("{}/healthz", app.base);
        async move {
            let t = Instant::now();
            let r = reqwest::get(url).await.expect("served in the end");
            (r.status(), t.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !third.is_finished(),
        "a third connection was served at once"
    );
    drop(a);
    let (status, waited) = tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("served once a connection closed")
        .expect("task");
    assert_eq!(status, StatusCode::OK);
    assert!(waited >= Duration::from_millis(700), "{waited:?}");
}

/// Shutdown (SIGTERM in the binary) stops accepting, lets a request in flight finish, closes an
/// idle keep-alive connection at once, and `serve` returns: the accept loop keeps what
/// `axum::serve` did.
#[tokio::test]
async fn shutdown_finishes_requests_in_flight() {
    let name = common::unique_name();
    let database_url = common::create_database(&name).await;
    let config = common::config(database_url, name);
    let state = AppState::connect(&config).await.expect("stores ready");
    let token = common::token_for(&state, &mercado_api::http::auth::all_scopes("test"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(mercado_api::serve(listener, state, async {
        let _ = stopped.await;
    }));

    // An idle keep-alive connection (one request answered, then silence) …
    let mut idle = TcpStream::connect(&addr).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = idle.read(&mut buf).await.expect("read");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // … and a request in flight, its body half sent.
    let body = r#"{"first_name":"Ana","last_name":"Silva","email":"stop@example.com"}"#;
    let mut slow = TcpStream::connect(&addr).await.expect("connect");
    let head = format!(
        "POST /customers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {}\r\nContent-Length: {}\r\n\r\n",
        token,
        body.len()
    );
    slow.write_all(head.as_bytes()).await.expect("write");
    slow.write_all(&body.as_bytes()[..10]).await.expect("write");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let _ = stop.send(());
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The idle connection is closed at once; new connections are refused.
    let n = tokio::time::timeout(Duration::from_secs(2), idle.read(&mut buf))
        .await
        .expect("idle connection closed on shutdown")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(
        TcpStream::connect(&addr).await.is_err(),
        "still accepting after shutdown"
    );
    assert!(!server.is_finished(), "returned with a request in flight");

    // The request in flight completes, then serve returns.
    slow.write_all(&body.as_bytes()[10..]).await.expect("write");
    let n = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut buf))
        .await
        .expect("answered")
        .expect("read");
    let answer = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve returns once the request is done")
        .expect("task")
        .expect("serve ok");
}

/// A request whose body stops arriving is cut off by the idle timeout (1 s here), not held for
/// ever: the header-read timeout no longer applies once the headers are in.
#[tokio::test]
async fn a_stalled_body_is_cut_off_by_the_idle_timeout() {
    const IDLE: Duration = Duration::from_secs(1);
    let app = spawn(|c| c.idle_timeout_ms = IDLE.as_millis() as u64).await;
    let mut s = TcpStream::connect(addr(&app)).await.expect("connect");
    s.write_all(
        format!(
            "POST /customers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Authorization: Bearer {}\r\nContent-Length: 100\r\n\r\n{{\"first",
            app.token
        )
        .as_bytes(),
    )
    .await
    .expect("write");
    let sent = Instant::now();
    // The server may answer (a 400 for the broken body) before closing: read to the close.
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => continue,
            Err(_) => panic!("a stalled request still open after {:?}", sent.elapsed()),
        }
    }
    let open = sent.elapsed();
    eprintln!("stalled body: connection closed after {open:?} (idle timeout {IDLE:?})");
    assert!(open >= IDLE - Duration::from_millis(100), "{open:?}");
    assert!(open < IDLE + Duration::from_secs(2), "{open:?}");
}
