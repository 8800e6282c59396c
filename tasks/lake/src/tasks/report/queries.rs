//! The marts' rows the report shows: D and the loaded days up to it. Numbers are read twice: as
//! the warehouse prints them (text, for the tables) and as floats (for the charts' geometry only).

use tokio_postgres::Client;

use super::TREND_DAYS;
use crate::error::{LakeError, Result};
use mercado_core::calendar::date_id;

#[derive(Debug, Clone)]
pub struct Day {
    pub date: String,
    pub gmv: String,
    pub gmv_f: f64,
    pub orders: i64,
    pub aov: String,
}

#[derive(Debug, Clone)]
pub struct Vendor {
    pub vendor_id: i64,
    pub name: String,
    pub region: String,
    pub gmv: String,
    pub gmv_f: f64,
    pub orders: i64,
    pub items: i64,
}

#[derive(Debug, Clone)]
pub struct Category {
    pub name: String,
    pub gmv: String,
    pub items: i64,
    pub share: f64,
}

#[derive(Debug, Clone)]
pub struct Funnel {
    pub open_carts: i64,
    pub checkouts: i64,
    pub open_value: String,
    pub abandonment: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Flagged {
    pub transaction_id: String,
    pub customer_id: i64,
    pub created_at: String,
    pub total: String,
    pub rule: String,
    pub detail: String,
}

#[derive(Debug, Clone)]
pub struct ReportData {
    pub date: chrono::NaiveDate,
    /// Oldest first, D last.
    pub days: Vec<Day>,
    /// By GMV, highest first.
    pub vendors: Vec<Vendor>,
    pub categories: Vec<Category>,
    pub funnel: Option<Funnel>,
    pub flagged: Vec<Flagged>,
}

pub(super) fn not_loaded(date: chrono::NaiveDate) -> LakeError {
    LakeError::MissingInput(format!(
        "{date} is not loaded into the warehouse; run `load_redshift --date {date}` first"
    ))
}

pub(super) async fn read(client: &Client, date: chrono::NaiveDate) -> Result<ReportData> {
    let day = date_id(date);
    let days: Vec<(i32, Day)> = client
        .query(
            "SELECT date_id, date::text, gmv::text, gmv::float8, orders::bigint, \
                    COALESCE(aov::text, '') \
             FROM marts.daily_sales s WHERE s.date_id <= $1 ORDER BY s.date_id DESC LIMIT $2",
            &[&day, &TREND_DAYS],
        )
        .await
        .map_err(|e| {
            if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) {
                not_loaded(date)
            } else {
                e.into()
            }
        })?
        .iter()
        .map(|r| {
            (
                r.get::<_, i32>(0),
                Day {
                    date: r.get(1),
                    gmv: r.get(2),
                    gmv_f: r.get(3),
                    orders: r.get(4),
                    aov: r.get(5),
                },
            )
        })
        .collect::<Vec<_>>();
    // Newest first: the first row is D's, if D is loaded.
    if days.first().map(|(id, _)| *id) != Some(day) {
        return Err(not_loaded(date));
    }
    let days: Vec<Day> = days.into_iter().rev().map(|(_, d)| d).collect();

    let vendors = client
        .query(
            "SELECT vendor_id::bigint, COALESCE(vendor_name, ''), COALESCE(region, ''), \
                    gmv::text, gmv::float8, orders::bigint, items_sold::bigint \
             FROM marts.vendor_daily_sales v WHERE v.date_id = $1 ORDER BY v.gmv DESC, v.vendor_id",
            &[&day],
        )
        .await?
        .iter()
        .map(|r| Vendor {
            vendor_id: r.get(0),
            name: r.get(1),
            region: r.get(2),
            gmv: r.get(3),
            gmv_f: r.get(4),
            orders: r.get(5),
            items: r.get(6),
        })
        .collect();

    let categories = client
        .query(
            "SELECT COALESCE(category_name, ''), gmv::text, items_sold::bigint, \
                    COALESCE(share_of_gmv, 0)::float8 \
             FROM marts.category_sales c WHERE c.date_id = $1 ORDER BY c.gmv DESC, c.category_id",
            &[&day],
        )
        .await?
        .iter()
        .map(|r| Category {
            name: r.get(0),
            gmv: r.get(1),
            items: r.get(2),
            share: r.get(3),
        })
        .collect();

    let funnel = client
        .query_opt(
            "SELECT open_carts::bigint, checkouts::bigint, open_cart_value::text, \
                    abandonment_rate::float8 \
             FROM marts.cart_abandonment WHERE date_id = $1",
            &[&day],
        )
        .await?
        .map(|r| Funnel {
            open_carts: r.get(0),
            checkouts: r.get(1),
            open_value: r.get(2),
            abandonment: r.get(3),
        });

    let flagged = client
        .query(
            "SELECT transaction_id::text, customer_id::bigint, \
                    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), \
                    total_price::text, rule::text, COALESCE(detail::text, '') \
             FROM marts.flagged_transactions f WHERE f.date_id = $1 \
             ORDER BY f.created_at, f.transaction_id, f.rule",
            &[&day],
        )
        .await?
        .iter()
        .map(|r| Flagged {
            transaction_id: r.get(0),
            customer_id: r.get(1),
            created_at: r.get(2),
            total: r.get(3),
            rule: r.get(4),
            detail: r.get(5),
        })
        .collect();

    Ok(ReportData {
        date,
        days,
        vendors,
        categories,
        funnel,
        flagged,
    })
}
