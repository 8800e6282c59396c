//! `mercado-traffic`: Mercado's synthetic marketplace, a client of the API's library (its wire
//! types, its one pricing function, its DynamoDB store), not part of the API.
//!
//! One day: a catalogue created through the API over HTTP, then orders and open carts written
//! through the API's own DynamoDB store with timestamps inside the chosen day (checkout itself
//! always stamps "now", so a past day can't go through it). Optionally one malformed transaction
//! per kind the pipeline must quarantine. With a state file, scenario mode ([`scenarios`]: each
//! day planned, then carried out; `--live` through the API itself).

pub mod scenarios;

mod scenario_mode;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration as StdDuration;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{json, Value};

use mercado_api::model::{Cart, FlexId, Money, Transaction};
use mercado_api::rules::pricing::{self, LineToPrice};
use mercado_api::store::dynamo::{self, DynamoStore};
use mercado_core::rng::Rng;

#[derive(Debug, Clone, clap::Args)]
pub struct TrafficArgs {
    /// Day the orders and carts are stamped with (YYYY-MM-DD).
    #[arg(long, env = "MERCADO_DATE")]
    pub date: NaiveDate,
    /// Base URL of a running API.
    #[arg(long, env = "MERCADO_API_URL", default_value = "http://127.0.0.1:8000")]
    pub api_url: String,
    /// Bearer token sent with every API request: a service token with the scopes the traffic
    /// needs (customers:write, vendors:write, inventory:write, carts:write, checkout, …), e.g.
    /// `mercado-api token --service traffic`. Give it through the environment, not the command line.
    #[arg(long, env = "MERCADO_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// Customers to register.
    #[arg(long, default_value_t = 20)]
    pub customers: usize,
    /// Vendors to register.
    #[arg(long, default_value_t = 5)]
    pub vendors: usize,
    /// Items to list (spread over the vendors).
    #[arg(long, default_value_t = 30)]
    pub items: usize,
    /// Completed orders on the day.
    #[arg(long, default_value_t = 100)]
    pub orders: usize,
    /// Open carts left at the end of the day.
    #[arg(long, default_value_t = 10)]
    pub carts: usize,
    /// Also write one malformed transaction per kind (negative qty, unknown item, unknown
    /// customer, wrong total, duplicate id).
    #[arg(long, default_value_t = false)]
    pub bad_records: bool,
    /// Seed of the pseudo-random choices (same seed and catalogue, same orders).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Scenario mode: the catalogue lives in this state file across days (new customers and
    /// items, price changes, renames) and each day follows its scenario (see `scenarios`). A day
    /// already in the file is not written again. Without it, one standalone day as before.
    #[arg(long, env = "MERCADO_TRAFFIC_STATE")]
    pub state: Option<std::path::PathBuf>,
    /// The day's scenario in scenario mode (default: the week's cycle for the seed).
    #[arg(long, value_enum)]
    pub scenario: Option<scenarios::Scenario>,
    /// Ground truth, one JSON line per generated day appended here: the scenario and the ids of
    /// the fraud scenario's transactions.
    #[arg(long, env = "MERCADO_TRAFFIC_LABELS")]
    pub labels: Option<std::path::PathBuf>,
    /// Scenario mode, live: today's orders go through the API itself (carts and checkouts with
    /// Idempotency-Keys, stamped now), each customer's orders in order, customers concurrently;
    /// progress (orders, throughput, errors) on stderr every second. `--date` must be today (UTC).
    #[arg(long, default_value_t = false)]
    pub live: bool,
    /// Live mode: customers shopping at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Live mode: at most this many orders started per second (0: as fast as the API answers).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
}

