//! Authentication's cost, measured (BENCHMARKS.md; run by `scripts/bench_auth.sh`): requests per
//! second of `POST /customers/`, `POST /cart/` and `POST /checkout/` against two APIs served in
//! this process on the same stores, one verifying every bearer token (EdDSA, as deployed) and one
//! taking every request as one principal (`--features bench-auth-off`, never in a binary). Both
//! receive the same requests, token included; rounds alternate which API goes first. Prints a
//! Markdown table of the medians and, last, a one-line JSON summary.
//!
//! Needs the local services (scripts/services.sh start). Not a test: nothing is asserted.

use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use futures::stream::{self, StreamExt};
use mercado_api::http::auth::{all_scopes, Auth};
use mercado_api::AppState;
use mercado_testkit::api::{self as kit, TestApp};
use serde_json::{json, Value};

#[derive(Parser)]
#[command(about = "Requests per second with authentication on and off, same run")]
struct Args {
    /// Requests per endpoint, per API, per round.
    #[arg(long, env = "MERCADO_BENCH_REQUESTS", default_value_t = 1000)]
    requests: usize,
    /// Requests in flight at once.
    #[arg(long, env = "MERCADO_BENCH_CLIENTS", default_value_t = 32)]
    clients: usize,
    /// Rounds (each API once per round; the median counts).
    #[arg(long, env = "MERCADO_BENCH_ROUNDS", default_value_t = 3)]
    rounds: usize,
}

const ENDPOINTS: [&str; 3] = ["POST /customers/", "POST /cart/", "POST /checkout/"];

/// Sends `bodies` to `path` with `clients` in flight; requests per second (every answer must be
/// a success: a failure ends the benchmark, it would not measure what it says).
async fn phase(
    app: &TestApp,
    path: &str,
    bodies: Vec<(Value, Option<String>)>,
    clients: usize,
) -> anyhow::Result<(f64, Vec<Value>)> {
    let started = Instant::now();
    let n = bodies.len();
    let replies: Vec<anyhow::Result<Value>> = stream::iter(bodies)
        .map(|(body, key)| async move {
            let mut req = app.http.post(format!("{}{path}", app.base)).json(&body);
            if let Some(key) = key {
                req = req.header("Idempotency-Key", key);
            }
            let resp = req.send().await?;
            let status = resp.status();
            let value: Value = resp.json().await?;
            anyhow::ensure!(status.is_success(), "{path}: {status}: {value}");
            Ok(value)
        })
        .buffer_unordered(clients)
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let replies = replies.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    Ok((n as f64 / seconds, replies))
}

/// One API's state within a round: its item and the customers it signed up.
struct Shop {
    item: i64,
    users: Vec<i64>,
}

