//! The warehouse side of `load_redshift`: which gold dataset goes to which core table, and the SQL
//! that stages and merges one date. The same statements serve PostgreSQL (staging filled by binary
//! COPY FROM STDIN) and Redshift (staging filled by COPY … FORMAT AS PARQUET from a manifest).

use chrono::NaiveDate;
use tokio_postgres::Client;

use crate::cli::Waits;
use crate::contracts::{self as c, Contract};
use crate::error::{LakeError, Result};
use mercado_core::calendar::date_id;

/// The warehouse DDL for PostgreSQL and the marts, applied before each local load.
pub const POSTGRES_DDL: &str = include_str!("../../../sql/warehouse/postgres.sql");
pub const MARTS: &str = include_str!("../../../sql/warehouse/marts.sql");
pub const GRANTS: &str = include_str!("../../../sql/warehouse/grants.sql");

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// PostgreSQL as the warehouse (local and CI).
    Postgres,
    /// Amazon Redshift (TLS; reads the lake with an IAM role).
    Redshift,
}

/// Where the warehouse is; shared by every task that talks to it.
#[derive(Debug, Clone, clap::Args)]
pub struct WarehouseArgs {
    /// Which warehouse: postgres (local and CI) or redshift.
    #[arg(long, env = "MERCADO_WAREHOUSE_TARGET", value_enum, default_value_t = Target::Postgres)]
    pub target: Target,

    /// Warehouse connection URL (Redshift speaks the PostgreSQL protocol; TLS there).
    #[arg(long, env = "WAREHOUSE_URL")]
    pub warehouse_url: Option<String>,
}

impl WarehouseArgs {
    /// These flags, when they name a warehouse (for the audit row of tasks that have them).
    pub fn configured(&self) -> Option<WarehouseArgs> {
        self.warehouse_url.is_some().then(|| self.clone())
    }

    /// The warehouse named by the environment (`WAREHOUSE_URL`, `MERCADO_WAREHOUSE_TARGET`), if any.
    pub fn from_env() -> Option<WarehouseArgs> {
        let url = std::env::var("WAREHOUSE_URL")
            .ok()
            .filter(|u| !u.is_empty())?;
        let target = match std::env::var("MERCADO_WAREHOUSE_TARGET").as_deref() {
            Ok("redshift") => Target::Redshift,
            _ => Target::Postgres,
        };
        Some(WarehouseArgs {
            target,
            warehouse_url: Some(url),
        })
    }

    /// A connection to the warehouse, its waits bounded by `waits`; the task drives the
    /// connection until the client drops.
    pub async fn connect(&self, waits: &Waits) -> Result<(Client, tokio::task::JoinHandle<()>)> {
        let url = self.warehouse_url.as_deref().ok_or_else(|| {
            LakeError::Config("--warehouse-url (WAREHOUSE_URL) is required".into())
        })?;
        // Redshift accepts TLS only; PostgreSQL as its URL says (mercado_core::postgres).
        let (client, driver) = connect(
            "WAREHOUSE_URL",
            url,
            self.target == Target::Redshift,
            "warehouse",
            waits,
        )
        .await?;
        Ok((client, driver))
    }
}

/// Key of the PostgreSQL advisory lock that serialises the warehouse's writers (`load_redshift`'s
/// DDL and merges, `marts`' views): "mercado" in ASCII.
pub const WRITER_LOCK: i64 = 0x006d_6572_6361_646f;

/// Waits for the warehouse's writer lock and holds it for the rest of the session (PostgreSQL
/// releases it when the connection ends, also when the process is killed). Loads of different
/// dates, from Airflow or started by hand, then apply DDL and merge one at a time instead of
/// failing with `tuple concurrently updated` or interleaving their SCD2 re-chaining. On Redshift,
/// which has no advisory locks, the load's transaction takes `LOCK` on its tables instead
/// ([`redshift_script`]).
pub async fn lock_writers(client: &Client, target: Target, waits: &Waits) -> Result<()> {
    if target == Target::Postgres {
        tracing::info!("waiting for the warehouse writer lock");
        let locked = client
            .execute("SELECT pg_advisory_lock($1)", &[&WRITER_LOCK])
            .await;
        if let Err(e) = locked {
            if e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE) {
                return Err(LakeError::Timeout(format!(
                    "the warehouse writer lock is held by another session (another load or marts \
                     run, or a stuck one: see pg_locks for advisory lock {WRITER_LOCK}); gave up after \
                     {} s (--pg-lock-timeout-seconds)",
                    waits.pg_lock_timeout_seconds
                )));
            }
            return Err(e.into());
        }
    }
    Ok(())
}

