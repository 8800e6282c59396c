//! `load_redshift --date D --target redshift|postgres`: gold → warehouse, idempotently.
//!
//! Both targets run the same steps: data-quality rules on gold (a critical failure stops this
//! date's load and is recorded in `audit.dq_failures`); one staging table per dataset, filled from
//! exactly the files of the published manifests (Redshift: `COPY … FORMAT AS PARQUET MANIFEST`;
//! PostgreSQL: binary `COPY … FROM STDIN` streamed from the Parquet); then one transaction that
//! merges every dataset into `core` (see [`crate::warehouse::Merge`]) and writes the
//! `audit.pipeline_runs` row; then the staging tables are dropped. On PostgreSQL a dataset replaced
//! by date, or one whose core table is still empty (a first load), skips staging: its COPY goes
//! straight into `core` inside that transaction ([`LoadTable::loads_directly`]); into an empty
//! table, with its indexes built once after the COPY (`DeferredIndexes`). Rows are encoded
//! column by column into the binary COPY ([`crate::pg_copy_in`]).

use bytes::{Bytes, BytesMut};
use chrono::NaiveDate;
use futures::{pin_mut, SinkExt};
use tokio_postgres::Client;

use crate::cli::LakeArgs;
use crate::dq::{self, Failure, Severity};
use crate::error::{LakeError, Result};
use crate::lake::Lake;
use crate::parquet_io::PartitionReader;
use crate::pg_copy_in::{CopyEncoder, HEADER, TRAILER};
use crate::summary::{DatasetCounts, Summary};
use crate::warehouse::{self, LoadTable, Target, WarehouseArgs, GRANTS, MARTS, POSTGRES_DDL, TABLES};
use mercado_core::calendar::date_id;

pub const TASK: &str = "load_redshift";

#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub lake: LakeArgs,

    #[command(flatten)]
    pub warehouse: WarehouseArgs,

    /// IAM role Redshift assumes to read the lake (redshift target).
    #[arg(long, env = "MERCADO_REDSHIFT_IAM_ROLE")]
    pub iam_role: Option<String>,

    /// Apply sql/warehouse/postgres.sql, marts.sql and grants.sql before loading (postgres target).
    #[arg(long, env = "MERCADO_WAREHOUSE_DDL", default_value_t = true, action = clap::ArgAction::Set)]
    pub apply_ddl: bool,

    /// Print the Redshift SQL of the date to stdout (before the summary) instead of running it.
    #[arg(long)]
    pub print_sql: bool,
}

/// This task's flags.
pub type Args = LoadArgs;

