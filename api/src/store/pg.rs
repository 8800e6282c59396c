//! PostgreSQL side: the pool, error classification, and the queries the routes need.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use rust_decimal::Decimal;
use tokio_postgres::Row;

use crate::model::{Category, Customer, FlexId, Item, Money, Vendor};

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The server cannot be reached or refused service: the client may retry (503).
    #[error("{0}")]
    Unavailable(String),
    /// A query failed for another reason: our fault (500).
    #[error("{0}")]
    Other(String),
}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.code() {
            // No SQLSTATE: the connection itself failed.
            None => PgError::Unavailable(e.to_string()),
            Some(code) => {
                let class = &code.code()[..2];
                // 08 connection exception, 53 insufficient resources, 57 operator intervention.
                let text = e.as_db_error().map_or_else(
                    || e.to_string(),
                    |db| format!("{} ({})", db.message(), code.code()),
                );
                if matches!(class, "08" | "53" | "57") {
                    PgError::Unavailable(text)
                } else {
                    PgError::Other(text)
                }
            }
        }
    }
}

impl From<PoolError> for PgError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Backend(e) => e.into(),
            other => PgError::Unavailable(other.to_string()),
        }
    }
}

/// A pool whose waits, connects and statements are all bounded by `timeout`, so an outage turns
/// into a prompt 503 rather than a hung request.
pub fn pool(database_url: &str, size: usize, timeout: Duration) -> Result<Pool, PgError> {
    build_pool("DATABASE_URL", database_url, size, timeout)
}

/// The warehouse's pool: the same bounds as [`pool`] (waits, connects and statements).
pub fn warehouse_pool(url: &str, size: usize, timeout: Duration) -> Result<Pool, PgError> {
    build_pool("WAREHOUSE_URL", url, size, timeout)
}

fn build_pool(setting: &str, url: &str, size: usize, timeout: Duration) -> Result<Pool, PgError> {
    if url.trim().is_empty() {
        return Err(PgError::Other(format!(
            "{setting} is not set: give --{} or the {setting} environment variable",
            setting.to_lowercase().replace('_', "-")
        )));
    }
    // TLS when the URL asks for it (`sslmode`, `sslrootcert`; see mercado_core::postgres).
    let mercado_core::postgres::PgConnect { mut config, tls } =
        mercado_core::postgres::connect_config(setting, url, false)
            .map_err(|e| PgError::Other(e.to_string()))?;
    config.connect_timeout(timeout);
    config.application_name("mercado-api");
    config.options(format!("-c statement_timeout={}", timeout.as_millis()));
    let manager = Manager::from_config(
        config,
        tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
        .map_err(|e| PgError::Other(e.to_string()))
}

// ---- customers ----------------------------------------------------------------------------

const CUSTOMER_COLS: &str = "id, first_name, last_name, email, joined_at";

fn customer(r: &Row) -> Customer {
    Customer {
        id: FlexId(r.get("id")),
        first_name: r.get("first_name"),
        last_name: r.get("last_name"),
        email: r.get("email"),
        joined_at: r.get("joined_at"),
    }
}

/// Inserts a customer; `None` when the email is already taken.
pub async fn insert_customer(
    pool: &Pool,
    first: &str,
    last: &str,
    email: &str,
    joined_at: Option<DateTime<Utc>>,
) -> Result<Option<Customer>, PgError> {
    let client = pool.get().await?;
    let sql = format!(
        "INSERT INTO customers (first_name, last_name, email, joined_at)
         VALUES ($1, $2, $3, COALESCE($4, clock_timestamp()))
         ON CONFLICT (email) DO NOTHING RETURNING {CUSTOMER_COLS}"
    );
    let row = client
        .query_opt(&sql, &[&first, &last, &email, &joined_at])
        .await?;
    Ok(row.as_ref().map(customer))
}

pub async fn get_customer(pool: &Pool, id: FlexId) -> Result<Option<Customer>, PgError> {
    let client = pool.get().await?;
    let sql = format!("SELECT {CUSTOMER_COLS} FROM customers WHERE id = $1");
    Ok(client
        .query_opt(&sql, &[&id.0])
        .await?
        .as_ref()
        .map(customer))
}

pub async fn customer_exists(pool: &Pool, id: FlexId) -> Result<bool, PgError> {
    let client = pool.get().await?;
    let row = client
        .query_opt("SELECT 1 FROM customers WHERE id = $1", &[&id.0])
        .await?;
    Ok(row.is_some())
}

// ---- vendors ------------------------------------------------------------------------------

fn vendor(r: &Row) -> Vendor {
    Vendor {
        id: FlexId(r.get("id")),
        vendor_name: r.get("vendor_name"),
        region: r.get("region"),
        joined_at: r.get("joined_at"),
    }
}

pub async fn insert_vendor(
    pool: &Pool,
    name: &str,
    region: &str,
    joined_at: Option<DateTime<Utc>>,
) -> Result<Vendor, PgError> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            "INSERT INTO vendors (vendor_name, region, joined_at)
             VALUES ($1, $2, COALESCE($3, clock_timestamp()))
             RETURNING id, vendor_name, region::text AS region, joined_at",
            &[&name, &region, &joined_at],
        )
        .await?;
    Ok(vendor(&row))
}