#[derive(Debug, Serialize)]
pub struct TrafficSummary {
    pub task: &'static str,
    /// In scenario mode, the day's scenario.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenario: Option<scenarios::Scenario>,
    /// In scenario mode, the fraud scenario's transactions (the labels).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fraud_orders: Option<usize>,
    pub date: String,
    pub status: &'static str,
    pub customers: usize,
    pub vendors: usize,
    pub items: usize,
    pub orders: usize,
    pub order_lines: usize,
    pub carts: usize,
    pub bad_records: usize,
    /// Sum of the good orders' totals.
    pub gmv: String,
    /// Requests sent again after the API answered 429 (or 503 with `Retry-After`).
    pub requests_waited: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    #[error("API call {0} failed: {1}")]
    Api(String, String),
    #[error(transparent)]
    Store(#[from] dynamo::StoreError),
    #[error("{0}")]
    Invalid(String),
}

/// How many times one request waits out a 429 (or a 503 with `Retry-After`) before giving up.
const MAX_WAITS: u32 = 20;
/// The longest wait honoured from a `Retry-After`; a longer one is cut to this.
const LONGEST_WAIT: StdDuration = StdDuration::from_secs(30);

/// Requests answered 429 `rate_limited` or 503 `overloaded` and sent again, this process.
static WAITED: AtomicUsize = AtomicUsize::new(0);

/// The requests this process sent again after a 429 or a 503 asking to wait.
pub fn requests_waited() -> usize {
    WAITED.load(Ordering::Relaxed)
}

/// Sends `request` as a well-behaved client: a 429, or a 503 carrying `Retry-After` (the API's
/// `overloaded`, answered before any work is done), is waited out for as long as `Retry-After`
/// says (1 s when absent, at most 30 s) and sent again, up to 20 times. Any other answer is
/// returned as it is. Safe for every request the generator sends: the API refused these before
/// acting on them, and checkouts carry an idempotency key anyway.
pub(crate) async fn send(
    request: reqwest::RequestBuilder,
    what: &str,
) -> Result<reqwest::Response, TrafficError> {
    let mut waits = 0;
    loop {
        let attempt = request.try_clone().ok_or_else(|| {
            TrafficError::Invalid(format!("{what}: a streamed body cannot be sent again"))
        })?;
        let resp = attempt
            .send()
            .await
            .map_err(|e| TrafficError::Api(what.to_owned(), e.to_string()))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(StdDuration::from_secs);
        let asked_to_wait = status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || (status == reqwest::StatusCode::SERVICE_UNAVAILABLE && retry_after.is_some());
        if !asked_to_wait || waits == MAX_WAITS {
            return Ok(resp);
        }
        waits += 1;
        WAITED.fetch_add(1, Ordering::Relaxed);
        let wait = retry_after
            .unwrap_or(StdDuration::from_secs(1))
            .min(LONGEST_WAIT);
        tracing::debug!(what, %status, wait_ms = wait.as_millis() as u64, "the API asked to wait");
        tokio::time::sleep(wait).await;
    }
}

pub(crate) async fn post(
    http: &reqwest::Client,
    url: String,
    body: Value,
) -> Result<Value, TrafficError> {
    let fail = |e: String| TrafficError::Api(url.clone(), e);
    let resp = send(http.post(&url).json(&body), &url).await?;
    let status = resp.status();
    let value: Value = resp.json().await.map_err(|e| fail(e.to_string()))?;
    if !status.is_success() {
        return Err(fail(format!("{status}: {value}")));
    }
    Ok(value)
}

struct Listed {
    id: i64,
    vendor: i64,
    price: Money,
}

impl Listed {
    fn line(&self, qty: i64) -> LineToPrice {
        LineToPrice {
            item_id: FlexId(self.id),
            vendor_id: FlexId(self.vendor),
            qty,
            unit_price: self.price,
        }
    }
}

/// The HTTP client of the API calls, sending `--api-token` with each.
pub fn api_client(args: &TrafficArgs) -> Result<reqwest::Client, TrafficError> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = args
        .api_token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| TrafficError::Invalid("--api-token is not a valid header value".into()))?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .map_err(|e| TrafficError::Invalid(format!("HTTP client: {e}")))
}

