//! Scenario mode of the traffic generator: a catalogue that lives across days in a state file,
//! each day carried out from its plan ([`crate::scenarios`]): the day's new accounts, items, price
//! changes and renames through the API over HTTP (so the pipeline's SCD2 history sees them), then
//! its orders and open carts through the API's DynamoDB store, stamped inside the day, and its
//! ground truth appended to the labels file.

use std::io::Write as _;
use std::path::Path;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;

use mercado_api::model::{Cart, CheckoutReceipt, FlexId, Money, Transaction};
use mercado_api::rules::pricing::{self, LineToPrice};
use mercado_api::store::dynamo::DynamoStore;

use crate::scenarios::{self, Buyer, CatalogueView, Rng};
use crate::{post, send, TrafficArgs, TrafficError, TrafficSummary};

/// Units an item has in stock when created, and on top of a live day's demand when restocked.
const RESTOCK: i64 = 100_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Item {
    id: i64,
    vendor: i64,
    category: i32,
    cents: i64,
    name: String,
}

impl Item {
    /// A line of `qty` of this item at its current price.
    fn line(&self, qty: i64) -> LineToPrice {
        LineToPrice {
            item_id: FlexId(self.id),
            vendor_id: FlexId(self.vendor),
            qty,
            unit_price: Money::normalized(Decimal::new(self.cents, 2)),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    seed: u64,
    customers: Vec<i64>,
    vendors: Vec<i64>,
    items: Vec<Item>,
    days: Vec<NaiveDate>,
}

/// One line of the labels file.
#[derive(Debug, Serialize)]
struct Labels<'a> {
    date: NaiveDate,
    scenario: scenarios::Scenario,
    orders: usize,
    promoted_category: Option<i32>,
    fraud_transactions: &'a [String],
}

/// While a big marketplace opens (every item and customer through the API: minutes at 200,000
/// orders a day), a progress line every this many.
const OPENING_PROGRESS_EVERY: usize = 1_000;

fn progress(date: NaiveDate, step: &str) {
    eprintln!("[traffic {date}] {step}");
}

fn load(path: &Path, seed: u64) -> Result<State, TrafficError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            TrafficError::Invalid(format!("{}: not a traffic state file: {e}", path.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State {
            seed,
            ..State::default()
        }),
        Err(e) => Err(TrafficError::Invalid(format!("{}: {e}", path.display()))),
    }
}

fn save(path: &Path, state: &State) -> Result<(), TrafficError> {
    let tmp = path.with_extension("tmp");
    let bytes = serde_json::to_vec(state).map_err(|e| TrafficError::Invalid(e.to_string()))?;
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| TrafficError::Invalid(format!("{}: {e}", path.display())))
}

fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

async fn new_customer(
    http: &reqwest::Client,
    base: &str,
    rng: &mut Rng,
    tag: &str,
    n: usize,
    since: Option<&str>,
) -> Result<i64, TrafficError> {
    let (first, last) = scenarios::person(rng);
    let email = format!(
        "{}.{}.{n}.{tag}@example.com",
        first
            .to_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), ""),
        last.to_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "")
    );
    let c = post(
        http,
        format!("{base}/customers/"),
        json!({"first_name": first, "last_name": last, "email": email, "joined_at": since}),
    )
    .await?;
    Ok(c["id"].as_i64().unwrap_or_default())
}

async fn new_item(
    http: &reqwest::Client,
    base: &str,
    rng: &mut Rng,
    vendor: i64,
    since: Option<&str>,
) -> Result<Item, TrafficError> {
    // A few cheap items (under 10.00), most between 10 and 250.
    let cents = if rng.below(6) == 0 {
        199 + rng.below(700) as i64
    } else {
        1_000 + rng.below(24_000) as i64
    };
    let category = 1 + rng.below(9) as i32;
    let name = scenarios::item_name(rng);
    let item = post(
        http,
        format!("{base}/inventory/?vendor_id={vendor}"),
        json!({"item_name": name, "category": category, "price": money(cents), "stock": RESTOCK, "created_at": since}),
    )
    .await?;
    Ok(Item {
        id: item["id"].as_i64().unwrap_or_default(),
        vendor,
        category,
        cents,
        name,
    })
}

async fn patch(
    http: &reqwest::Client,
    url: String,
    body: serde_json::Value,
) -> Result<(), TrafficError> {
    let resp = send(http.patch(&url).json(&body), &url).await?;
    if !resp.status().is_success() {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        return Err(TrafficError::Api(url, format!("{status}: {text}")));
    }
    Ok(())
}