pub async fn get_vendor(pool: &Pool, id: FlexId) -> Result<Option<Vendor>, PgError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "SELECT id, vendor_name, region::text AS region, joined_at FROM vendors WHERE id = $1",
            &[&id.0],
        )
        .await?;
    Ok(row.as_ref().map(vendor))
}

// ---- categories ---------------------------------------------------------------------------

pub async fn list_categories(pool: &Pool) -> Result<Vec<Category>, PgError> {
    let client = pool.get().await?;
    let rows = client
        .query("SELECT id, name FROM categories ORDER BY id", &[])
        .await?;
    Ok(rows
        .iter()
        .map(|r| Category {
            id: r.get("id"),
            name: r.get("name"),
        })
        .collect())
}

// ---- inventory ----------------------------------------------------------------------------

const ITEM_COLS: &str = "id, item_name, category_id, price, stock, vendor_id, updated_at";

fn item(r: &Row) -> Item {
    Item {
        id: FlexId(r.get("id")),
        item_name: r.get("item_name"),
        category: r.get("category_id"),
        price: Money::normalized(r.get::<_, Decimal>("price")),
        stock: r.get("stock"),
        vendor_id: FlexId(r.get("vendor_id")),
        updated_at: r.get("updated_at"),
    }
}

/// Why an item write was refused by a reference check.
#[derive(Debug, PartialEq, Eq)]
pub enum ItemRefusal {
    UnknownVendor,
    UnknownCategory,
}

pub struct ItemValues<'a> {
    pub item_name: Option<&'a str>,
    pub category_id: Option<i32>,
    pub price: Option<Decimal>,
    pub stock: Option<i32>,
}

pub async fn insert_item(
    pool: &Pool,
    vendor_id: FlexId,
    values: &ItemValues<'_>,
    created_at: Option<DateTime<Utc>>,
) -> Result<Result<Item, ItemRefusal>, PgError> {
    let client = pool.get().await?;
    // One round trip that checks both references and inserts only when both exist.
    let sql = format!(
        "WITH v AS (SELECT id FROM vendors WHERE id = $1),
              c AS (SELECT id FROM categories WHERE id = $2),
              ins AS (
                INSERT INTO inventory (vendor_id, category_id, item_name, price, stock, created_at)
                SELECT v.id, c.id, $3, $4, $5, COALESCE($6, clock_timestamp()) FROM v, c
                RETURNING {ITEM_COLS})
         SELECT (SELECT count(*) FROM v) AS has_vendor, (SELECT count(*) FROM c) AS has_category, ins.*
         FROM (SELECT 1) one LEFT JOIN ins ON true"
    );
    let stock = values.stock.unwrap_or(0);
    let row = client
        .query_one(
            &sql,
            &[
                &vendor_id.0,
                &values.category_id,
                &values.item_name,
                &values.price,
                &stock,
                &created_at,
            ],
        )
        .await?;
    if row.get::<_, i64>("has_vendor") == 0 {
        return Ok(Err(ItemRefusal::UnknownVendor));
    }
    if row.get::<_, i64>("has_category") == 0 {
        return Ok(Err(ItemRefusal::UnknownCategory));
    }
    Ok(Ok(item(&row)))
}

pub async fn get_item(pool: &Pool, id: FlexId) -> Result<Option<Item>, PgError> {
    let client = pool.get().await?;
    let sql = format!("SELECT {ITEM_COLS} FROM inventory WHERE id = $1");
    Ok(client.query_opt(&sql, &[&id.0]).await?.as_ref().map(item))
}

/// One page of items ordered by id, optionally for one vendor; the `bool` says whether more follow.
pub async fn list_items(
    pool: &Pool,
    vendor_id: Option<FlexId>,
    after_id: i64,
    limit: i64,
) -> Result<(Vec<Item>, bool), PgError> {
    let client = pool.get().await?;
    let sql = format!(
        "SELECT {ITEM_COLS} FROM inventory
         WHERE ($1::bigint IS NULL OR vendor_id = $1) AND id > $2
         ORDER BY id LIMIT $3"
    );
    let vendor = vendor_id.map(|v| v.0);
    let rows = client
        .query(&sql, &[&vendor, &after_id, &(limit + 1)])
        .await?;
    let more = rows.len() as i64 > limit;
    Ok((rows.iter().take(limit as usize).map(item).collect(), more))
}

/// Applies a partial update; `Ok(None)` when the item does not exist.
pub async fn update_item(
    pool: &Pool,
    id: FlexId,
    values: &ItemValues<'_>,
) -> Result<Result<Option<Item>, ItemRefusal>, PgError> {
    let client = pool.get().await?;
    if let Some(category) = values.category_id {
        let known = client
            .query_opt("SELECT 1 FROM categories WHERE id = $1", &[&category])
            .await?;
        if known.is_none() {
            return Ok(Err(ItemRefusal::UnknownCategory));
        }
    }
    let sql = format!(
        "UPDATE inventory SET
            item_name = COALESCE($2, item_name),
            category_id = COALESCE($3, category_id),
            price = COALESCE($4, price),
            stock = COALESCE($5, stock)
         WHERE id = $1 RETURNING {ITEM_COLS}"
    );
    let row = client
        .query_opt(
            &sql,
            &[
                &id.0,
                &values.item_name,
                &values.category_id,
                &values.price,
                &values.stock,
            ],
        )
        .await?;
    Ok(Ok(row.as_ref().map(item)))
}

