//! The API under load, then the pipeline: every checkout a client was told succeeded is in
//! DynamoDB and, after the day's run, in the warehouse. Counted, not sampled.
//!
//! 64 concurrent clients for a bounded time (and a bounded number of requests each) run the
//! mixed flow a shop sees: sign up, browse inventory, fill a cart (sometimes the same item
//! twice), read it back, check out with an idempotency key (sometimes retried), read the
//! transaction and the order history.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use futures::StreamExt;
use mercado_lake::tasks::{load_redshift, reconcile};
use mercado_testkit::lake::*;
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use tokio::sync::Mutex;

const CLIENTS: usize = 64;
/// Clients stop starting new orders after this long; requests in flight finish.
const TRAFFIC_FOR: Duration = Duration::from_secs(10);
/// And after this many orders each, whichever comes first.
const ORDERS_PER_CLIENT: usize = 40;

#[derive(Default)]
struct Tally {
    by_status: BTreeMap<u16, u64>,
    /// transaction id → (total, created_at) of every checkout that answered 200.
    checkouts: BTreeMap<String, (Decimal, DateTime<Utc>)>,
    failures: Vec<String>,
}

struct Client {
    http: reqwest::Client,
    base: String,
    tally: Arc<Mutex<Tally>>,
}

impl Client {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Option<Value> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .timeout(Duration::from_secs(30));
        if let Some(b) = &body {
            req = req.json(b);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let (status, text) = match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                (status, resp.text().await.unwrap_or_default())
            }
            Err(e) => {
                self.tally
                    .lock()
                    .await
                    .failures
                    .push(format!("{method} {path}: no answer: {e}"));
                return None;
            }
        };
        let mut tally = self.tally.lock().await;
        *tally.by_status.entry(status.as_u16()).or_default() += 1;
        if !status.is_success() {
            tally
                .failures
                .push(format!("{method} {path} {body:?}: {status} {text}"));
            return None;
        }
        serde_json::from_str(&text).ok()
    }
}