pub async fn run(
    args: &TrafficArgs,
    state_path: &Path,
    store: &DynamoStore,
) -> Result<TrafficSummary, TrafficError> {
    let date = args.date;
    if args.live && date != Utc::now().date_naive() {
        return Err(TrafficError::Invalid(format!(
            "--live writes today's traffic (checkout stamps now): use --date {}",
            Utc::now().date_naive()
        )));
    }
    let mut state = load(state_path, args.seed)?;
    let seed = state.seed;
    let mut summary = TrafficSummary {
        task: "traffic",
        scenario: None,
        fraud_orders: None,
        date: date.to_string(),
        status: "ok",
        customers: state.customers.len(),
        vendors: state.vendors.len(),
        items: state.items.len(),
        orders: 0,
        order_lines: 0,
        carts: 0,
        bad_records: 0,
        gmv: "0.00".into(),
        requests_waited: 0,
    };
    if state.days.contains(&date) {
        progress(
            date,
            "already generated (in the state file); nothing written",
        );
        summary.status = "skipped";
        return Ok(summary);
    }
    let http = crate::api_client(args)?;
    let base = args.api_url.trim_end_matches('/');
    let tag = format!("s{seed}");
    let mut rng = Rng::for_day(seed ^ 0x5eed, date);
    // A past day's new accounts and items are imported as existing from its start (scope
    // `history:write`): the pipeline's snapshot of a closed day takes only what existed by its
    // end. Live traffic is today's, stamped now.
    let since = (!args.live).then(|| crate::day_start(date).to_rfc3339());
    let since = since.as_deref();

    if state.vendors.is_empty() {
        progress(
            date,
            &format!(
                "opening the marketplace: {} vendors, {} items, {} customers",
                args.vendors, args.items, args.customers
            ),
        );
        const REGIONS: [&str; 8] = ["PT", "ES", "FR", "DE", "IT", "BR", "US", "JP"];
        for i in 0..args.vendors.max(1) {
            let v = post(
                &http,
                format!("{base}/vendors/"),
                json!({"vendor_name": scenarios::shop_name(&mut rng), "region": REGIONS[i % REGIONS.len()], "joined_at": since}),
            )
            .await?;
            state.vendors.push(v["id"].as_i64().unwrap_or_default());
        }
        for i in 0..args.items.max(1) {
            let vendor = state.vendors[i % state.vendors.len()];
            state
                .items
                .push(new_item(&http, base, &mut rng, vendor, since).await?);
            if (i + 1) % OPENING_PROGRESS_EVERY == 0 {
                progress(date, &format!("{} / {} items created", i + 1, args.items));
            }
        }
        for n in 0..args.customers.max(1) {
            state
                .customers
                .push(new_customer(&http, base, &mut rng, &tag, n, since).await?);
            if (n + 1) % OPENING_PROGRESS_EVERY == 0 {
                progress(
                    date,
                    &format!("{} / {} customers created", n + 1, args.customers),
                );
            }
        }
    }

    let view = CatalogueView {
        customers: state.customers.len(),
        items: state.items.iter().map(|i| (i.category, i.cents)).collect(),
    };
    let plan = match args.scenario {
        Some(s) => scenarios::plan_as(seed, date, s, &view, args.orders, args.carts),
        None => scenarios::plan(seed, date, &view, args.orders, args.carts),
    };
    progress(
        date,
        &format!(
            "{:?}: {} orders, {} new accounts, {} new items, {} price changes, {} renames",
            plan.scenario,
            plan.orders.len(),
            plan.new_customers,
            plan.new_items,
            plan.price_changes.len(),
            plan.renames.len()
        ),
    );

    // The catalogue changes first, so the day's snapshot (and its SCD2 versions) has them.
    let mut today = Vec::new();
    for _ in 0..plan.new_customers {
        let n = state.customers.len() + today.len();
        today.push(new_customer(&http, base, &mut rng, &tag, n, since).await?);
    }
    for _ in 0..plan.new_items {
        let vendor = state.vendors[rng.below(state.vendors.len())];
        state
            .items
            .push(new_item(&http, base, &mut rng, vendor, since).await?);
    }
    for (i, cents) in &plan.price_changes {
        if let Some(item) = state.items.get_mut(*i) {
            patch(
                &http,
                format!("{base}/inventory/{}", item.id),
                json!({"price": money(*cents)}),
            )
            .await?;
            item.cents = *cents;
        }
    }
    for (i, name) in &plan.renames {
        if let Some(item) = state.items.get_mut(*i) {
            patch(
                &http,
                format!("{base}/inventory/{}", item.id),
                json!({"item_name": name}),
            )
            .await?;
            item.name = name.clone();
        }
    }

    let who = |b: Buyer| match b {
        Buyer::Existing(k) => state.customers.get(k).copied(),
        Buyer::New(k) => today.get(k).copied(),
    };
    let (fraud_ids, gmv) = if args.live {
        live(args, &plan, &state.items, &who, &mut summary).await?
    } else {
        history(&plan, &state.items, &who, store, &mut summary).await?
    };

    if let Some(path) = &args.labels {
        let line = serde_json::to_string(&Labels {
            date,
            scenario: plan.scenario,
            orders: summary.orders,
            promoted_category: plan.promoted_category,
            fraud_transactions: &fraud_ids,
        })
        .map_err(|e| TrafficError::Invalid(e.to_string()))?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| writeln!(f, "{line}"))
            .map_err(|e| TrafficError::Invalid(format!("{}: {e}", path.display())))?;
    }
    state.customers.extend(today);
    state.days.push(date);
    save(state_path, &state)?;
    progress(date, "done");

    summary.scenario = Some(plan.scenario);
    summary.fraud_orders = Some(fraud_ids.len());
    summary.customers = state.customers.len();
    summary.vendors = state.vendors.len();
    summary.items = state.items.len();
    summary.gmv = Money::normalized(gmv).to_string();
    summary.requests_waited = crate::requests_waited();
    Ok(summary)
}