/// The current vendor and price of each listed item that exists.
pub async fn item_prices(
    pool: &Pool,
    ids: &[i64],
) -> Result<Vec<(FlexId, FlexId, Money)>, PgError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT id, vendor_id, price FROM inventory WHERE id = ANY($1)",
            &[&ids],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                FlexId(r.get("id")),
                FlexId(r.get("vendor_id")),
                Money::normalized(r.get::<_, Decimal>("price")),
            )
        })
        .collect())
}

pub async fn ping(pool: &Pool) -> Result<(), PgError> {
    let client = pool.get().await?;
    client.query_one("SELECT 1", &[]).await?;
    Ok(())
}

// ---- stock --------------------------------------------------------------------------------

/// Takes `qty` units of each `(item_id, qty)` from stock in ONE transaction, all or nothing:
/// `Ok(Err(item_id))` names an item without enough stock (or gone) and nothing is taken. Lines of
/// the same item are summed; rows are updated in item-id order so concurrent checkouts lock them
/// in the same order and cannot deadlock.
pub async fn take_stock(pool: &Pool, lines: &[(i64, i64)]) -> Result<Result<(), i64>, PgError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    for (id, qty) in by_item(lines) {
        let taken = tx
            .execute(
                "UPDATE inventory SET stock = stock - $2 WHERE id = $1 AND stock >= $2",
                &[&id, &qty],
            )
            .await?;
        if taken == 0 {
            tx.rollback().await?;
            return Ok(Err(id));
        }
    }
    tx.commit().await?;
    Ok(Ok(()))
}

/// Gives back what [`take_stock`] took (the compensation of a checkout whose DynamoDB write
/// failed), in one transaction.
pub async fn give_back_stock(pool: &Pool, lines: &[(i64, i64)]) -> Result<(), PgError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    for (id, qty) in by_item(lines) {
        tx.execute(
            "UPDATE inventory SET stock = stock + $2 WHERE id = $1",
            &[&id, &qty],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Quantities summed per item, in item-id order; as `i32`, the column's type (a sum beyond it
/// is more than any stock, so it saturates and cannot be taken).
fn by_item(lines: &[(i64, i64)]) -> std::collections::BTreeMap<i64, i32> {
    let mut sums = std::collections::BTreeMap::<i64, i64>::new();
    for &(id, qty) in lines {
        *sums.entry(id).or_default() += qty;
    }
    sums.into_iter()
        .map(|(id, qty)| (id, i32::try_from(qty).unwrap_or(i32::MAX)))
        .collect()
}

/// One request of `client` against its rate (GCRA: each request moves the client's theoretical
/// arrival time on by `emission` seconds; it is allowed while that time is at most `tolerance`
/// seconds ahead of now), in the `rate_limits` table every replica shares. The row's lock
/// (`ON CONFLICT … DO UPDATE`) orders concurrent requests of one client. `None`: allowed;
/// `Some(seconds)`: refused, allowed again in that many seconds.
pub async fn take_rate(
    pool: &Pool,
    client: &str,
    emission: f64,
    tolerance: f64,
) -> Result<Option<f64>, PgError> {
    let conn = pool.get().await?;
    // The SELECT sees the row as it was before this statement: the wait is computed from it.
    let row = conn
        .query_one(
            "WITH taken AS (
                 INSERT INTO rate_limits AS r (client, tat)
                 VALUES ($1, now() + make_interval(secs => $2))
                 ON CONFLICT (client) DO UPDATE
                    SET tat = greatest(r.tat, now()) + make_interval(secs => $2)
                  WHERE greatest(r.tat, now()) + make_interval(secs => $2)
                        <= now() + make_interval(secs => $3)
                 RETURNING 1)
             SELECT EXISTS (SELECT 1 FROM taken) AS allowed,
                    COALESCE((SELECT EXTRACT(EPOCH FROM greatest(tat, now()) - now())::float8
                              FROM rate_limits WHERE client = $1), 0) + $2 - $3 AS wait",
            &[&client, &emission, &tolerance],
        )
        .await?;
    let allowed: bool = row.try_get("allowed")?;
    let wait: f64 = row.try_get("wait")?;
    Ok((!allowed).then_some(wait.max(0.0)))
}

/// Forgets clients whose budget is full again (their arrival time has passed): the table stays
/// the size of the recent clients.
pub async fn forget_idle_rates(pool: &Pool) -> Result<u64, PgError> {
    let conn = pool.get().await?;
    Ok(conn
        .execute("DELETE FROM rate_limits WHERE tat < now()", &[])
        .await?)
}
