//! The lake's Apache Iceberg tables as a reader sees them: a table's current snapshot, found
//! through the catalog, and the data files it holds for one date.
//!
//! The commit that makes each snapshot is `python/mercado_iceberg` (pyiceberg: overwrite of a
//! partition, retries on conflict). This side only reads, with iceberg-rust's own parsers of the
//! table metadata, manifest lists and manifests (`iceberg::spec`); the files are fetched by the
//! lake's S3 client and the Parquet decoded by ours (iceberg-rust 0.10 is built on arrow 58, ours
//! is 60, so its Arrow reader is not used).

use std::collections::BTreeSet;

use chrono::NaiveDate;
use iceberg::spec::{
    Literal, Manifest, ManifestContentType, ManifestList, ManifestStatus, PrimitiveLiteral,
    TableMetadata,
};

use crate::cli::Waits;
use crate::error::{LakeError, Result};
use crate::lake::Lake;

/// The catalog SQL catalogs are made under (pyiceberg's `load_catalog("mercado", type="sql")`).
const CATALOG_NAME: &str = "mercado";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CatalogKind {
    /// The SQL catalog in PostgreSQL (ICEBERG_CATALOG_URL).
    Sql,
    /// AWS Glue: the tables are read there by Glue's own readers (Athena, Redshift Spectrum); the
    /// tasks' snapshot checks are skipped and say so.
    Glue,
    /// An Iceberg REST catalog: as Glue, read by the engines that speak it.
    Rest,
    /// The lake is not published as Iceberg tables.
    None,
}

/// Where the Iceberg catalog is (the same settings as `scripts/iceberg.sh`).
#[derive(Debug, Clone, clap::Args)]
pub struct IcebergArgs {
    /// The Iceberg catalog the lake's tables are committed to.
    #[arg(long = "iceberg-catalog", env = "MERCADO_ICEBERG_CATALOG", value_enum, default_value_t = CatalogKind::Sql)]
    pub catalog: CatalogKind,

    /// The SQL catalog's PostgreSQL database (libpq URL).
    #[arg(
        long = "iceberg-catalog-url",
        env = "ICEBERG_CATALOG_URL",
        hide_env_values = true
    )]
    pub catalog_url: Option<String>,
}

/// One date of a table as its current snapshot holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotDate {
    pub table: String,
    pub snapshot_id: i64,
    /// The date's data files (keys in the lake's bucket) and their rows.
    pub files: Vec<(String, u64)>,
    /// The snapshots that added those files: one when the date was replaced as a whole.
    pub added_by: BTreeSet<i64>,
}

impl SnapshotDate {
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|(_, rows)| rows).sum()
    }
}