impl crate::entry::TaskArgs for LoadArgs {
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

pub async fn run(args: &LoadArgs) -> Result<Summary> {
    let started = std::time::Instant::now();
    let lake = Lake::connect(&args.lake).await?;
    let run_id = args.lake.run_id();
    let date = args.lake.date;
    let mut summary = Summary::new(TASK, date, &run_id);
    tracing::info!(%date, run_id, target = ?args.warehouse.target, "load_redshift starting");

    let mut manifests = Vec::new();
    for t in TABLES {
        manifests.push(lake.require_manifest(&t.contract.id.at(date)).await?);
    }
    let bucket = lake.bucket().to_string();
    if args.warehouse.target == Target::Redshift {
        let role = args.iam_role.as_deref().ok_or_else(|| {
            LakeError::Config(
                "--iam-role (MERCADO_REDSHIFT_IAM_ROLE) is required for --target redshift".into(),
            )
        })?;
        for (t, m) in TABLES.iter().zip(&manifests) {
            let body = serde_json::to_vec_pretty(&warehouse::redshift_manifest(&bucket, m))
                .map_err(|e| LakeError::Manifest {
                    key: warehouse::redshift_manifest_key(t.contract, date),
                    message: e.to_string(),
                })?;
            lake.put_bytes(
                &warehouse::redshift_manifest_key(t.contract, date),
                body,
                "application/json",
            )
            .await?;
        }
        if args.print_sql {
            for statement in warehouse::redshift_script(date, &bucket, role, &run_id) {
                println!("{statement};");
            }
            return Ok(summary.finish(started));
        }
    }
    let (client, conn) = args.warehouse.connect(&args.lake.waits).await?;
    warehouse::lock_writers(&client, args.warehouse.target, &args.lake.waits).await?;
    let loaded = async {
        if args.warehouse.target == Target::Postgres && args.apply_ddl {
            client.batch_execute(POSTGRES_DDL).await?;
            client.batch_execute(MARTS).await?;
            client.batch_execute(GRANTS).await?;
        }

        // Data quality first: nothing is staged for a date that fails a critical rule.
        let fact_rows = manifests[TABLES
            .iter()
            .position(|t| t.name == "fact_sales")
            .unwrap_or(0)]
        .rows;
        let mut failures = dq::check_gold(&lake, date).await?;
        failures.extend(dq::volume(fact_rows, recent_mean(&client, date).await?));
        record_failures(&client, date, &run_id, &failures).await?;
        let critical: Vec<&Failure> = failures
            .iter()
            .filter(|f| f.severity == Severity::Critical)
            .collect();
        if !critical.is_empty() {
            let detail = critical
                .iter()
                .map(|f| format!("{}: {}", f.check, f.detail))
                .collect::<Vec<_>>()
                .join("; ");
            crate::audit::record(
                &client,
                &crate::audit::RunRecord {
                    task: TASK,
                    date,
                    run_id: &run_id,
                    rows: 0,
                    status: "failed",
                    started,
                    detail: Some(&detail),
                },
            )
            .await?;
            return Err(LakeError::Quality(format!(
                "data-quality check failed for {date}, nothing loaded: {detail}"
            )));
        }

        match args.warehouse.target {
            Target::Postgres => {
                load_postgres(&client, &lake, date, &manifests, &run_id, started, fact_rows, &mut summary)
                    .await?
            }
            Target::Redshift => {
                let role = args.iam_role.as_deref().unwrap_or_default();
                for statement in warehouse::redshift_script(date, &bucket, role, &run_id) {
                    client.batch_execute(&statement).await?;
                    // After each COPY, before the merge: staging holds every row the manifest lists.
                    let copied = TABLES.iter().zip(&manifests).find(|(t, _)| {
                        statement == t.redshift_copy(date, &bucket, role)
                    });
                    if let Some((t, m)) = copied {
                        let staged: i64 = client
                            .query_one(&format!("SELECT COUNT(*) FROM {}", t.staging(date)), &[])
                            .await?
                            .try_get(0)?;
                        staged_as_listed(u64::try_from(staged).unwrap_or_default(), m)?;
                    }
                }
                for (t, m) in TABLES.iter().zip(&manifests) {
                    summary.add(
                        format!("core.{}", t.name),
                        DatasetCounts {
                            rows_in: m.rows,
                            rows_out: m.rows,
                            rows_written: m.rows,
                            ..Default::default()
                        },
                    );
                }
            }
        }
        Ok(fact_rows)
    }
    .await;
    // Released here, not only when the connection closes: a caller in the same process (the
    // library in tests, or a long-lived host) may keep the connection alive a while longer.
    warehouse::unlock_writers(&client, args.warehouse.target).await;
    drop(client);
    conn.abort();
    let fact_rows = loaded?;
    tracing::info!(%date, fact_rows, "loaded");
    Ok(summary.finish(started))
}

/// PostgreSQL: stages the tables that need a merge, then in one transaction merges them, copies the
/// others straight into `core` (see [`LoadTable::loads_directly`]) and writes the audit row;
/// rolled back whole on any error. Adds each table's counts and own time to `summary`.
#[allow(clippy::too_many_arguments)]
async fn load_postgres(
    client: &Client,
    lake: &Lake,
    date: NaiveDate,
    manifests: &[crate::manifest::Manifest],
    run_id: &str,
    started: std::time::Instant,
    fact_rows: u64,
    summary: &mut Summary,
) -> Result<()> {
    // Which tables take the date straight into core, in the transaction (see
    // LoadTable::loads_directly); the writer lock keeps any other load from filling an
    // empty one meanwhile. The others are staged first, outside it.
    let mut direct = Vec::with_capacity(TABLES.len());
    let mut empty = Vec::with_capacity(TABLES.len());
    for t in TABLES {
        let is_empty: bool = client
            .query_one(
                &format!("SELECT NOT EXISTS (SELECT 1 FROM {})", t.core()),
                &[],
            )
            .await?
            .try_get(0)?;
        direct.push(t.loads_directly(is_empty));
        empty.push(is_empty);
    }
    let mut loaded = vec![0u64; TABLES.len()];
    // Each table's own time: staging and merge, or its direct COPY.
    let mut took = vec![std::time::Duration::ZERO; TABLES.len()];
    for (i, (t, m)) in TABLES.iter().zip(manifests).enumerate() {
        if direct[i] {
            continue;
        }
        let mark = std::time::Instant::now();
        client
            .batch_execute(&t.create_staging(date, Target::Postgres).join(";\n"))
            .await?;
        let reader = PartitionReader::from_manifest(lake, t.contract, m.clone())?;
        loaded[i] = copy_in(client, &t.staging(date), t, reader).await?;
        staged_as_listed(loaded[i], m)?;
        // The merge's plans need the staged sizes (a fresh table looks empty).
        client
            .batch_execute(&format!("ANALYZE {}", t.staging(date)))
            .await?;
        took[i] = mark.elapsed();
    }
    client.batch_execute("BEGIN").await?;
    let merged = async {
        // The index builds after a first load's COPY sort in memory (this transaction only).
        client
            .batch_execute(&format!("SET LOCAL maintenance_work_mem = '{INDEX_BUILD_MEMORY}'"))
            .await?;
        for (i, (t, m)) in TABLES.iter().zip(manifests).enumerate() {
            let mark = std::time::Instant::now();
            if !direct[i] {
                client.batch_execute(&t.merge(date).join(";\n")).await?;
                took[i] += mark.elapsed();
                continue;
            }
            if let Some(clear) = t.clear_for_direct_load(date) {
                client.batch_execute(&clear).await?;
            }
            let deferred = if empty[i] {
                DeferredIndexes::drop(client, &t.core()).await?
            } else {
                DeferredIndexes::default()
            };
            let reader = PartitionReader::from_manifest(lake, t.contract, m.clone())?;
            loaded[i] = copy_in(client, &t.core(), t, reader).await?;
            staged_as_listed(loaded[i], m)?;
            deferred.rebuild(client).await?;
            // PostgreSQL's advice after a bulk load: fresh statistics, so the marts and reconcile
            // that run next plan with the date's rows (without them a first load's fact table has
            // none, and a view joining it was seen to pick a nested loop running for minutes). It
            // samples a bounded number of rows, whatever the table's history.
            client.batch_execute(&format!("ANALYZE {}", t.core())).await?;
            took[i] = mark.elapsed();
        }
        let seconds = format!("{:.3}", started.elapsed().as_secs_f64());
        client
            .batch_execute(&format!(
                "{};\nCOMMIT",
                crate::audit::record_sql(
                    TASK,
                    date,
                    run_id,
                    &fact_rows.to_string(),
                    &seconds,
                )
            ))
            .await?;
        Ok::<_, LakeError>(())
    }
    .await;
    if merged.is_err() {
        // Nothing of the date is kept; the connection ends right after in any case.
        if let Err(e) = client.batch_execute("ROLLBACK").await {
            tracing::warn!(error = %e, "could not roll the load back (the session ends)");
        }
    }
    merged?;
    for (i, (t, m)) in TABLES.iter().zip(manifests).enumerate() {
        if !direct[i] {
            client.batch_execute(&t.drop_staging(date)).await?;
        }
        summary.add_timed(
            format!("core.{}", t.name),
            DatasetCounts {
                rows_in: m.rows,
                rows_out: loaded[i],
                rows_written: loaded[i],
                ..Default::default()
            },
            took[i],
        );
    }
    Ok(())
}

/// `maintenance_work_mem` for a first load's index builds: the largest (dim_inventory's key over
/// a million versions) then sorts in memory instead of on disk.
const INDEX_BUILD_MEMORY: &str = "256MB";

/// The indexes of an empty core table, dropped before a first load's COPY and built once after
/// it: PostgreSQL's advice for bulk loads ("Populating a Database": remove indexes, add them
/// after), instead of keeping every index up row by row. Both happen in the load's transaction,
/// so a failed load rolls back to the table as it was, indexes and all; the definitions are read
/// from the catalog, so `sql/warehouse/postgres.sql` stays their one source. Only an empty table
/// qualifies: rebuilding a table's indexes on a later load would cost its whole history.
#[derive(Debug, Default)]
struct DeferredIndexes {
    create: Vec<String>,
}

impl DeferredIndexes {
    async fn drop(client: &Client, table: &str) -> Result<DeferredIndexes> {
        // A key or unique constraint goes with its constraint (so it comes back as one); any
        // other index by itself.
        let rows = client
            .query(
                "SELECT quote_ident(c.conname), pg_get_constraintdef(c.oid), \
                        i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) \
                 FROM pg_index i LEFT JOIN pg_constraint c \
                   ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u') \
                 WHERE i.indrelid = to_regclass($1) \
                 ORDER BY i.indisprimary DESC, 3",
                &[&table],
            )
            .await?;
        let mut drop = Vec::with_capacity(rows.len());
        let mut create = Vec::with_capacity(rows.len());
        for row in rows {
            let constraint: Option<String> = row.try_get(0)?;
            let constraint_def: Option<String> = row.try_get(1)?;
            let index: String = row.try_get(2)?;
            let index_def: String = row.try_get(3)?;
            match (constraint, constraint_def) {
                (Some(name), Some(def)) => {
                    drop.push(format!("ALTER TABLE {table} DROP CONSTRAINT {name}"));
                    create.push(format!("ALTER TABLE {table} ADD CONSTRAINT {name} {def}"));
                }
                _ => {
                    drop.push(format!("DROP INDEX {index}"));
                    create.push(index_def);
                }
            }
        }
        if !drop.is_empty() {
            client.batch_execute(&drop.join(";\n")).await?;
        }
        Ok(DeferredIndexes { create })
    }

