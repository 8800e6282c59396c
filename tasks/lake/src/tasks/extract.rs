//! `extract --date D`: PostgreSQL (binary COPY) and DynamoDB (Query on the day index, every shard
//! in parallel) into `raw/`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveTime, SecondsFormat, TimeZone, Utc};
use futures::{pin_mut, StreamExt};
use mercado_core::keys::{self, DayKind};

use crate::cli::LakeArgs;
use crate::dynamo;
use crate::contracts::{self as c, Contract};
use crate::error::{LakeError, Result};
use crate::lake::Lake;
use crate::manifest::{Manifest, Snapshot};
use crate::parquet_io::PartitionWriter;
use crate::pg_copy::{CopyDecoder, PgCol};
use crate::rows::Cell;
use crate::summary::{DatasetCounts, Summary};

pub const TASK: &str = "extract";

#[derive(Debug, Clone, clap::Args)]
pub struct ExtractArgs {
    #[command(flatten)]
    pub lake: LakeArgs,

    /// PostgreSQL holding customers, vendors, categories and inventory.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,

    /// DynamoDB table holding carts and transactions.
    #[arg(long = "table", env = "MERCADO_DDB_TABLE", default_value = "mercado")]
    pub table: String,

    /// Items per DynamoDB Query page (default: DynamoDB's own 1 MB pages).
    #[arg(long, env = "MERCADO_DDB_PAGE_SIZE")]
    pub ddb_page_size: Option<i32>,

    /// Connections reading a large PostgreSQL table at once, each a range of ids, all in one
    /// snapshot (as `pg_dump --jobs` does). Tables under 100,000 ids use one.
    #[arg(long, env = "MERCADO_PG_READERS", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub pg_readers: u16,

    /// Read the sources again for a date whose snapshot was kept. A date that has closed is read
    /// once, by its first extract after its end, and that snapshot is reused by every later run
    /// (re-runs and backfills give the same history); this replaces it, and the audit row says so.
    #[arg(long, env = "MERCADO_EXTRACT_REFRESH", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub refresh: bool,

    /// A closed date's first snapshot taken more than this many minutes after the date's end is
    /// marked late in its manifests (a first backfill: entities as created by the date's end, with
    /// their attributes of the time of the snapshot).
    #[arg(long, env = "MERCADO_SNAPSHOT_LATE_AFTER_MINUTES", default_value_t = 360)]
    pub late_after_minutes: u32,
}

/// This task's flags.
pub type Args = ExtractArgs;

impl crate::entry::TaskArgs for ExtractArgs {
    fn lake(&self) -> &LakeArgs {
        &self.lake
    }
    fn lake_mut(&mut self) -> &mut LakeArgs {
        &mut self.lake
    }
}

/// A PostgreSQL table and the raw contract it is extracted into: the columns, their order and
/// types are the contract's, read by name.
struct PgTable {
    contract: Contract,
    table: &'static str,
    /// When a row came to exist: rows created after the date's end are not part of its snapshot.
    /// `None` for reference data seeded by the migrations (categories).
    created: Option<&'static str>,
}

impl PgTable {
    fn columns(&self) -> Result<Vec<(String, PgCol)>> {
        self.contract
            .schema()
            .fields()
            .iter()
            .map(|f| Ok((f.name().clone(), PgCol::of(f)?)))
            .collect()
    }
}

const PG_TABLES: &[PgTable] = &[
    PgTable {
        contract: c::RAW_CATEGORIES,
        table: "categories",
        created: None,
    },
    PgTable {
        contract: c::RAW_CUSTOMERS,
        table: "customers",
        created: Some("joined_at"),
    },
    PgTable {
        contract: c::RAW_VENDORS,
        table: "vendors",
        created: Some("joined_at"),
    },
    PgTable {
        contract: c::RAW_INVENTORY,
        table: "inventory",
        created: Some("created_at"),
    },
];

/// The DynamoDB datasets, each a kind of item on the day index.
const DAY_DATASETS: [(Contract, DayKind); 2] = [
    (c::RAW_TRANSACTIONS, DayKind::Transactions),
    (c::RAW_CARTS, DayKind::Carts),
];

/// Every dataset one extract publishes, all read at one moment.
fn raw_contracts() -> impl Iterator<Item = Contract> {
    PG_TABLES
        .iter()
        .map(|t| t.contract)
        .chain(DAY_DATASETS.iter().map(|(c, _)| *c))
}