/// One shopper: signs up, then orders until the deadline or the order budget.
async fn shopper(client: Client, n: usize, items: Arc<Vec<i64>>, deadline: Instant) {
    let email = format!("shopper{n}-{}@example.com", uuid::Uuid::now_v7().simple());
    let Some(customer) = client
        .call(
            Method::POST,
            "/customers",
            Some(json!({"first_name": "Shopper", "last_name": format!("N{n}"), "email": email})),
            None,
        )
        .await
    else {
        return;
    };
    let user = customer["id"].as_i64().unwrap_or_default();
    let mut order = 0usize;
    while Instant::now() < deadline && order < ORDERS_PER_CLIENT {
        order += 1;
        let pick = |k: usize| items[(n * 7 + order * 13 + k * 5) % items.len()];
        client
            .call(
                Method::GET,
                &format!("/inventory?limit=20&after_id={}", pick(0)),
                None,
                None,
            )
            .await;
        // Every fifth order puts the same item on two lines: the API merges them.
        let lines = if order % 5 == 0 {
            json!([{"item_id": pick(1), "qty": 1}, {"item_id": pick(1), "qty": 2}])
        } else {
            json!([{"item_id": pick(1), "qty": 1 + order % 3}, {"item_id": pick(2), "qty": 1}])
        };
        if client
            .call(
                Method::POST,
                "/cart",
                Some(json!({"user_id": user, "cart": lines})),
                None,
            )
            .await
            .is_none()
        {
            continue;
        }
        client
            .call(Method::GET, &format!("/cart/{user}"), None, None)
            .await;
        let key = format!("order-{n}-{order}");
        let checkout = json!({"user_id": user, "number_of_installments": 1 + order % 3});
        let Some(receipt) = client
            .call(
                Method::POST,
                "/checkout",
                Some(checkout.clone()),
                Some(&key),
            )
            .await
        else {
            continue;
        };
        // A client that lost the answer retries with the same key and must get the same order.
        if order % 4 == 0 {
            let again = client
                .call(Method::POST, "/checkout", Some(checkout), Some(&key))
                .await;
            if again.as_ref() != Some(&receipt) {
                client.tally.lock().await.failures.push(format!(
                    "retry of {key} answered {again:?}, first answer {receipt}"
                ));
            }
        }
        let id = receipt["transaction_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let total = receipt["total_price"]
            .as_f64()
            .and_then(|t| Decimal::from_str_exact(&t.to_string()).ok())
            .unwrap_or_default();
        let created_at = receipt["created_at"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        client
            .tally
            .lock()
            .await
            .checkouts
            .insert(id.clone(), (total, created_at));
        client
            .call(Method::GET, &format!("/transactions/{id}"), None, None)
            .await;
        if order % 3 == 0 {
            client
                .call(
                    Method::GET,
                    &format!("/customers/{user}/transactions?limit=5"),
                    None,
                    None,
                )
                .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_clients_then_the_pipeline_lose_no_order() {
    let env = Env::new().await;
    let mut items = Vec::new();
    for v in 0..4 {
        let vendor = env.app.vendor(&format!("Loja {v}")).await;
        for i in 0..10 {
            items.push(
                env.app
                    .item(
                        vendor,
                        &format!("Item {v}-{i}"),
                        &format!("{}.{:02}", 3 + i, 10 + v * 7),
                    )
                    .await,
            );
        }
    }
    let items = Arc::new(items);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut auth = reqwest::header::HeaderMap::new();
    auth.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", env.app.token).parse().expect("header"),
    );
    let http = reqwest::Client::builder()
        .default_headers(auth)
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .expect("http client");
    let started = Instant::now();
    let deadline = started + TRAFFIC_FOR;
    let shoppers: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let client = Client {
                http: http.clone(),
                base: env.app.base.clone(),
                tally: tally.clone(),
            };
            tokio::spawn(shopper(client, n, items.clone(), deadline))
        })
        .collect();
    for s in shoppers {
        tokio::time::timeout(Duration::from_secs(120), s)
            .await
            .expect("a shopper finished within two minutes of the deadline")
            .expect("shopper did not panic");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let tally = Arc::try_unwrap(tally)
        .ok()
        .expect("shoppers done")
        .into_inner();
    let requests: u64 = tally.by_status.values().sum();
    eprintln!(
        "load: {CLIENTS} clients, {requests} requests in {elapsed:.1} s ({:.0}/s), {} checkouts, statuses {:?}",
        requests as f64 / elapsed,
        tally.checkouts.len(),
        tally.by_status
    );
    assert!(
        tally.failures.is_empty(),
        "{} failed requests, first: {:?}",
        tally.failures.len(),
        &tally.failures[..tally.failures.len().min(5)]
    );
    let server_errors: u64 = tally.by_status.range(500..600).map(|(_, n)| n).sum();
    assert_eq!(server_errors, 0, "statuses {:?}", tally.by_status);
    assert!(
        tally.checkouts.len() >= CLIENTS,
        "too few orders to prove anything: {}",
        tally.checkouts.len()
    );

    // Every answered checkout is in DynamoDB with the total the client was told.
    let ddb = &env.app.state.ddb;
    let missing: Vec<String> = futures::stream::iter(&tally.checkouts)
        .map(|(id, (total, _))| async move {
            match ddb.get_transaction(id).await {
                Ok(Some(t)) if t.total_price.0 == *total => None,
                other => Some(format!(
                    "{id}: {:?}",
                    other.map(|t| t.map(|t| t.total_price))
                )),
            }
        })
        .buffer_unordered(16)
        .filter_map(|m| async move { m })
        .collect()
        .await;
    assert!(
        missing.is_empty(),
        "checkouts answered 200 but not in DynamoDB: {missing:?}"
    );

    // After the pipeline runs for each day the orders fall on, the warehouse holds exactly them.
    let warehouse = env.warehouse().await;
    let days: BTreeSet<NaiveDate> = tally
        .checkouts
        .values()
        .map(|(_, at)| at.date_naive())
        .collect();
    for &d in &days {
        env.pipeline(d).await;
        load_redshift::run(&env.load_args(d, &warehouse))
            .await
            .expect("load");
        reconcile::run(&env.reconcile_args(d, &warehouse))
            .await
            .expect("reconciled");
    }
    let (client, conn) = tokio_postgres::connect(&warehouse, tokio_postgres::NoTls)
        .await
        .expect("warehouse");
    tokio::spawn(conn);
    let mut in_warehouse = BTreeMap::new();
    for row in client
        .query(
            "SELECT transaction_id, SUM(total_price)::text FROM core.fact_sales GROUP BY transaction_id",
            &[],
        )
        .await
        .expect("fact_sales")
    {
        let total: String = row.get(1);
        in_warehouse.insert(row.get::<_, String>(0), Decimal::from_str_exact(&total).expect("sum"));
    }
    let answered: BTreeMap<String, Decimal> = tally
        .checkouts
        .iter()
        .map(|(id, (total, _))| (id.clone(), total.normalize()))
        .collect();
    let in_warehouse: BTreeMap<String, Decimal> = in_warehouse
        .into_iter()
        .map(|(k, v)| (k, v.normalize()))
        .collect();
    assert_eq!(
        answered.len(),
        in_warehouse.len(),
        "orders answered vs in the warehouse"
    );
    assert!(
        answered == in_warehouse,
        "the warehouse's orders differ from the answered ones"
    );
}