/// An open catalog: where each table's current metadata file is.
pub struct Catalog {
    client: tokio_postgres::Client,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Catalog {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl IcebergArgs {
    /// The catalog, when it is one the tasks read (`sql`); `None` for the others (see
    /// [`CatalogKind`]).
    pub async fn open(&self, waits: &Waits) -> Result<Option<Catalog>> {
        if self.catalog != CatalogKind::Sql {
            return Ok(None);
        }
        let url = self.catalog_url.as_deref().ok_or_else(|| {
            LakeError::Config(
                "--iceberg-catalog-url (ICEBERG_CATALOG_URL) is required with the sql catalog; \
                 or set MERCADO_ICEBERG_CATALOG=none when the lake is not published as Iceberg tables"
                    .into(),
            )
        })?;
        let (client, driver) =
            crate::warehouse::connect("ICEBERG_CATALOG_URL", url, false, "Iceberg catalog", waits)
                .await?;
        Ok(Some(Catalog { client, driver }))
    }
}

impl Catalog {
    /// The table's current metadata file, if the table exists.
    pub async fn metadata_location(&self, namespace: &str, table: &str) -> Result<Option<String>> {
        let row = self
            .client
            .query_opt(
                "SELECT metadata_location FROM iceberg_tables \
                 WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3",
                &[&CATALOG_NAME, &namespace, &table],
            )
            .await;
        match row {
            Ok(row) => Ok(row.and_then(|r| r.get::<_, Option<String>>(0))),
            // A catalog nothing was ever committed to has no tables of its own yet.
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The date's files in the table's current snapshot (`None` when the table does not exist).
    pub async fn snapshot_date(
        &self,
        lake: &Lake,
        namespace: &str,
        table: &str,
        date: NaiveDate,
    ) -> Result<Option<SnapshotDate>> {
        let name = format!("{namespace}.{table}");
        let Some(location) = self.metadata_location(namespace, table).await? else {
            return Ok(None);
        };
        let metadata: TableMetadata = serde_json::from_slice(&read(lake, &name, &location).await?)
            .map_err(|e| iceberg_err(&name, format!("metadata {location}: {e}")))?;
        let Some(snapshot) = metadata.current_snapshot() else {
            return Ok(Some(SnapshotDate {
                table: name,
                snapshot_id: 0,
                files: Vec::new(),
                added_by: BTreeSet::new(),
            }));
        };
        let list = ManifestList::parse_with_version(
            &read(lake, &name, snapshot.manifest_list()).await?,
            metadata.format_version(),
        )
        .map_err(|e| iceberg_err(&name, format!("manifest list: {e}")))?;
        let day = days_since_epoch(date);
        let mut out = SnapshotDate {
            table: name.clone(),
            snapshot_id: snapshot.snapshot_id(),
            files: Vec::new(),
            added_by: BTreeSet::new(),
        };
        for manifest in list.entries() {
            if manifest.content != ManifestContentType::Data {
                return Err(iceberg_err(
                    &name,
                    "holds delete files (row-level deletes), which the tasks do not read; \
                     compact the table (scripts/iceberg.sh compact)",
                ));
            }
            // The manifest list's partition summary: a manifest of other dates is not read.
            if !may_hold(manifest.partitions.as_deref(), day) {
                continue;
            }
            let bytes = read(lake, &name, &manifest.manifest_path).await?;
            let parsed = Manifest::parse_avro(&bytes).map_err(|e| {
                iceberg_err(&name, format!("manifest {}: {e}", manifest.manifest_path))
            })?;
            for entry in parsed.entries() {
                if entry.status() == ManifestStatus::Deleted {
                    continue;
                }
                let file = entry.data_file();
                if partition_day(file.partition().iter().next().flatten()) != Some(day) {
                    continue;
                }
                out.files.push((
                    lake_key(lake, &name, file.file_path())?,
                    file.record_count(),
                ));
                if let Some(id) = entry.snapshot_id() {
                    out.added_by.insert(id);
                }
            }
        }
        out.files.sort();
        Ok(Some(out))
    }
}

/// Whether a manifest whose partition summary is `summary` may hold files of `day` (the table is
/// partitioned by the date alone).
fn may_hold(summary: Option<&[iceberg::spec::FieldSummary]>, day: i32) -> bool {
    summary.and_then(|s| s.first()).is_none_or(|field| {
        within(
            field.lower_bound.as_deref().map(Vec::as_slice),
            field.upper_bound.as_deref().map(Vec::as_slice),
            day,
        )
    })
}

/// `day` within a summary's bounds (a date's days since 1970, 4 bytes little-endian); unknown
/// bounds hold anything.
fn within(lower: Option<&[u8]>, upper: Option<&[u8]>, day: i32) -> bool {
    let bound = |b: Option<&[u8]>| {
        b.and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(i32::from_le_bytes)
    };
    match (bound(lower), bound(upper)) {
        (Some(lo), Some(hi)) => lo <= day && day <= hi,
        _ => true,
    }
}

fn partition_day(value: Option<&Literal>) -> Option<i32> {
    match value {
        Some(Literal::Primitive(PrimitiveLiteral::Int(days))) => Some(*days),
        _ => None,
    }
}

fn days_since_epoch(date: NaiveDate) -> i32 {
    /// 1970-01-01 counted from 0001-01-01 as day 1 (chrono's `num_days_from_ce`).
    const EPOCH_FROM_CE: i32 = 719_163;
    chrono::Datelike::num_days_from_ce(&date) - EPOCH_FROM_CE
}

/// The key in the lake's bucket of an `s3://bucket/key` location; a table whose files are in
/// another bucket belongs to another lake (a catalog shared by mistake).
fn lake_key(lake: &Lake, table: &str, location: &str) -> Result<String> {
    let rest = location
        .strip_prefix("s3://")
        .or_else(|| location.strip_prefix("s3a://"))
        .ok_or_else(|| iceberg_err(table, format!("{location} is not an s3:// location")))?;
    match rest.split_once('/') {
        Some((bucket, key)) if bucket == lake.bucket() => Ok(key.to_string()),
        _ => Err(iceberg_err(
            table,
            format!(
                "{location} is outside the lake's bucket {}: the catalog holds another lake's \
                 tables (check ICEBERG_CATALOG_URL)",
                lake.bucket()
            ),
        )),
    }
}

async fn read(lake: &Lake, table: &str, location: &str) -> Result<Vec<u8>> {
    let key = lake_key(lake, table, location)?;
    lake.get_bytes(&key)
        .await?
        .ok_or_else(|| iceberg_err(table, format!("{location} is missing from the lake")))
}

fn iceberg_err(table: &str, message: impl Into<String>) -> LakeError {
    LakeError::Iceberg {
        table: table.to_string(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_of_other_dates_are_skipped_by_their_bounds() {
        let day = days_since_epoch(NaiveDate::from_ymd_opt(2025, 6, 3).expect("date"));
        let le = |d: i32| d.to_le_bytes().to_vec();
        assert!(within(Some(&le(day)), Some(&le(day)), day));
        assert!(within(Some(&le(day - 3)), Some(&le(day + 1)), day));
        assert!(!within(Some(&le(day + 1)), Some(&le(day + 5)), day));
        assert!(!within(Some(&le(day - 5)), Some(&le(day - 1)), day));
        assert!(within(None, None, day), "no bounds: read it");
        assert!(may_hold(None, day), "no summary: read it");
    }

    #[test]
    fn the_epoch_is_day_zero() {
        assert_eq!(
            days_since_epoch(NaiveDate::from_ymd_opt(1970, 1, 2).expect("date")),
            1
        );
        assert_eq!(
            partition_day(Some(&Literal::Primitive(PrimitiveLiteral::Int(20_000)))),
            Some(20_000)
        );
    }
}