/// History mode: the day's orders and open carts through the store, stamped inside the day.
async fn history(
    plan: &scenarios::DayPlan,
    items: &[Item],
    who: &dyn Fn(Buyer) -> Option<i64>,
    store: &DynamoStore,
    summary: &mut TrafficSummary,
) -> Result<(Vec<String>, Decimal), TrafficError> {
    let date = plan.date;
    let day_start = Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default());
    let mut gmv = Decimal::ZERO;
    let mut fraud_ids = Vec::new();
    for (n, order) in plan.orders.iter().enumerate() {
        let Some(user) = who(order.buyer) else {
            continue;
        };
        let priced = pricing::price(
            order
                .lines
                .iter()
                .filter_map(|(i, qty)| items.get(*i).map(|item| item.line(*qty))),
        );
        let txn = Transaction {
            transaction_id: uuid::Uuid::now_v7().to_string(),
            user_id: FlexId(user),
            total_price: priced.total,
            lines: priced.transaction_lines(),
            installments: 1,
            created_at: day_start + Duration::milliseconds(i64::from(order.at_ms)),
        };
        store.put_transaction(&txn).await?;
        gmv += txn.total_price.0;
        summary.order_lines += txn.lines.len();
        summary.orders += 1;
        if order.fraud {
            fraud_ids.push(txn.transaction_id.clone());
        }
        if (n + 1) % 100 == 0 {
            progress(
                date,
                &format!("{} / {} orders written", n + 1, plan.orders.len()),
            );
        }
    }
    for (buyer, i, qty, at_ms) in &plan.open_carts {
        let (Some(user), Some(item)) = (who(*buyer), items.get(*i)) else {
            continue;
        };
        let cart = Cart {
            user_id: FlexId(user),
            cart: pricing::price([item.line(*qty)]).lines,
            updated_at: day_start + Duration::milliseconds(i64::from(*at_ms)),
        };
        store
            .put_cart(&cart, &uuid::Uuid::now_v7().to_string())
            .await?;
        summary.carts += 1;
    }

    Ok((fraud_ids, gmv))
}