pub async fn run(args: &TrafficArgs, store: &DynamoStore) -> Result<TrafficSummary, TrafficError> {
    if let Some(state) = &args.state {
        return scenario_mode::run(args, state, store).await;
    }
    let http = api_client(args)?;
    let base = args.api_url.trim_end_matches('/');
    if args.customers == 0 || args.vendors == 0 || args.items == 0 {
        return Err(TrafficError::Invalid(
            "--customers, --vendors and --items must be at least 1".into(),
        ));
    }
    let mut rng = Rng::new(args.seed);
    // Unique per run, so a second run adds a new catalogue rather than tripping unique emails.
    let tag = uuid::Uuid::now_v7().simple().to_string()[20..].to_string();
    // The catalogue is imported as existing from the day's start: the pipeline's snapshot of a
    // past day takes only what existed by its end.
    let since = day_start(args.date).to_rfc3339();

    let mut customers = Vec::new();
    for i in 0..args.customers {
        let c = post(
            &http,
            format!("{base}/customers/"),
            json!({"first_name": format!("Customer{i}"), "last_name": "Synthetic", "email": format!("c{i}.{tag}@example.com"), "joined_at": since}),
        )
        .await?;
        customers.push(c["id"].as_i64().unwrap_or_default());
    }
    const REGIONS: [&str; 6] = ["PT", "ES", "FR", "DE", "BR", "US"];
    let mut vendors = Vec::new();
    for i in 0..args.vendors {
        let v = post(
            &http,
            format!("{base}/vendors/"),
            json!({"vendor_name": format!("Vendor {i} {tag}"), "region": REGIONS[i % REGIONS.len()], "joined_at": since}),
        )
        .await?;
        vendors.push(v["id"].as_i64().unwrap_or_default());
    }
    let mut items = Vec::new();
    for i in 0..args.items {
        let vendor = vendors[i % vendors.len().max(1)];
        let cents = 199 + rng.below(20_000) as i64;
        let item = post(
            &http,
            format!("{base}/inventory/?vendor_id={vendor}"),
            json!({"item_name": format!("Item {i}"), "category": 1 + rng.below(9), "price": format!("{}.{:02}", cents / 100, cents % 100), "stock": 1000, "created_at": since}),
        )
        .await?;
        items.push(Listed {
            id: item["id"].as_i64().unwrap_or_default(),
            vendor,
            price: Money(Decimal::new(cents, 2)),
        });
    }

    let day_start = day_start(args.date);
    let at = |rng: &mut Rng| day_start + Duration::milliseconds(rng.below(86_400_000) as i64);
    let mut gmv = Decimal::ZERO;
    let mut order_lines = 0;
    let mut last = None;
    for _ in 0..args.orders {
        let user = customers[rng.below(customers.len())];
        let mut chosen: HashMap<i64, (usize, i64)> = HashMap::new();
        for _ in 0..1 + rng.below(4) {
            let k = rng.below(items.len());
            chosen
                .entry(items[k].id)
                .or_insert((k, 1 + rng.below(3) as i64));
        }
        let mut picked: Vec<(usize, i64)> = chosen.into_values().collect();
        picked.sort_unstable();
        let txn = transaction(user, at(&mut rng), &picked, &items);
        gmv += txn.total_price.0;
        order_lines += txn.lines.len();
        store.put_transaction(&txn).await?;
        last = Some(txn);
    }
    for &user in customers.iter().take(args.carts) {
        let item = &items[rng.below(items.len())];
        let qty = 1 + rng.below(5) as i64;
        let cart = Cart {
            user_id: FlexId(user),
            cart: pricing::price([item.line(qty)]).lines,
            updated_at: at(&mut rng),
        };
        store
            .put_cart(&cart, &uuid::Uuid::now_v7().to_string())
            .await?;
    }

    let mut bad = 0;
    if args.bad_records {
        let user = customers[0];
        let when = at(&mut rng);
        let mut broken = Vec::new();
        broken.push(transaction(user, when, &[(0, -2)], &items));
        let mut unknown_item = transaction(user, when, &[(0, 1)], &items);
        unknown_item.lines[0].item_id = FlexId(i64::MAX);
        broken.push(unknown_item);
        broken.push(transaction(i64::MAX, when, &[(0, 1)], &items));
        let mut wrong_total = transaction(user, when, &[(0, 1)], &items);
        wrong_total.total_price = Money::normalized(wrong_total.total_price.0 + Decimal::ONE);
        broken.push(wrong_total);
        for txn in &broken {
            store.put_transaction(txn).await?;
        }
        bad = broken.len();
        if let Some(original) = &last {
            // The same transaction id under another key: a producer's replayed write.
            let mut copy = original.clone();
            copy.transaction_id = uuid::Uuid::now_v7().to_string();
            let mut item = dynamo::transaction_item(&copy);
            item.insert(
                "transaction_id".into(),
                aws_sdk_dynamodb::types::AttributeValue::S(original.transaction_id.clone()),
            );
            store
                .client()
                .put_item()
                .table_name(store.table())
                .set_item(Some(item))
                .send()
                .await
                .map_err(|e| TrafficError::Api("PutItem".into(), e.to_string()))?;
            bad += 1;
        }
    }

    Ok(TrafficSummary {
        task: "traffic",
        scenario: None,
        fraud_orders: None,
        date: args.date.to_string(),
        status: "ok",
        customers: customers.len(),
        vendors: vendors.len(),
        items: items.len(),
        orders: args.orders,
        order_lines,
        carts: args.carts.min(customers.len()),
        bad_records: bad,
        gmv: Money::normalized(gmv).to_string(),
        requests_waited: requests_waited(),
    })
}

/// Midnight UTC starting `date`.
pub(crate) fn day_start(date: NaiveDate) -> chrono::DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
}

fn transaction(
    user: i64,
    created_at: chrono::DateTime<Utc>,
    picked: &[(usize, i64)],
    items: &[Listed],
) -> Transaction {
    let priced = pricing::price(picked.iter().map(|(k, qty)| items[*k].line(*qty)));
    Transaction {
        transaction_id: uuid::Uuid::now_v7().to_string(),
        user_id: FlexId(user),
        total_price: priced.total,
        lines: priced.transaction_lines(),
        installments: 1,
        created_at: {
            use chrono::SubsecRound;
            created_at.trunc_subsecs(3)
        },
    }
}