/// Endpoint `e` of a round on one API: `n` sign-ups (0), a cart for each customer (1), a
/// checkout of each (2). Requests per second.
async fn step(
    app: &TestApp,
    shop: &mut Shop,
    e: usize,
    tag: &str,
    n: usize,
    clients: usize,
) -> anyhow::Result<f64> {
    let (path, bodies): (&str, Vec<(Value, Option<String>)>) = match e {
        0 => (
            "/customers/",
            (0..n)
                .map(|i| {
                    let body = json!({"first_name": "Ana", "last_name": "Silva",
                                      "email": format!("bench.{tag}.{i}@example.com")});
                    (body, None)
                })
                .collect(),
        ),
        1 => (
            "/cart/",
            shop.users
                .iter()
                .map(|u| {
                    (
                        json!({"user_id": u, "cart": [{"item_id": shop.item, "qty": 1}]}),
                        None,
                    )
                })
                .collect(),
        ),
        _ => (
            "/checkout/",
            shop.users
                .iter()
                .map(|u| (json!({"user_id": u}), Some(format!("bench-{tag}-{u}"))))
                .collect(),
        ),
    };
    let (rps, replies) = phase(app, path, bodies, clients).await?;
    if e == 0 {
        shop.users = replies.iter().filter_map(|c| c["id"].as_i64()).collect();
    }
    Ok(rps)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// An API on its own database and table; `verify` false: authentication off.
async fn api(verify: bool) -> anyhow::Result<TestApp> {
    let name = kit::unique_name();
    let database_url = kit::create_database(&name).await;
    let mut config = kit::config(database_url.clone(), name.clone());
    config.pool_size = 16;
    let mut state = AppState::connect(&config).await?;
    if !verify {
        // Same keys (the test app still signs its own token), verification off.
        state.auth = Arc::new(Auth::from_config(&config)?.accepting_all(all_scopes("bench")));
    }
    Ok(TestApp::serve(state, name, database_url).await)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let on = api(true).await?;
    let off = api(false).await?;
    let mut rps: [[Vec<f64>; 3]; 2] = Default::default(); // [on, off][endpoint]
                                                          // Each endpoint's requests go to one API and then the other (the order flips every round),
                                                          // so a drift of the machine's speed meets both alike.
    for r in 0..args.rounds {
        let order = if r % 2 == 0 { [0, 1] } else { [1, 0] };
        let mut shops = Vec::new();
        for (app, label) in [(&on, "on"), (&off, "off")] {
            let vendor = app.vendor(&format!("Bench {label}{r}")).await;
            let item = app.item(vendor, "Mug", "12.50").await;
            shops.push(Shop {
                item,
                users: Vec::new(),
            });
        }
        let mut line = format!("round {}/{}:", r + 1, args.rounds);
        for (e, endpoint) in ENDPOINTS.iter().enumerate() {
            for mode in order {
                let (app, label) = if mode == 0 {
                    (&on, "on")
                } else {
                    (&off, "off")
                };
                let got = step(
                    app,
                    &mut shops[mode],
                    e,
                    &format!("{label}{r}"),
                    args.requests,
                    args.clients,
                )
                .await?;
                line.push_str(&format!(" {endpoint} {label} {got:.0}/s;"));
                rps[mode][e].push(got);
            }
        }
        eprintln!("{line}");
    }
    // The verification alone, on one core: a token seen for the first time (every check, the
    // signature among them), then again (remembered).
    let signer = on
        .state
        .auth
        .signer()
        .ok_or_else(|| anyhow::anyhow!("the test app signs"))?;
    let tokens = (1..=5_000)
        .map(|id| {
            let customer =
                mercado_api::http::auth::Principal::parse(&format!("customer:{id}"), None)
                    .ok_or_else(|| anyhow::anyhow!("principal"))?;
            Ok(signer.mint(&customer, std::time::Duration::from_secs(600))?)
        })
        .collect::<anyhow::Result<Vec<String>>>()?;
    let per_token_us =
        |started: Instant| started.elapsed().as_secs_f64() * 1e6 / tokens.len() as f64;
    let verify_all = || -> anyhow::Result<()> {
        for token in &tokens {
            on.state
                .auth
                .verify(token)
                .map_err(|e| anyhow::anyhow!("the benchmark's token: {}", e.message))?;
        }
        Ok(())
    };
    let started = Instant::now();
    verify_all()?;
    let first_us = per_token_us(started);
    let started = Instant::now();
    verify_all()?;
    let again_us = per_token_us(started);
    println!("| endpoint | requests/s, tokens verified | requests/s, authentication off | on ÷ off | cost |");
    println!("|---|---|---|---|---|");
    let mut summary = serde_json::Map::new();
    for (e, endpoint) in ENDPOINTS.iter().enumerate() {
        let (with, without) = (median(rps[0][e].clone()), median(rps[1][e].clone()));
        let ratio = if without > 0.0 { with / without } else { 0.0 };
        println!(
            "| `{endpoint}` | {with:.0} | {without:.0} | {ratio:.3} | {:+.1}% |",
            (1.0 - ratio) * 100.0
        );
        summary.insert(
            (*endpoint).into(),
            json!({"on_rps": with.round(), "off_rps": without.round(), "ratio": (ratio * 1000.0).round() / 1000.0}),
        );
    }
    println!(
        "\nVerifying a token alone, on one core: {first_us:.1} µs the first time (signature, claims, principal), {again_us:.1} µs when it comes again (remembered by its SHA-256)."
    );
    println!(
        "{}",
        json!({"task": "auth_overhead", "requests": args.requests, "clients": args.clients,
               "rounds": args.rounds, "verify_first_us": (first_us * 10.0).round() / 10.0,
               "verify_again_us": (again_us * 10.0).round() / 10.0,
               "endpoints": summary})
    );
    Ok(())
}
