//! Streaming Parquet in and out of lake partitions: record batches go through a local temp file
//! (so memory stays flat) and files roll over at [`MAX_FILE_BYTES`].

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::path::PathBuf;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::contracts::{fingerprint, Contract};
use crate::error::{LakeError, Result};
use crate::lake::Lake;
use crate::manifest::{FileEntry, Manifest};
use crate::partition::Partition;
use crate::rows::{BatchBuilder, Cell};

/// Largest Parquet file written; larger partitions get more files.
pub const MAX_FILE_BYTES: u64 = 128 * 1024 * 1024;
/// Rows per row group: large for scans, bounded for memory.
pub const ROW_GROUP_ROWS: usize = 256 * 1024;

fn properties() -> Result<WriterProperties> {
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build())
}

/// Writes one partition of one run: files under `…/dt=D/run=<run_id>/`, then [`Self::publish`].
pub struct PartitionWriter {
    lake: Lake,
    task: String,
    partition: Partition,
    run_id: String,
    schema: SchemaRef,
    rows: BatchBuilder,
    dir: tempfile::TempDir,
    current: Option<(ArrowWriter<File>, PathBuf, u64)>,
    files: Vec<FileEntry>,
    max_file_bytes: u64,
}

impl PartitionWriter {
    pub fn new(
        lake: &Lake,
        task: &str,
        contract: Contract,
        date: chrono::NaiveDate,
        run_id: &str,
    ) -> Result<Self> {
        let schema = contract.schema();
        Ok(Self {
            lake: lake.clone(),
            task: task.to_string(),
            partition: contract.id.at(date),
            run_id: run_id.to_string(),
            rows: BatchBuilder::new(schema.clone())?,
            schema,
            dir: tempfile::Builder::new().prefix("mercado-").tempdir()?,
            current: None,
            files: Vec::new(),
            max_file_bytes: MAX_FILE_BYTES,
        })
    }

    /// Smaller files, for tests of the roll-over.
    pub fn with_max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes;
        self
    }

    pub fn partition(&self) -> &Partition {
        &self.partition
    }

    /// Appends one row (in the contract's column order).
    pub async fn push(&mut self, row: &[Cell<'_>]) -> Result<()> {
        if let Some(batch) = self.rows.push(row)? {
            self.write(&batch).await?;
        }
        Ok(())
    }

    /// Appends a whole batch (of the contract's schema).
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.current.is_none() {
            let path = self
                .dir
                .path()
                .join(format!("part-{:05}.parquet", self.files.len()));
            let writer = ArrowWriter::try_new(
                File::create(&path)?,
                self.schema.clone(),
                Some(properties()?),
            )?;
            self.current = Some((writer, path, 0));
        }
        if let Some((writer, _, rows)) = self.current.as_mut() {
            writer.write(batch)?;
            *rows += batch.num_rows() as u64;
            if writer.bytes_written() as u64 + writer.in_progress_size() as u64
                >= self.max_file_bytes
            {
                self.roll().await?;
            }
        }
        Ok(())
    }

    async fn roll(&mut self) -> Result<()> {
        let Some((writer, path, rows)) = self.current.take() else {
            return Ok(());
        };
        writer.close()?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("part.parquet");
        let key = format!("{}{name}", self.partition.run_prefix(&self.run_id));
        let bytes = self.lake.put_file(&key, &path).await?;
        tokio::fs::remove_file(&path).await?;
        tracing::debug!(key, rows, bytes, "uploaded");
        self.files.push(FileEntry { key, rows, bytes });
        Ok(())
    }

    /// Uploads what is left and publishes the manifest; returns it.
    pub async fn publish(
        mut self,
        watermark: Option<String>,
        counts: BTreeMap<String, u64>,
    ) -> Result<Manifest> {
        if let Some(batch) = self.rows.finish()? {
            self.write(&batch).await?;
        }
        self.roll().await?;
        let manifest = Manifest {
            dataset: self.partition.dataset.to_string(),
            date: self.partition.date.format("%Y-%m-%d").to_string(),
            run_id: self.run_id.clone(),
            task: self.task.clone(),
            rows: self.files.iter().map(|f| f.rows).sum(),
            files: std::mem::take(&mut self.files),
            schema_fingerprint: fingerprint(&self.schema),
            watermark,
            counts,
            published_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        self.lake.publish(&self.partition, &manifest).await?;
        tracing::info!(partition = %self.partition, rows = manifest.rows, files = manifest.files.len(), "published");
        Ok(manifest)
    }
}

/// Reads the files a partition's manifest lists, one at a time.
pub struct PartitionReader {
    lake: Lake,
    pub manifest: Manifest,
    pending: VecDeque<String>,
    dir: tempfile::TempDir,
    /// Only these columns are decoded (all when `None`).
    columns: Option<Vec<String>>,
}

impl PartitionReader {
    /// Opens a published partition, checking it was written under `contract`'s schema.
    pub async fn open(lake: &Lake, contract: Contract, date: chrono::NaiveDate) -> Result<Self> {
        let partition = contract.id.at(date);
        let manifest = lake.require_manifest(&partition).await?;
        Self::from_manifest(lake, contract, manifest)
    }

    pub fn from_manifest(lake: &Lake, contract: Contract, manifest: Manifest) -> Result<Self> {
        let want = fingerprint(&contract.schema());
        if manifest.schema_fingerprint != want {
            return Err(LakeError::Manifest {
                key: format!("{}/dt={}", manifest.dataset, manifest.date),
                message: format!(
                    "schema fingerprint {} differs from the contract's {want}; re-run the task that writes it",
                    manifest.schema_fingerprint
                ),
            });
        }
        Ok(Self {
            lake: lake.clone(),
            pending: manifest.files.iter().map(|f| f.key.clone()).collect(),
            manifest,
            dir: tempfile::Builder::new().prefix("mercado-").tempdir()?,
            columns: None,
        })
    }

    /// Decodes only the named columns (Parquet is columnar: the others are never read). Batches
    /// keep the file's column order; read them by name.
    pub fn only(mut self, columns: &[&str]) -> Self {
        self.columns = Some(columns.iter().map(|c| c.to_string()).collect());
        self
    }

    /// The next file's batches, streamed from a local copy.
    pub async fn next_file(&mut self) -> Result<Option<ParquetRecordBatchReader>> {
        let Some(key) = self.pending.pop_front() else {
            return Ok(None);
        };
        let path = self.dir.path().join("current.parquet");
        self.lake.get_to_file(&key, &path).await?;
        // The open handle keeps the data readable after the next download replaces the path.
        let file = File::open(&path)?;
        let mut builder = ParquetRecordBatchReaderBuilder::try_new(file)?
            .with_batch_size(crate::rows::BATCH_ROWS);
        if let Some(columns) = &self.columns {
            let mask = ProjectionMask::columns(
                builder.parquet_schema(),
                columns.iter().map(String::as_str),
            );
            builder = builder.with_projection(mask);
        }
        let reader = builder.build()?;
        Ok(Some(reader))
    }

    /// Every batch of the partition, in memory: for dimension-sized inputs only.
    pub async fn read_all(mut self) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        while let Some(reader) = self.next_file().await? {
            for batch in reader {
                out.push(batch?);
            }
        }
        Ok(out)
    }
}
