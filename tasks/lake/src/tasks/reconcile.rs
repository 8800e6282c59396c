//! `reconcile --date D`: nothing lost between checkout and warehouse. The count and the sum of
//! checkout totals of D in DynamoDB must equal the warehouse's transactions and
//! `SUM(fact_sales.total_price)` for D plus what clean quarantined (with duplicates):
//!
//!   dynamodb count = warehouse orders + quarantined transactions
//!   dynamodb sum   = warehouse sum    + sum of the quarantined records' totals
//!
//! and the lake as other engines read it agrees: each gold table's current Iceberg snapshot holds
//! for D the rows its `_manifest.json` lists (the tasks' internal record kept consistent with the
//! commit), each date from one commit, and the sales it holds for D are the warehouse's:
//!
//!   Iceberg snapshot's fact_sales for D = warehouse (count and sum)
//!
//! A mismatch fails with the numbers in the message and a row in `audit.dq_failures`; every run
//! writes its row in `audit.pipeline_runs`.

use chrono::NaiveDate;
use mercado_core::keys::DayKind;
use rust_decimal::Decimal;

use crate::cli::LakeArgs;
use crate::contracts as c;
use crate::error::{LakeError, Result};
use crate::iceberg::{Catalog, IcebergArgs};
use crate::lake::Lake;
use crate::parquet_io::PartitionReader;
use crate::rows::batch_rows;
use crate::summary::{DatasetCounts, Summary};
use crate::dynamo::{self, attribute_text, query_day};
use crate::warehouse::WarehouseArgs;
use mercado_core::calendar::date_id;

pub const TASK: &str = "reconcile";

#[derive(Debug, Clone, clap::Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub lake: LakeArgs,

    #[command(flatten)]
    pub warehouse: WarehouseArgs,

    #[command(flatten)]
    pub iceberg: IcebergArgs,

    /// DynamoDB table holding the transactions.
    #[arg(long = "table", env = "MERCADO_DDB_TABLE", default_value = "mercado")]
    pub table: String,
}

/// This task's flags.
pub type Args = ReconcileArgs;

impl crate::entry::TaskArgs for ReconcileArgs {
    fn lake(&self) -> &LakeArgs {
        &self.lake
    }
    fn lake_mut(&mut self) -> &mut LakeArgs {
        &mut self.lake
    }
    fn audit_warehouse(&self) -> Option<WarehouseArgs> {
        self.warehouse.configured()
    }
    const RECORDS_ITS_OWN_RUN: bool = true;
}

/// Count and exact sum of a set of transactions, and the records whose total is not an amount.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    pub count: u64,
    pub sum: Decimal,
    /// `(record key, total as stored)` of totals that are missing or not a decimal number.
    pub unparseable: Vec<(String, Option<String>)>,
}