/// Live mode: the day's orders through the API, each customer's in order, customers at once.
async fn live(
    args: &TrafficArgs,
    plan: &scenarios::DayPlan,
    items: &[Item],
    who: &dyn Fn(Buyer) -> Option<i64>,
    summary: &mut TrafficSummary,
) -> Result<(Vec<String>, Decimal), TrafficError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    let date = plan.date;
    let base = args.api_url.trim_end_matches('/').to_string();
    let http = crate::api_client(args)?;
    // Each customer's orders, in plan order.
    let mut by_customer: std::collections::BTreeMap<
        i64,
        Vec<(usize, Vec<serde_json::Value>, bool)>,
    > = Default::default();
    for (n, order) in plan.orders.iter().enumerate() {
        let Some(user) = who(order.buyer) else {
            continue;
        };
        let lines: Vec<serde_json::Value> = order
            .lines
            .iter()
            .filter_map(|(i, qty)| {
                items
                    .get(*i)
                    .map(|item| json!({"item_id": item.id, "qty": qty}))
            })
            .collect();
        by_customer
            .entry(user)
            .or_default()
            .push((n, lines, order.fraud));
    }
    // Checkout takes stock: restock every item the day orders so its orders (fraud ones asking
    // for thousands of units included) never run out, whatever earlier days sold.
    let mut demand: std::collections::BTreeMap<i64, i64> = Default::default();
    for orders in by_customer.values() {
        for (_, lines, _) in orders {
            for line in lines {
                if let (Some(id), Some(qty)) = (line["item_id"].as_i64(), line["qty"].as_i64()) {
                    *demand.entry(id).or_default() += qty;
                }
            }
        }
    }
    for (id, qty) in demand {
        let url = format!("{base}/inventory/{id}");
        let resp = send(
            http.patch(&url)
                .json(&json!({"stock": (RESTOCK + qty).min(i64::from(i32::MAX))})),
            &url,
        )
        .await?;
        if !resp.status().is_success() {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            return Err(TrafficError::Api(url, format!("{status}: {text}")));
        }
    }
    let total = plan.orders.len();
    let done = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let results: Arc<Mutex<Vec<(String, Decimal, bool)>>> = Arc::default();
    let gate = Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
    let interval = (args.rate > 0.0).then(|| std::time::Duration::from_secs_f64(1.0 / args.rate));
    let pacer = Arc::new(tokio::sync::Mutex::new(()));
    let started = std::time::Instant::now();
    let progress = {
        let (done, errors) = (done.clone(), errors.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                let n = done.load(Ordering::Relaxed);
                let secs = started.elapsed().as_secs_f64();
                eprintln!(
                    "[traffic {date}] live: {n}/{total} orders, {:.0}/s, {} errors",
                    n as f64 / secs.max(0.001),
                    errors.load(Ordering::Relaxed)
                );
            }
        })
    };
    let mut shoppers = Vec::new();
    for (user, orders) in by_customer {
        let (http, base, gate, pacer) = (http.clone(), base.clone(), gate.clone(), pacer.clone());
        let (done, errors, results) = (done.clone(), errors.clone(), results.clone());
        shoppers.push(tokio::spawn(async move {
            let Ok(_permit) = gate.acquire_owned().await else {
                return;
            };
            for (n, lines, fraud) in orders {
                if let Some(every) = interval {
                    let _turn = pacer.lock().await;
                    tokio::time::sleep(every).await;
                }
                let placed = async {
                    post(
                        &http,
                        format!("{base}/cart/"),
                        json!({"user_id": user, "cart": lines}),
                    )
                    .await?;
                    let resp = send(
                        http.post(format!("{base}/checkout/"))
                            .header("Idempotency-Key", format!("{date}-{n}"))
                            .json(&json!({"user_id": user})),
                        "checkout",
                    )
                    .await?;
                    let status = resp.status();
                    let body = resp
                        .bytes()
                        .await
                        .map_err(|e| TrafficError::Api("checkout".into(), e.to_string()))?;
                    if !status.is_success() {
                        return Err(TrafficError::Api(
                            "checkout".into(),
                            format!("{status}: {}", String::from_utf8_lossy(&body)),
                        ));
                    }
                    // The API's own receipt type: the total read exactly, never through f64.
                    serde_json::from_slice::<CheckoutReceipt>(&body).map_err(|e| {
                        TrafficError::Api("checkout".into(), format!("unreadable receipt: {e}"))
                    })
                }
                .await;
                match placed {
                    Ok(receipt) => {
                        if let Ok(mut r) = results.lock() {
                            r.push((receipt.transaction_id, receipt.total_price.0, fraud));
                        }
                    }
                    Err(e) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(error = %e, "order failed");
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for s in shoppers {
        let _ = s.await;
    }
    progress.abort();
    let failed = errors.load(Ordering::Relaxed);
    eprintln!(
        "[traffic {date}] live: {} orders in {:.1} s, {failed} errors",
        done.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    // Open carts: carts put and left.
    for (buyer, i, qty, _) in &plan.open_carts {
        let (Some(user), Some(item)) = (who(*buyer), items.get(*i)) else {
            continue;
        };
        post(
            &http,
            format!("{base}/cart/"),
            json!({"user_id": user, "cart": [{"item_id": item.id, "qty": qty}]}),
        )
        .await?;
        summary.carts += 1;
    }
    let results = results.lock().map(|r| r.clone()).unwrap_or_default();
    summary.orders = results.len();
    let gmv = results.iter().map(|(_, t, _)| *t).sum();
    let fraud_ids = results
        .iter()
        .filter(|(_, _, f)| *f)
        .map(|(id, _, _)| id.clone())
        .collect();
    Ok((fraud_ids, gmv))
}