/// The snapshot a run taking the sources now would record for `date`.
fn snapshot_now(date: chrono::NaiveDate, late_after_minutes: u32) -> (Snapshot, DateTime<Utc>) {
    let taken_at = Utc::now();
    let closes_at = Utc.from_utc_datetime(&(date + chrono::Days::new(1)).and_time(NaiveTime::MIN));
    let closed = taken_at >= closes_at;
    let late = taken_at - closes_at > chrono::Duration::minutes(i64::from(late_after_minutes));
    let text = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    (
        Snapshot {
            taken_at: text(taken_at),
            closes_at: text(closes_at),
            closed,
            late,
        },
        closes_at,
    )
}

/// The kept snapshot of `date`: every raw dataset published from a snapshot taken after the
/// date closed. `None` when any is missing or was taken while the date was open (it is taken
/// again).
async fn kept_snapshot(lake: &Lake, date: chrono::NaiveDate) -> Result<Option<Vec<(Contract, Manifest)>>> {
    let mut kept = Vec::new();
    for contract in raw_contracts() {
        match lake.manifest(&contract.id.at(date)).await? {
            Some(m) if m.snapshot.as_ref().is_some_and(|s| s.closed) => kept.push((contract, m)),
            _ => return Ok(None),
        }
    }
    Ok(Some(kept))
}

pub async fn run(args: &ExtractArgs) -> Result<Summary> {
    let started = std::time::Instant::now();
    let lake = Lake::connect(&args.lake).await?;
    let run_id = args.lake.run_id();
    let date = args.lake.date;
    let mut summary = Summary::new(TASK, date, &run_id);
    tracing::info!(%date, run_id, bucket = lake.bucket(), "extract starting");

    let kept = kept_snapshot(&lake, date).await?;
    let kept_at = kept
        .as_ref()
        .and_then(|k| k.first())
        .and_then(|(_, m)| m.snapshot.as_ref())
        .map(|s| s.taken_at.clone());
    if let (Some(kept), false) = (&kept, args.refresh) {
        for (contract, m) in kept {
            summary.add(
                contract.id.to_string(),
                DatasetCounts {
                    rows_in: m.counts.get("rows_in").copied().unwrap_or(m.rows),
                    rows_out: m.rows,
                    rows_written: m.rows,
                    bytes: m.files.iter().map(|f| f.bytes).sum(),
                    ..Default::default()
                },
            );
        }
        let taken = kept_at.unwrap_or_default();
        tracing::info!(%date, taken_at = %taken, "the date has closed and its snapshot is kept: reused (--refresh reads the sources again)");
        summary.figures.insert("snapshot".into(), "kept".into());
        summary.figures.insert("snapshot_taken_at".into(), taken.clone());
        summary.note = Some(format!("snapshot kept (taken at {taken}): reused"));
        return Ok(summary.finish(started));
    }
    let (snapshot, closes_at) = snapshot_now(date, args.late_after_minutes);
    let how = match (&kept_at, snapshot.closed, snapshot.late) {
        (Some(_), _, _) => "refreshed",
        (None, false, _) => "open",
        (None, true, true) => "taken late",
        (None, true, false) => "taken",
    };
    summary.figures.insert("snapshot".into(), how.into());
    summary.figures.insert("snapshot_taken_at".into(), snapshot.taken_at.clone());
    summary.note = Some(match &kept_at {
        Some(before) => format!(
            "snapshot refreshed (--refresh): taken at {}, replacing the one taken at {before}",
            snapshot.taken_at
        ),
        None if !snapshot.closed => format!(
            "snapshot taken at {} while the date is open: taken again by the next run",
            snapshot.taken_at
        ),
        None => format!(
            "snapshot taken at {}{}: kept for later runs",
            snapshot.taken_at,
            if snapshot.late { ", late (entities created by the date's end)" } else { "" }
        ),
    });
    tracing::info!(%date, taken_at = %snapshot.taken_at, how, "reading the sources");

    let (client, conn) =
        crate::warehouse::connect(
            "DATABASE_URL",
            &args.database_url,
            false,
            "source",
            &args.lake.waits,
        )
        .await?;
    // Every row, every run: `clean` checks the day's facts against whole dimensions. (An
    // incremental mode that read rows changed since the last watermark was removed: `clean`
    // then refused orders of unchanged customers as unknown.) Every table is read in one
    // snapshot, which the other readers of a large table share.
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    let pg_snapshot: String = client
        .query_one("SELECT pg_export_snapshot()", &[])
        .await?
        .try_get(0)?;
    let source = Source {
        lake: &lake,
        args,
        date,
        run_id: &run_id,
        snapshot: &snapshot,
        closes_at,
    };
    for table in PG_TABLES {
        let counts = extract_pg(&source, &client, &pg_snapshot, table).await?;
        summary.add(table.contract.id.to_string(), counts);
    }
    client.batch_execute("COMMIT").await?;
    drop(client);
    conn.abort();

    let ddb = dynamo::client(&args.lake).await;
    for (contract, kind) in DAY_DATASETS {
        let counts = extract_day(&source, &ddb, contract, kind).await?;
        summary.add(contract.id.to_string(), counts);
    }
    Ok(summary.finish(started))
}

