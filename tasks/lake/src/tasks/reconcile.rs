//! `reconcile --date D`: nothing lost between checkout and warehouse. The count and the sum of
//! checkout totals of D in DynamoDB must equal the warehouse's transactions and
//! `SUM(fact_sales.total_price)` for D plus what clean quarantined (with duplicates):
//!
//!   dynamodb count = warehouse orders + quarantined transactions
//!   dynamodb sum   = warehouse sum    + sum of the quarantined records' totals
//!
//! A mismatch fails with the numbers in the message and a row in `audit.dq_failures`; every run
//! writes its row in `audit.pipeline_runs`.

use chrono::NaiveDate;
use mercado_api::keys::DayKind;
use rust_decimal::Decimal;

use crate::cli::LakeArgs;
use crate::contracts as c;
use crate::error::{LakeError, Result};
use crate::lake::Lake;
use crate::parquet_io::PartitionReader;
use crate::rows::{batch_rows, format_money};
use crate::summary::{DatasetCounts, Summary};
use crate::tasks::clean::parse_money;
use crate::tasks::enrich::date_id;
use crate::tasks::extract::{attribute_text, dynamo_client, query_day};
use crate::warehouse::WarehouseArgs;

pub const TASK: &str = "reconcile";

#[derive(Debug, Clone, clap::Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub lake: LakeArgs,

    #[command(flatten)]
    pub warehouse: WarehouseArgs,

    /// DynamoDB table holding the transactions.
    #[arg(long = "table", env = "MERCADO_DDB_TABLE", default_value = "mercado")]
    pub table: String,
}

/// Count and sum (in cents) of a set of transactions.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub count: u64,
    pub cents: i128,
}

impl Tally {
    fn add(&mut self, total: Option<&str>) {
        self.count += 1;
        self.cents += total.and_then(parse_money).unwrap_or(0);
    }
}

pub async fn run(args: &ReconcileArgs) -> Result<Summary> {
    let started = std::time::Instant::now();
    let lake = Lake::connect(&args.lake).await?;
    let run_id = args.lake.run_id();
    let date = args.lake.date;
    let mut summary = Summary::new(TASK, date, &run_id);

    let source = dynamodb_tally(&args.lake, &args.table, date).await?;
    let quarantined = quarantine_tally(&lake, date).await?;
    let (client, conn) = args.warehouse.connect().await?;
    let row = client
        .query_one(
            "SELECT COUNT(DISTINCT transaction_id)::bigint, COALESCE(SUM(total_price), 0)::numeric(18,2) \
             FROM core.fact_sales WHERE date_id = $1",
            &[&date_id(date)],
        )
        .await?;
    let mut sum: Decimal = row.get(1);
    sum.rescale(2);
    let warehouse = Tally {
        count: row.get::<_, i64>(0) as u64,
        cents: sum.mantissa(),
    };

    let expected = Tally {
        count: warehouse.count + quarantined.count,
        cents: warehouse.cents + quarantined.cents,
    };
    let numbers = format!(
        "DynamoDB {} transactions totalling {}; warehouse {} totalling {}; quarantined {} totalling {}",
        source.count,
        format_money(source.cents),
        warehouse.count,
        format_money(warehouse.cents),
        quarantined.count,
        format_money(quarantined.cents)
    );
    let ok = source == expected;
    let seconds = Decimal::from_f64_retain(started.elapsed().as_secs_f64())
        .unwrap_or_default()
        .round_dp(3);
    if !ok {
        client
            .execute(
                "INSERT INTO audit.dq_failures (date, check_name, severity, detail, run_id) VALUES ($1, 'reconcile', 'critical', $2, $3)",
                &[&date, &numbers, &run_id],
            )
            .await?;
    }
    client
        .execute(
            "INSERT INTO audit.pipeline_runs (task, date, run_id, rows, status, duration_s, detail) \
             VALUES ('reconcile', $1, $2, $3, $4, $5, $6)",
            &[&date, &run_id, &(source.count as i64), &(if ok { "ok" } else { "failed" }), &seconds, &numbers],
        )
        .await?;
    drop(client);
    conn.abort();
    if !ok {
        return Err(LakeError::Invalid(format!(
            "reconciliation failed for {date}: {numbers}"
        )));
    }
    tracing::info!(%date, %numbers, "reconciled");
    summary.add(
        "dynamodb",
        DatasetCounts {
            rows_in: source.count,
            ..Default::default()
        },
    );
    summary.add(
        "warehouse",
        DatasetCounts {
            rows_out: warehouse.count,
            ..Default::default()
        },
    );
    summary.add(
        "quarantine",
        DatasetCounts {
            quarantined: quarantined.count,
            ..Default::default()
        },
    );
    Ok(summary.finish(started))
}

/// Every transaction of the day in DynamoDB, by the same day-index Query as extract.
async fn dynamodb_tally(args: &LakeArgs, table: &str, date: NaiveDate) -> Result<Tally> {
    let ddb = dynamo_client(args).await;
    let mut rx = query_day(&ddb, table, DayKind::Transactions, date, None);
    let mut tally = Tally::default();
    while let Some(page) = rx.recv().await {
        for item in page? {
            tally.add(attribute_text(item.get("total_price")).as_deref());
        }
    }
    Ok(tally)
}

/// The transactions clean refused for the day, duplicates included, with their raw totals.
async fn quarantine_tally(lake: &Lake, date: NaiveDate) -> Result<Tally> {
    let mut tally = Tally::default();
    let q = c::quarantine_of(c::RAW_TRANSACTIONS.id);
    for batch in PartitionReader::open(lake, q, date)
        .await?
        .read_all()
        .await?
    {
        for row in batch_rows(&batch)? {
            let record: serde_json::Value = row[3]
                .as_str()
                .and_then(|r| serde_json::from_str(r).ok())
                .unwrap_or_default();
            tally.add(record.get("total_price").and_then(|v| v.as_str()));
        }
    }
    Ok(tally)
}
