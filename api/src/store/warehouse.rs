//! Reads of the warehouse (the pipeline's `core` and `marts` schemas): vendor analytics. Never the
//! OLTP stores, never a write. The SQL is portable between PostgreSQL and Redshift.

use std::collections::HashMap;

use chrono::NaiveDate;
use deadpool_postgres::Pool;
use mercado_core::calendar::date_id;
use rust_decimal::Decimal;
use tokio_postgres::IsolationLevel;

use super::pg::PgError;
use crate::model::{FlexId, Money, SalesDay, SalesTotals, TopItem, VendorSales};

/// How many items `top_items` lists.
pub const TOP_ITEMS: i64 = 10;

/// Why the warehouse could not answer.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    /// Unreachable, or its schemas are not there yet (nothing loaded): 503.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else: 500.
    #[error("{0}")]
    Other(String),
}

impl From<tokio_postgres::Error> for WarehouseError {
    fn from(e: tokio_postgres::Error) -> Self {
        // 3F000 invalid schema name, 42P01 undefined table: the DDL and marts are applied by the
        // first load, so a warehouse nothing was loaded into yet cannot answer.
        let missing = e
            .code()
            .is_some_and(|c| matches!(c.code(), "3F000" | "42P01"));
        match PgError::from(e) {
            PgError::Unavailable(m) => WarehouseError::Unavailable(m),
            PgError::Other(m) if missing => {
                WarehouseError::Unavailable(format!("the warehouse has no marts yet: {m}"))
            }
            PgError::Other(m) => WarehouseError::Other(m),
        }
    }
}

impl From<deadpool_postgres::PoolError> for WarehouseError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => WarehouseError::Unavailable(other.to_string()),
        }
    }
}

/// The vendor's sales from `from` to `to` (both included, `from <= to`); `None` when the
/// warehouse has no such vendor. One read-only snapshot, so days, totals and top items agree even
/// while a load commits.
pub async fn vendor_sales(
    pool: &Pool,
    vendor: FlexId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Option<VendorSales>, WarehouseError> {
    let mut client = pool.get().await?;
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let Some(vendor_row) = tx
        .query_opt(
            "SELECT vendor_name FROM marts.vendors WHERE vendor_id = $1",
            &[&vendor.0],
        )
        .await?
    else {
        return Ok(None);
    };
    let (first, last) = (date_id(from), date_id(to));
    let daily = tx
        .query(
            "SELECT date_id, gmv, orders, CAST(items_sold AS bigint) AS units
             FROM marts.vendor_daily_sales
             WHERE vendor_id = $1 AND date_id BETWEEN $2 AND $3",
            &[&vendor.0, &first, &last],
        )
        .await?;
    // The marts only: the API's warehouse login reads nothing else (sql/warehouse/grants.sql).
    let top_sql = format!(
        "SELECT item_id, MAX(item_name) AS item_name, CAST(SUM(units) AS bigint) AS units,
                SUM(revenue) AS revenue
         FROM marts.vendor_item_daily_sales
         WHERE vendor_id = $1 AND date_id BETWEEN $2 AND $3
         GROUP BY item_id
         ORDER BY SUM(revenue) DESC, item_id
         LIMIT {TOP_ITEMS}"
    );
    let top = tx.query(&top_sql, &[&vendor.0, &first, &last]).await?;
    tx.commit().await?;

    // (revenue, orders, units) of the days with sales.
    let mut by_day: HashMap<i32, (Decimal, i64, i64)> = HashMap::with_capacity(daily.len());
    for row in &daily {
        by_day.insert(
            row.try_get("date_id")?,
            (
                row.try_get("gmv")?,
                row.try_get("orders")?,
                row.try_get("units")?,
            ),
        );
    }
    let mut days = Vec::new();
    let (mut revenue, mut orders, mut units) = (Decimal::ZERO, 0i64, 0i64);
    for date in from.iter_days().take_while(|d| *d <= to) {
        let (day_revenue, day_orders, day_units) =
            by_day
                .remove(&date_id(date))
                .unwrap_or((Decimal::ZERO, 0, 0));
        revenue += day_revenue;
        orders += day_orders;
        units += day_units;
        days.push(SalesDay {
            date,
            revenue: Money::normalized(day_revenue),
            orders: day_orders,
            units: day_units,
        });
    }
    let totals = SalesTotals {
        revenue: Money::normalized(revenue),
        orders,
        units,
    };
    let top_items = top
        .iter()
        .map(|row| {
            Ok(TopItem {
                item_id: FlexId(row.try_get("item_id")?),
                item_name: row.try_get("item_name")?,
                units: row.try_get("units")?,
                revenue: Money::normalized(row.try_get::<_, Decimal>("revenue")?),
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()?;
    Ok(Some(VendorSales {
        vendor_id: vendor,
        vendor_name: vendor_row.try_get("vendor_name")?,
        from,
        to,
        days,
        totals,
        top_items,
    }))
}