/// What every dataset of one extract shares.
struct Source<'a> {
    lake: &'a Lake,
    args: &'a ExtractArgs,
    date: chrono::NaiveDate,
    run_id: &'a str,
    snapshot: &'a Snapshot,
    /// Rows created from here on are not the date's.
    closes_at: DateTime<Utc>,
}

/// Tables with fewer ids than this are read by one connection.
const PARALLEL_FROM_IDS: i64 = 100_000;

/// A batch of a table's rows and the latest `updated_at` among them.
type RangeBatch = (arrow_array::RecordBatch, Option<i64>);

/// One table through `COPY (SELECT …) TO STDOUT (FORMAT binary)`, streamed into Parquet. A large
/// table is read as `--pg-readers` ranges of ids at once, each on its own connection in the
/// snapshot `snapshot`, their batches meeting in the one writer.
async fn extract_pg(
    source: &Source<'_>,
    client: &tokio_postgres::Client,
    pg_snapshot: &str,
    table: &PgTable,
) -> Result<DatasetCounts> {
    let (lake, args, date, run_id) = (source.lake, source.args, source.date, source.run_id);
    let columns = table.columns()?;
    let select: Vec<String> = columns.iter().map(|(name, kind)| kind.select(name)).collect();
    let bounds = client
        .query_one(
            &format!("SELECT min(id)::int8, max(id)::int8 FROM {}", table.table),
            &[],
        )
        .await?;
    let (low, high): (Option<i64>, Option<i64>) = (bounds.try_get(0)?, bounds.try_get(1)?);
    let readers = match (low, high) {
        (Some(l), Some(h)) if h - l >= PARALLEL_FROM_IDS => i64::from(args.pg_readers),
        _ => 1,
    };
    let (low, high) = (low.unwrap_or(0), high.unwrap_or(0));
    let step = (high - low) / readers + 1;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<RangeBatch>>(4);
    let mut jobs = tokio::task::JoinSet::new();
    // Only what existed by the date's end (a timestamp we format: no input reaches the SQL).
    let existed = table.created.map(|column| {
        format!(
            "{column} < '{}'::timestamptz",
            source.closes_at.to_rfc3339_opts(SecondsFormat::Micros, true)
        )
    });
    for r in 0..readers {
        let mut conditions: Vec<String> = existed.iter().cloned().collect();
        if readers > 1 {
            let from = low + r * step;
            let to = if r == readers - 1 { high + 1 } else { from + step };
            conditions.push(format!("id >= {from} AND id < {to}"));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "COPY (SELECT {} FROM {}{filter} ORDER BY id) TO STDOUT (FORMAT binary)",
            select.join(", "),
            table.table
        );
        let range = CopyRange {
            database_url: args.database_url.clone(),
            snapshot: pg_snapshot.to_string(),
            sql,
            schema: table.contract.schema(),
            waits: args.lake.waits.clone(),
        };
        let tx = tx.clone();
        jobs.spawn(async move {
            if let Err(e) = range.read(&tx).await {
                let _ = tx.send(Err(e)).await;
            }
        });
    }
    drop(tx);

    let mut writer = PartitionWriter::new(lake, TASK, table.contract, date, run_id)?
        .with_snapshot(source.snapshot.clone());
    let mut watermark: Option<i64> = None;
    let mut n = 0u64;
    let mut logged = 0u64;
    while let Some(batch) = rx.recv().await {
        let (batch, latest) = batch?;
        watermark = watermark.max(latest);
        n += batch.num_rows() as u64;
        writer.write(&batch).await?;
        if n - logged >= 500_000 {
            logged = n;
            tracing::info!(table = table.table, rows = n, "extracting");
        }
    }
    while let Some(done) = jobs.join_next().await {
        done.map_err(|e| LakeError::Invariant(format!("a reader of {} failed to run: {e}", table.table)))?;
    }
    let watermark = watermark
        .and_then(DateTime::from_timestamp_micros)
        .map(|t| t.to_rfc3339());
    let counts = BTreeMap::from([("rows_in".to_string(), n)]);
    let manifest = writer.publish(watermark, counts).await?;
    Ok(DatasetCounts {
        rows_in: n,
        rows_out: manifest.rows,
        rows_written: manifest.rows,
        bytes: manifest.files.iter().map(|f| f.bytes).sum(),
        ..Default::default()
    })
}