/// Releases what [`lock_writers`] took (failures are logged: the lock also ends with the session).
pub async fn unlock_writers(client: &Client, target: Target) {
    if target == Target::Postgres {
        if let Err(e) = client
            .execute("SELECT pg_advisory_unlock($1)", &[&WRITER_LOCK])
            .await
        {
            tracing::warn!(error = %e, "could not release the warehouse writer lock");
        }
    }
}

/// Runs a connection until the client is dropped.
/// A connection to PostgreSQL at `url` (named `setting` in errors), with TLS when the URL asks for
/// it, or always when `require_tls` (see `mercado_core::postgres`); the returned task drives the
/// connection until the client drops. `what` names it in the log when it ends with an error.
///
/// Every wait is bounded by `waits`: the connection attempt, and in the session each statement
/// (`statement_timeout`) and, on PostgreSQL, each lock wait (`lock_timeout`; Redshift has none).
pub async fn connect(
    setting: &str,
    url: &str,
    require_tls: bool,
    what: &'static str,
    waits: &Waits,
) -> Result<(Client, tokio::task::JoinHandle<()>)> {
    let mut pg = mercado_core::postgres::connect_config(setting, url, require_tls)
        .map_err(|e| LakeError::Config(e.to_string()))?;
    let connect_timeout = std::time::Duration::from_secs(waits.pg_connect_timeout_seconds);
    pg.config.connect_timeout(connect_timeout);
    // tokio-postgres bounds each address's attempt; the whole of it (DNS, several addresses,
    // TLS, login) is bounded here too.
    let (client, conn) = tokio::time::timeout(connect_timeout * 2, pg.config.connect(pg.tls))
        .await
        .map_err(|_| {
            LakeError::Timeout(format!(
                "{setting}: no connection within {} s (--pg-connect-timeout-seconds)",
                waits.pg_connect_timeout_seconds
            ))
        })??;
    let driver = tokio::spawn(drive(conn, what));
    let statement_ms = waits.pg_statement_timeout_seconds.saturating_mul(1000);
    let settings = if require_tls {
        // Redshift: statement_timeout only.
        format!("SET statement_timeout TO {statement_ms}")
    } else {
        format!(
            "SET statement_timeout = {statement_ms}; SET lock_timeout = {}",
            waits.pg_lock_timeout_seconds.saturating_mul(1000)
        )
    };
    client.batch_execute(&settings).await?;
    Ok((client, driver))
}

async fn drive<F: std::future::Future<Output = Result<(), tokio_postgres::Error>>>(
    conn: F,
    what: &'static str,
) {
    if let Err(e) = conn.await {
        tracing::warn!(error = %e, "{what} connection ended");
    }
}