impl Tally {
    /// Adds one record. Its total is read exactly, whatever its scale; one that is not a
    /// decimal number is kept aside, never counted as zero.
    pub fn add(&mut self, key: &str, total: Option<&str>) {
        self.count += 1;
        match total.and_then(mercado_core::money::parse_exact) {
            Some(amount) => self.sum += amount,
            None => self
                .unparseable
                .push((key.to_string(), total.map(str::to_string))),
        }
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
    let published = match args.iceberg.open(&args.lake.waits).await? {
        Some(catalog) => Some(published_tally(&lake, &catalog, date).await?),
        None => None,
    };
    let (client, conn) = args.warehouse.connect(&args.lake.waits).await?;
    let row = client
        .query_one(
            "SELECT COUNT(DISTINCT transaction_id)::bigint, COALESCE(SUM(total_price), 0)::numeric(18,2) \
             FROM core.fact_sales WHERE date_id = $1",
            &[&date_id(date)],
        )
        .await?;
    let warehouse = Tally {
        count: row.get::<_, i64>(0) as u64,
        sum: row.get(1),
        unparseable: Vec::new(),
    };

    let expected_count = warehouse.count + quarantined.count;
    let expected_sum = warehouse.sum + quarantined.sum;
    let mut numbers = format!(
        "DynamoDB {} transactions totalling {}; warehouse {} totalling {}; quarantined {} totalling {}",
        source.count,
        mercado_core::money::display(source.sum),
        warehouse.count,
        mercado_core::money::display(warehouse.sum),
        quarantined.count,
        mercado_core::money::display(quarantined.sum)
    );
    let unparseable: Vec<String> = source
        .unparseable
        .iter()
        .map(|(key, total)| format!("DynamoDB transaction {key} total {total:?}"))
        .chain(
            quarantined
                .unparseable
                .iter()
                .map(|(key, total)| format!("quarantined transaction {key} total {total:?}")),
        )
        .collect();
    if !unparseable.is_empty() {
        // An amount that cannot be read cannot be reconciled: never count it as zero.
        numbers.push_str(&format!(
            "; {} totals are not decimal amounts: {}",
            unparseable.len(),
            unparseable[..unparseable.len().min(10)].join(", ")
        ));
    }
    let mut ok =
        unparseable.is_empty() && source.count == expected_count && source.sum == expected_sum;
    match &published {
        Some(p) => {
            numbers.push_str(&format!(
                "; the lake's Iceberg snapshot {} totalling {}",
                p.sales.count,
                mercado_core::money::display(p.sales.sum)
            ));
            if !p.problems.is_empty() {
                numbers.push_str(&format!("; {}", p.problems.join("; ")));
            }
            ok &= p.problems.is_empty() && p.sales.count == warehouse.count && p.sales.sum == warehouse.sum;
        }
        None => numbers.push_str(&format!(
            "; the Iceberg tables not read (catalog {:?})",
            args.iceberg.catalog
        )),
    }
    if !ok {
        client
            .execute(
                "INSERT INTO audit.dq_failures (date, check_name, severity, detail, run_id) VALUES ($1, 'reconcile', 'critical', $2, $3)",
                &[&date, &numbers, &run_id],
            )
            .await?;
    }
    crate::audit::record(
        &client,
        &crate::audit::RunRecord {
            task: TASK,
            date,
            run_id: &run_id,
            rows: source.count as i64,
            status: if ok { "ok" } else { "failed" },
            started,
            detail: Some(&numbers),
        },
    )
    .await?;
    drop(client);
    conn.abort();
    if !ok {
        return Err(LakeError::Reconciliation(format!(
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
    if let Some(p) = &published {
        summary.add(
            "iceberg",
            DatasetCounts {
                rows_out: p.sales.count,
                ..Default::default()
            },
        );
    }
    Ok(summary.finish(started))
}

/// The date as the lake publishes it to other engines: the gold tables' current Iceberg snapshots.
struct Published {
    /// The sales of `gold.fact_sales` for the date, read from the snapshot's own files.
    sales: Tally,
    /// Where a snapshot disagrees with the manifests or holds files of more than one commit.
    problems: Vec<String>,
}

/// Each gold table's snapshot for the date against its manifest, and the snapshot's sales.
async fn published_tally(lake: &Lake, catalog: &Catalog, date: NaiveDate) -> Result<Published> {
    let mut problems = Vec::new();
    let mut sales = Tally::default();
    for t in crate::warehouse::TABLES {
        let id = t.contract.id;
        let listed = lake.manifest(&id.at(date)).await?.map(|m| m.rows);
        let snapshot = catalog
            .snapshot_date(lake, id.zone.as_str(), id.name, date)
            .await?;
        let Some(snapshot) = snapshot else {
            // iceberg_commit makes a table from its first rows: an empty dataset (a first day
            // without sales, carts or changes) has none yet, and that agrees with its manifest.
            if listed.is_some_and(|rows| rows > 0) {
                problems.push(format!(
                    "{}.{} is not an Iceberg table yet (iceberg_commit did not run)",
                    id.zone, id.name
                ));
            }
            continue;
        };
        if listed.unwrap_or(0) != snapshot.rows() {
            problems.push(format!(
                "{} holds {} rows for {date}, its manifest lists {} (iceberg_commit did not run since)",
                snapshot.table,
                snapshot.rows(),
                listed.unwrap_or(0)
            ));
        }
        if snapshot.added_by.len() > 1 {
            problems.push(format!(
                "{} holds files of {} commits for {date}",
                snapshot.table,
                snapshot.added_by.len()
            ));
        }
        if t.name == "fact_sales" {
            sales = snapshot_sales(lake, &snapshot).await?;
        }
    }
    Ok(Published { sales, problems })
}

/// Distinct transactions and the sum of their lines' totals, from the snapshot's files (only the
/// two columns are decoded).
async fn snapshot_sales(lake: &Lake, snapshot: &crate::iceberg::SnapshotDate) -> Result<Tally> {
    use arrow_array::cast::AsArray;
    use arrow_array::Array;
    use arrow_schema::DataType;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::ProjectionMask;

    let mut transactions = std::collections::HashSet::new();
    let mut sum = Decimal::ZERO;
    for (key, _) in &snapshot.files {
        let bytes = lake.get_bytes(key).await?.ok_or_else(|| {
            LakeError::Iceberg {
                table: snapshot.table.clone(),
                message: format!("data file {key} is missing from the lake"),
            }
        })?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))?;
        let mask = ProjectionMask::columns(builder.parquet_schema(), ["transaction_id", "total_price"]);
        for batch in builder.with_projection(mask).build()? {
            let batch = batch?;
            let ids = batch.column_by_name("transaction_id");
            match ids.map(|c| c.data_type()) {
                Some(DataType::Utf8) => transactions.extend(
                    ids.into_iter()
                        .flat_map(|c| c.as_string::<i32>().iter().flatten().map(str::to_string)),
                ),
                Some(DataType::LargeUtf8) => transactions.extend(
                    ids.into_iter()
                        .flat_map(|c| c.as_string::<i64>().iter().flatten().map(str::to_string)),
                ),
                _ => {
                    return Err(LakeError::Schema(format!(
                        "{}: transaction_id is not a string column",
                        snapshot.table
                    )))
                }
            }
            let totals = crate::rows::Columns::new(&batch).money("total_price")?;
            let scale = match totals.data_type() {
                DataType::Decimal128(_, scale) => *scale as u32,
                _ => 0,
            };
            for v in totals.iter().flatten() {
                sum += Decimal::from_i128_with_scale(v, scale);
            }
        }
    }
    Ok(Tally {
        count: transactions.len() as u64,
        sum,
        unparseable: Vec::new(),
    })
}

/// Every transaction of the day in DynamoDB, by the same day-index Query as extract.
async fn dynamodb_tally(args: &LakeArgs, table: &str, date: NaiveDate) -> Result<Tally> {
    let ddb = dynamo::client(args).await;
    let mut rx = query_day(&ddb, table, DayKind::Transactions, date, None);
    let mut tally = Tally::default();
    while let Some(page) = rx.recv().await {
        for item in page? {
            let key = attribute_text(item.get("transaction_id")).unwrap_or_default();
            tally.add(&key, attribute_text(item.get("total_price")).as_deref());
        }
    }
    Ok(tally)
}

/// The transactions clean refused for the day, duplicates included, with their raw totals.
async fn quarantine_tally(lake: &Lake, date: NaiveDate) -> Result<Tally> {
    let mut tally = Tally::default();
    let q = c::quarantine_of(c::RAW_TRANSACTIONS.id);
    let layout = crate::rows::Layout::of(q);
    for batch in PartitionReader::open(lake, q, date)
        .await?
        .read_all()
        .await?
    {
        for row in batch_rows(&batch)? {
            let record: serde_json::Value = layout
                .get(&row, "record")
                .as_str()
                .and_then(|r| serde_json::from_str(r).ok())
                .unwrap_or_default();
            let key = layout.get(&row, "record_key").as_str().unwrap_or_default();
            tally.add(key, record.get("total_price").and_then(|v| v.as_str()));
        }
    }
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_amounts_are_kept_aside() {
        let mut t = Tally::default();
        t.add("a", Some("0.10"));
        t.add("b", Some("0.20"));
        t.add("c", Some("oops"));
        t.add("d", None);
        assert_eq!(t.count, 4);
        assert_eq!(t.sum, Decimal::new(30, 2));
        assert_eq!(
            t.unparseable,
            vec![
                ("c".to_string(), Some("oops".to_string())),
                ("d".to_string(), None)
            ]
        );
    }
}