/// One reader of a table: its own connection, in the extract's snapshot.
struct CopyRange {
    database_url: String,
    snapshot: String,
    sql: String,
    schema: arrow_schema::SchemaRef,
    waits: crate::cli::Waits,
}

impl CopyRange {
    async fn read(self, out: &tokio::sync::mpsc::Sender<Result<RangeBatch>>) -> Result<()> {
        let (client, conn) =
            crate::warehouse::connect(
                "DATABASE_URL",
                &self.database_url,
                false,
                "source",
                &self.waits,
            )
            .await?;
        client
            .batch_execute(&format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{}'",
                self.snapshot.replace('\'', "")
            ))
            .await?;
        let stream = client.copy_out(&self.sql).await?;
        pin_mut!(stream);
        let mut decoder = CopyDecoder::new(self.schema.clone())?;
        let mut batches = Vec::new();
        while let Some(chunk) = stream.next().await {
            decoder.feed(&chunk?, &mut batches)?;
            for batch in batches.drain(..) {
                if out.send(Ok((batch, decoder.take_watermark()))).await.is_err() {
                    return Ok(()); // the writer stopped; its error is reported there
                }
            }
        }
        if let Some(batch) = decoder.finish()? {
            let _ = out.send(Ok((batch, decoder.take_watermark()))).await;
        }
        client.batch_execute("COMMIT").await?;
        drop(client);
        conn.abort();
        Ok(())
    }
}

/// One day of one kind of item: a paginated Query per shard of the `by_day` index, all shards
/// at once, pages handed to the single Parquet writer through a bounded channel.
async fn extract_day(
    source: &Source<'_>,
    ddb: &aws_sdk_dynamodb::Client,
    contract: Contract,
    kind: DayKind,
) -> Result<DatasetCounts> {
    let (lake, args, date, run_id) = (source.lake, source.args, source.date, source.run_id);
    let mut rx = dynamo::query_day(ddb, &args.table, kind, date, args.ddb_page_size);

    let schema = contract.schema();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let watermark_attr = names
        .iter()
        .position(|n| n == "created_at" || n == "updated_at");
    let mut writer = PartitionWriter::new(lake, TASK, contract, date, run_id)?
        .with_snapshot(source.snapshot.clone());
    let mut watermark: Option<String> = None;
    let mut n = 0u64;
    while let Some(page) = rx.recv().await {
        for item in page? {
            let texts: Vec<Option<String>> = names
                .iter()
                .map(|name| dynamo::attribute_text(item.get(name)))
                .collect();
            if let Some(Some(t)) = watermark_attr.map(|i| &texts[i]) {
                if watermark.as_ref().is_none_or(|w| t > w) {
                    watermark = Some(t.clone());
                }
            }
            let cells: Vec<Cell<'_>> = texts
                .iter()
                .map(|t| t.as_deref().map_or(Cell::Null, Cell::Str))
                .collect();
            writer.push(&cells).await?;
            n += 1;
        }
    }
    tracing::info!(dataset = %contract.id, rows = n, shards = keys::DAY_SHARDS, "queried the day index");
    let manifest = writer
        .publish(watermark, BTreeMap::from([("rows_in".to_string(), n)]))
        .await?;
    Ok(DatasetCounts {
        rows_in: n,
        rows_out: manifest.rows,
        rows_written: manifest.rows,
        bytes: manifest.files.iter().map(|f| f.bytes).sum(),
        ..Default::default()
    })
}