/// How a core table takes a date's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// Replace the date's rows: delete them, insert the staged ones.
    ByDate,
    /// Type 1 dimension keyed by this column: staged rows overwrite, unless a later date is
    /// already loaded, in which case only missing keys are added (out-of-order loads keep the
    /// newest attributes).
    Type1(&'static str),
    /// Type 2 dimension keyed by this column: the staged rows are the versions the date opens
    /// (gold writes only what changed that day). They replace the date's versions (one the
    /// date no longer opens, after gold re-ran on fixed sources, goes; the others take the staged
    /// attributes or are added), then every version of the touched keys is re-chained:
    /// `valid_to` = the next version's `valid_from`, current = no next version. That closes the
    /// version each new one replaces. Monotonic, so loads in any order converge.
    Scd2(&'static str),
}

pub struct LoadTable {
    pub contract: Contract,
    /// `core.<name>`, the same name as the gold dataset.
    pub name: &'static str,
    pub merge: Merge,
}

/// In load order: dimensions before facts.
pub const TABLES: &[LoadTable] = &[
    LoadTable {
        contract: c::GOLD_DIM_DATE,
        name: "dim_date",
        merge: Merge::ByDate,
    },
    LoadTable {
        contract: c::GOLD_DIM_CATEGORY,
        name: "dim_category",
        merge: Merge::Type1("category_id"),
    },
    LoadTable {
        contract: c::GOLD_DIM_VENDOR,
        name: "dim_vendor",
        merge: Merge::Type1("vendor_id"),
    },
    LoadTable {
        contract: c::GOLD_DIM_CUSTOMER,
        name: "dim_customer",
        merge: Merge::Scd2("customer_id"),
    },
    LoadTable {
        contract: c::GOLD_DIM_INVENTORY,
        name: "dim_inventory",
        merge: Merge::Scd2("item_id"),
    },
    LoadTable {
        contract: c::GOLD_FACT_SALES,
        name: "fact_sales",
        merge: Merge::ByDate,
    },
    LoadTable {
        contract: c::GOLD_FACT_CART_SNAPSHOT,
        name: "fact_cart_snapshot",
        merge: Merge::ByDate,
    },
];

impl LoadTable {
    pub fn core(&self) -> String {
        format!("core.{}", self.name)
    }

    /// One staging table per table and date, so loads of different dates don't collide.
    pub fn staging(&self, date: NaiveDate) -> String {
        format!("staging.{}_{}", self.name, date_id(date))
    }

    pub fn columns(&self) -> Vec<String> {
        self.contract
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// The date's staging table, empty. In PostgreSQL it is `UNLOGGED`: staging lives for one load
    /// and is rebuilt by any re-run, so its rows need no write-ahead log (half the WAL of a load,
    /// whose merge into `core` is logged); Redshift has no such kind of table.
    pub fn create_staging(&self, date: NaiveDate, target: Target) -> [String; 2] {
        let s = self.staging(date);
        let kind = match target {
            Target::Postgres => "UNLOGGED TABLE",
            Target::Redshift => "TABLE",
        };
        [
            format!("DROP TABLE IF EXISTS {s}"),
            format!("CREATE {kind} {s} (LIKE {})", self.core()),
        ]
    }

    pub fn drop_staging(&self, date: NaiveDate) -> String {
        format!("DROP TABLE IF EXISTS {}", self.staging(date))
    }

    /// Redshift: fill staging from exactly the files of the published manifest.
    pub fn redshift_copy(&self, date: NaiveDate, bucket: &str, iam_role: &str) -> String {
        format!(
            "COPY {} FROM 's3://{bucket}/{}' IAM_ROLE '{}' FORMAT AS PARQUET MANIFEST",
            self.staging(date),
            redshift_manifest_key(self.contract, date),
            iam_role.replace('\'', "''")
        )
    }

    /// PostgreSQL: whether the date's rows can go straight into `core` by COPY inside the load's
    /// transaction, with no staging table and no merge: a table replaced by date (its date's rows
    /// deleted first), or one that holds no row yet (`core_is_empty`: a first load, where every merge
    /// would insert the staged rows as they are, gold having opened one version per key). Staging
    /// and merging write every row twice and keep core's indexes up row by row a second time: on a
    /// first load that was most of the task's time.
    pub fn loads_directly(&self, core_is_empty: bool) -> bool {
        self.merge == Merge::ByDate || core_is_empty
    }

    /// What a direct load runs in the transaction before its COPY (see [`Self::loads_directly`]).
    pub fn clear_for_direct_load(&self, date: NaiveDate) -> Option<String> {
        (self.merge == Merge::ByDate).then(|| {
            format!(
                "DELETE FROM {} WHERE date_id = {}",
                self.core(),
                date_id(date)
            )
        })
    }

    /// The statements that move the staged date into core; run inside one transaction.
    pub fn merge(&self, date: NaiveDate) -> Vec<String> {
        let (core, stg) = (self.core(), self.staging(date));
        let cols = self.columns().join(", ");
        let day = date_id(date);
        match self.merge {
            Merge::ByDate => vec![
                format!("DELETE FROM {core} WHERE date_id = {day}"),
                format!("INSERT INTO {core} ({cols}) SELECT {cols} FROM {stg}"),
            ],
            Merge::Type1(key) => vec![
                format!(
                    "DELETE FROM {core} WHERE {key} IN (SELECT {key} FROM {stg}) AND NOT EXISTS \
                     (SELECT 1 FROM audit.pipeline_runs WHERE task = 'load_redshift' AND status = 'ok' AND date > '{date}')"
                ),
                format!(
                    "INSERT INTO {core} ({cols}) SELECT {cols} FROM {stg} s WHERE NOT EXISTS \
                     (SELECT 1 FROM {core} t WHERE t.{key} = s.{key})"
                ),
            ],
            Merge::Scd2(key) => {
                let attribute_columns: Vec<String> = self
                    .columns()
                    .into_iter()
                    .filter(|c| c != key && !c::SCD2_COLUMNS.contains(&c.as_str()))
                    .collect();
                let attributes: Vec<String> =
                    attribute_columns.iter().map(|c| format!("{c} = s.{c}")).collect();
                // Only versions whose attributes differ are rewritten (a reload of the same day
                // rewrites nothing): `<>` is null when either side is, so nulls compare apart.
                let differs: Vec<String> = attribute_columns
                    .iter()
                    .map(|c| format!("{core}.{c} <> s.{c} OR ({core}.{c} IS NULL) <> (s.{c} IS NULL)"))
                    .collect();
                // Keys whose chain may change: the staged ones that have another version (a key
                // with only its staged version is already open and current, as gold wrote it), and
                // those whose version of the date went (the version before still ends on the date).
                // On a first load nothing is re-chained, however big the dimension.
                let touched = format!(
                    "(SELECT s.{key} FROM {stg} s WHERE EXISTS (SELECT 1 FROM {core} t \
                     WHERE t.{key} = s.{key} AND t.valid_from <> s.valid_from) \
                     UNION SELECT {key} FROM {core} WHERE valid_to = DATE '{date}')"
                );
                vec![
                format!(
                    "DELETE FROM {core} WHERE valid_from = DATE '{date}' AND NOT EXISTS \
                     (SELECT 1 FROM {stg} s WHERE s.{key} = {core}.{key})"
                ),
                format!(
                    "UPDATE {core} SET {} FROM {stg} s WHERE {core}.{key} = s.{key} AND {core}.valid_from = s.valid_from \
                     AND ({})",
                    attributes.join(", "),
                    differs.join(" OR ")
                ),
                format!(
                    "INSERT INTO {core} ({cols}) SELECT {cols} FROM {stg} s WHERE NOT EXISTS \
                     (SELECT 1 FROM {core} t WHERE t.{key} = s.{key} AND t.valid_from = s.valid_from)"
                ),
                format!(
                    "UPDATE {core} SET valid_to = chain.next_from, is_current = chain.next_from IS NULL \
                     FROM (SELECT {key}, valid_from, LEAD(valid_from) OVER (PARTITION BY {key} ORDER BY valid_from) AS next_from \
                     FROM {core} WHERE {key} IN {touched}) chain \
                     WHERE {core}.{key} = chain.{key} AND {core}.valid_from = chain.valid_from \
                     AND (COALESCE({core}.valid_to, DATE '9999-12-31') <> COALESCE(chain.next_from, DATE '9999-12-31') \
                     OR {core}.is_current <> (chain.next_from IS NULL))"
                ),
            ]
            }
        }
    }
}

/// Where `load_redshift` puts the Redshift COPY manifest of a gold partition.
pub fn redshift_manifest_key(contract: Contract, date: NaiveDate) -> String {
    format!("{}_redshift.manifest", contract.id.at(date).prefix())
}

/// The body of a Redshift COPY manifest listing exactly the published files (Parquet needs each
/// file's content_length).
pub fn redshift_manifest(bucket: &str, manifest: &crate::manifest::Manifest) -> serde_json::Value {
    serde_json::json!({
        "entries": manifest.files.iter().map(|f| serde_json::json!({
            "url": format!("s3://{bucket}/{}", f.key),
            "mandatory": true,
            "meta": {"content_length": f.bytes},
        })).collect::<Vec<_>>()
    })
}

/// The whole Redshift load of one date as a script: staging, COPY, one transaction of merges and
/// the audit row, staging dropped. What `load_redshift --target redshift` runs, statement by
/// statement, and what `--print-sql` prints.
pub fn redshift_script(date: NaiveDate, bucket: &str, iam_role: &str, run_id: &str) -> Vec<String> {
    let mut sql = Vec::new();
    for t in TABLES {
        sql.extend(t.create_staging(date, Target::Redshift));
        sql.push(t.redshift_copy(date, bucket, iam_role));
    }
    sql.push("BEGIN".to_string());
    // Concurrent loads of other dates wait here, so merges never interleave.
    let core: Vec<String> = TABLES.iter().map(LoadTable::core).collect();
    sql.push(format!("LOCK {}, audit.pipeline_runs", core.join(", ")));
    for t in TABLES {
        sql.extend(t.merge(date));
    }
    let rows = format!(
        "(SELECT COUNT(*) FROM core.fact_sales WHERE date_id = {})",
        date_id(date)
    );
    sql.push(crate::audit::record_sql(
        "load_redshift",
        date,
        run_id,
        &rows,
        "0",
    ));
    sql.push("COMMIT".to_string());
    for t in TABLES {
        sql.push(t.drop_staging(date));
    }
    sql
}
