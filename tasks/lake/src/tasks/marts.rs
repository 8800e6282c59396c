//! `marts --date D`: the marts of D, after the load. The marts are views over `core`, so they are
//! current as soon as load_redshift commits; this task applies their definitions (postgres
//! target), checks each answers for D, and reports the day's KPIs in its summary (and so in XCom).

use rust_decimal::Decimal;

use crate::cli::LakeArgs;
use crate::error::{LakeError, Result};
use crate::summary::{DatasetCounts, Summary};
use crate::warehouse::MARTS;
use crate::warehouse::{Target, WarehouseArgs};
use mercado_core::calendar::date_id;

pub const TASK: &str = "marts";

/// The marts, each with the number of rows it has for the date.
const MARTS_BY_DATE: [&str; 8] = [
    "daily_sales",
    "vendor_daily_sales",
    "vendor_item_daily_sales",
    "category_sales",
    "top_items",
    "cart_abandonment",
    "repeat_customer_rate",
    "flagged_transactions",
];

#[derive(Debug, Clone, clap::Args)]
pub struct MartsArgs {
    #[command(flatten)]
    pub lake: LakeArgs,

    #[command(flatten)]
    pub warehouse: WarehouseArgs,
}

/// This task's flags.
pub type Args = MartsArgs;

impl crate::entry::TaskArgs for MartsArgs {
    fn lake(&self) -> &LakeArgs {
        &self.lake
    }
    fn lake_mut(&mut self) -> &mut LakeArgs {
        &mut self.lake
    }
    fn audit_warehouse(&self) -> Option<WarehouseArgs> {
        self.warehouse.configured()
    }
}

pub async fn run(args: &MartsArgs) -> Result<Summary> {
    let started = std::time::Instant::now();
    let date = args.lake.date;
    let mut summary = Summary::new(TASK, date, &args.lake.run_id());
    let (client, conn) = args.warehouse.connect(&args.lake.waits).await?;
    // The marts are views over `core`: on a warehouse nothing was loaded into yet, say what to
    // run first rather than PostgreSQL's "relation does not exist".
    let loaded: bool = client
        .query_one("SELECT to_regclass('core.dim_date') IS NOT NULL", &[])
        .await?
        .get(0);
    if !loaded {
        return Err(not_loaded(date));
    }
    if args.warehouse.target == Target::Postgres {
        // Views are replaced under the writers' lock: concurrent `CREATE OR REPLACE VIEW`s of
        // two dates would fail with `tuple concurrently updated`.
        crate::warehouse::lock_writers(&client, args.warehouse.target, &args.lake.waits).await?;
        let applied = client.batch_execute(MARTS).await;
        crate::warehouse::unlock_writers(&client, args.warehouse.target).await;
        applied?;
    }
    let day = date_id(date);
    for mart in MARTS_BY_DATE {
        let n: i64 = client
            .query_one(
                &format!("SELECT COUNT(*) FROM marts.{mart} WHERE date_id = $1"),
                &[&day],
            )
            .await?
            .get(0);
        summary.add(
            format!("marts.{mart}"),
            DatasetCounts {
                rows_out: n as u64,
                rows_written: n as u64,
                ..Default::default()
            },
        );
    }
    let row = client
        .query_opt(
            "SELECT s.gmv, s.orders, s.aov, a.abandonment_rate, r.repeat_rate \
             FROM marts.daily_sales s JOIN marts.cart_abandonment a USING (date_id) \
             LEFT JOIN marts.repeat_customer_rate r USING (date_id) WHERE s.date_id = $1",
            &[&day],
        )
        .await?
        .ok_or_else(|| not_loaded(date))?;
    let text = |i: usize| {
        row.get::<_, Option<Decimal>>(i)
            .map_or_else(|| "null".to_string(), |d| d.to_string())
    };
    for (i, name) in ["gmv", "orders", "aov", "abandonment_rate", "repeat_rate"]
        .iter()
        .enumerate()
    {
        let value = if *name == "orders" {
            row.get::<_, i64>(i).to_string()
        } else {
            text(i)
        };
        summary.figures.insert((*name).to_string(), value);
    }
    drop(client);
    conn.abort();
    tracing::info!(%date, figures = ?summary.figures, "marts ready");
    Ok(summary.finish(started))
}

fn not_loaded(date: chrono::NaiveDate) -> LakeError {
    LakeError::MissingInput(format!(
        "{date} is not loaded; run `load_redshift --date {date}` first"
    ))
}