    async fn rebuild(self, client: &Client) -> Result<()> {
        if !self.create.is_empty() {
            client.batch_execute(&self.create.join(";\n")).await?;
        }
        Ok(())
    }
}

/// Mean fact rows a day over the last 7 loaded dates before `date`.
async fn recent_mean(client: &Client, date: NaiveDate) -> Result<Option<f64>> {
    let row = client
        .query_one(
            "SELECT AVG(n)::float8 FROM (SELECT date_id, COUNT(*) AS n FROM core.fact_sales WHERE date_id < $1 \
             GROUP BY date_id ORDER BY date_id DESC LIMIT 7) recent",
            &[&date_id(date)],
        )
        .await?;
    Ok(row.get(0))
}

async fn record_failures(
    client: &Client,
    date: NaiveDate,
    run_id: &str,
    failures: &[Failure],
) -> Result<()> {
    for f in failures {
        tracing::warn!(check = f.check, severity = f.severity.as_str(), detail = %f.detail, "data-quality check failed");
        client
            .execute(
                "INSERT INTO audit.dq_failures (date, check_name, severity, detail, run_id) VALUES ($1, $2, $3, $4, $5)",
                &[&date, &f.check, &f.severity.as_str(), &f.detail, &run_id],
            )
            .await?;
    }
    Ok(())
}

/// Streams a gold partition into `into` (the table's staging table, or its core table on a
/// direct load) by binary COPY, each batch encoded column by column ([`CopyEncoder`]).
async fn copy_in(
    client: &Client,
    into: &str,
    t: &LoadTable,
    mut reader: PartitionReader,
) -> Result<u64> {
    // Sent in pieces of about this size: big enough to keep the server busy, small enough to
    // keep the task's memory flat.
    const SEND_BYTES: usize = 1 << 20;
    let cols = t.columns();
    let probe = client
        .prepare(&format!("SELECT {} FROM {into}", cols.join(", ")))
        .await?;
    let typed = probe
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), c.type_().clone()))
        .collect();
    let mut encoder = CopyEncoder::new(into, typed);
    let sink = client
        .copy_in::<_, Bytes>(&format!(
            "COPY {into} ({}) FROM STDIN (FORMAT binary)",
            cols.join(", ")
        ))
        .await?;
    pin_mut!(sink);
    let mut buf = BytesMut::with_capacity(2 * SEND_BYTES);
    buf.extend_from_slice(HEADER);
    let mut n = 0u64;
    while let Some(file) = reader.next_file().await? {
        for batch in file {
            n += encoder.encode(&batch?, &mut buf)?;
            if buf.len() >= SEND_BYTES {
                sink.send(buf.split().freeze()).await?;
            }
        }
    }
    buf.extend_from_slice(TRAILER);
    sink.send(buf.split().freeze()).await?;
    // PostgreSQL's own count of the rows it took.
    let staged = sink.finish().await?;
    if staged != n {
        return Err(LakeError::Invariant(format!(
            "{into}: PostgreSQL took {staged} rows of the {n} sent; nothing loaded"
        )));
    }
    Ok(staged)
}

/// A staging table must hold exactly the rows its gold manifest lists; otherwise nothing is merged.
fn staged_as_listed(rows: u64, m: &crate::manifest::Manifest) -> Result<()> {
    if rows == m.rows {
        return Ok(());
    }
    Err(LakeError::Invariant(format!(
        "staged {rows} rows of {}/dt={} but its manifest lists {}; nothing loaded",
        m.dataset, m.date, m.rows
    )))
}
