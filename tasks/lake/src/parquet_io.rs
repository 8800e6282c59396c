//! Streaming Parquet in and out of lake partitions: record batches go through a local temp file
//! (so memory stays flat) and files roll over at [`MAX_FILE_BYTES`].

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::path::PathBuf;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder, RowFilter,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::contracts::{fingerprint, Contract};
use crate::error::{LakeError, Result};
use crate::lake::Lake;
use crate::manifest::{FileEntry, Manifest, Snapshot};
use crate::partition::Partition;
use crate::rows::{BatchBuilder, Cell};

/// Largest Parquet file written; larger partitions get more files.
/// Files of a few MiB: each uploads (on the writer's thread) while the next is encoded, and
/// downloads while the one before is read.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// Rows per row group: large for scans, bounded for memory.
pub const ROW_GROUP_ROWS: usize = 256 * 1024;

/// zstd at level 1: its fastest, a few percent larger than level 3, and compression is most of
/// the transforms' writing cost.
fn properties() -> Result<WriterProperties> {
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build())
}

/// Writes one partition of one run: files under `…/dt=D/run=<run_id>/`, then [`Self::publish`].
///
/// Parquet encoding (compression above all) and the upload of each finished file run on a thread
/// of the writer's own, so the task computes its next batch meanwhile: on two cores the
/// transforms' time is then roughly the larger of the two, not their sum. At most two batches
/// wait between the task and that thread.
pub struct PartitionWriter {
    lake: Lake,
    task: String,
    partition: Partition,
    run_id: String,
    schema: SchemaRef,
    rows: BatchBuilder,
    /// Handed to the encoding thread when it starts (it outlives a writer dropped midway).
    dir: Option<tempfile::TempDir>,
    encoder: Option<Encoder>,
    max_file_bytes: u64,
    snapshot: Option<Snapshot>,
}

/// The handle on a writer's encoding thread.
struct Encoder {
    batches: tokio::sync::mpsc::Sender<RecordBatch>,
    done: tokio::sync::oneshot::Receiver<Result<Vec<FileEntry>>>,
}

/// What the encoding thread needs: where files go and when to roll or flush.
struct EncodeJob {
    lake: Lake,
    schema: SchemaRef,
    dir: PathBuf,
    run_prefix: String,
    max_file_bytes: u64,
    /// Under a memory limit a row group is closed once it holds an eighth of it.
    flush_at: Option<usize>,
}

impl EncodeJob {
    /// Encodes every batch received into files of at most `max_file_bytes`, uploading each
    /// finished one (through the task's runtime), until the sender closes.
    fn run(
        self,
        batches: &mut tokio::sync::mpsc::Receiver<RecordBatch>,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Vec<FileEntry>> {
        let mut files = Vec::new();
        let mut current: Option<(ArrowWriter<File>, PathBuf, u64)> = None;
        while let Some(batch) = batches.blocking_recv() {
            let (writer, _, rows) = match current.as_mut() {
                Some(c) => c,
                None => {
                    let path = self.dir.join(format!("part-{:05}.parquet", files.len()));
                    let writer = ArrowWriter::try_new(
                        File::create(&path)?,
                        self.schema.clone(),
                        Some(properties()?),
                    )?;
                    current.insert((writer, path, 0))
                }
            };
            writer.write(&batch)?;
            *rows += batch.num_rows() as u64;
            if self
                .flush_at
                .is_some_and(|at| writer.in_progress_size() >= at)
            {
                writer.flush()?;
            }
            if writer.bytes_written() as u64 + writer.in_progress_size() as u64
                >= self.max_file_bytes
            {
                if let Some(file) = current.take() {
                    files.push(self.finish_file(file, runtime)?);
                }
            }
        }
        if let Some(file) = current.take() {
            files.push(self.finish_file(file, runtime)?);
        }
        Ok(files)
    }

    fn finish_file(
        &self,
        (writer, path, rows): (ArrowWriter<File>, PathBuf, u64),
        runtime: &tokio::runtime::Handle,
    ) -> Result<FileEntry> {
        writer.close()?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("part.parquet");
        let key = format!("{}{name}", self.run_prefix);
        let sha256 = crate::lake::file_sha256(&path)?;
        let bytes = runtime.block_on(self.lake.put_file(&key, &path))?;
        std::fs::remove_file(&path)?;
        tracing::debug!(key, rows, bytes, "uploaded");
        Ok(FileEntry {
            key,
            rows,
            bytes,
            sha256,
        })
    }
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
            dir: Some(tempfile::Builder::new().prefix("mercado-").tempdir()?),
            encoder: None,
            max_file_bytes: MAX_FILE_BYTES,
            snapshot: None,
        })
    }

    /// The sources' snapshot, recorded in the manifest (`extract`).
    pub fn with_snapshot(mut self, snapshot: Snapshot) -> Self {
        self.snapshot = Some(snapshot);
        self
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

    fn start_encoder(&mut self) -> Result<Encoder> {
        let dir = match self.dir.take() {
            Some(d) => d,
            None => tempfile::Builder::new().prefix("mercado-").tempdir()?,
        };
        let (batches, mut inbox) = tokio::sync::mpsc::channel::<RecordBatch>(2);
        let (report, done) = tokio::sync::oneshot::channel();
        let runtime = tokio::runtime::Handle::current();
        let job = EncodeJob {
            lake: self.lake.clone(),
            schema: self.schema.clone(),
            dir: dir.path().to_path_buf(),
            run_prefix: self.partition.run_prefix(&self.run_id),
            max_file_bytes: self.max_file_bytes,
            flush_at: self.lake.memory_limit().map(|l| (l / 8) as usize),
        };
        std::thread::Builder::new()
            .name("parquet-encoder".into())
            .spawn(move || {
                let result = job.run(&mut inbox, &runtime);
                drop(dir);
                let _ = report.send(result);
            })?;
        Ok(Encoder { batches, done })
    }

    /// Appends a whole batch (of the contract's schema).
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.encoder.is_none() {
            let encoder = self.start_encoder()?;
            self.encoder = Some(encoder);
        }
        let Some(encoder) = self.encoder.as_mut() else {
            return Ok(());
        };
        if encoder.batches.send(batch.clone()).await.is_err() {
            // The thread stopped early: its error says why.
            if let Some(encoder) = self.encoder.take() {
                encoder.finish().await?;
            }
            return Err(LakeError::Invariant(format!(
                "{}: the Parquet encoder stopped before its input ended",
                self.partition
            )));
        }
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
        let files = match self.encoder.take() {
            Some(encoder) => encoder.finish().await?,
            None => Vec::new(),
        };
        let manifest = Manifest {
            dataset: self.partition.dataset.to_string(),
            date: self.partition.date.format("%Y-%m-%d").to_string(),
            run_id: self.run_id.clone(),
            task: self.task.clone(),
            rows: files.iter().map(|f| f.rows).sum(),
            files,
            schema_fingerprint: fingerprint(&self.schema),
            watermark,
            counts,
            published_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            snapshot: self.snapshot.take(),
        };
        self.lake
            .publish_or_stage(&self.partition, &manifest)
            .await?;
        tracing::info!(partition = %self.partition, rows = manifest.rows, files = manifest.files.len(), "written");
        Ok(manifest)
    }
}

impl Encoder {
    /// Closes the input and waits for the last file to be uploaded.
    async fn finish(self) -> Result<Vec<FileEntry>> {
        drop(self.batches);
        self.done.await.map_err(|_| {
            LakeError::Invariant("the Parquet encoder thread ended without a result".into())
        })?
    }
}

/// Reads the files a partition's manifest lists, one at a time; the next file downloads while
/// the current one is read.
pub struct PartitionReader {
    lake: Lake,
    pub manifest: Manifest,
    pending: VecDeque<FileEntry>,
    dir: tempfile::TempDir,
    /// The download of the next file, under way.
    next: Option<tokio::task::JoinHandle<Result<(PathBuf, FileEntry)>>>,
    downloaded: usize,
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
            pending: manifest.files.iter().cloned().collect(),
            manifest,
            dir: tempfile::Builder::new().prefix("mercado-").tempdir()?,
            next: None,
            downloaded: 0,
            columns: None,
        })
    }

    /// Starts downloading the next pending file, if any.
    fn prefetch(&mut self) {
        if let Some(entry) = self.pending.pop_front() {
            let path = self
                .dir
                .path()
                .join(format!("file-{:05}.parquet", self.downloaded));
            self.downloaded += 1;
            let lake = self.lake.clone();
            self.next = Some(tokio::spawn(async move {
                lake.get_verified(&entry, &path).await?;
                Ok((path, entry))
            }));
        }
    }

    /// Decodes only the named columns (Parquet is columnar: the others are never read). Batches
    /// keep the file's column order; read them by name.
    pub fn only(mut self, columns: &[&str]) -> Self {
        self.columns = Some(columns.iter().map(|c| c.to_string()).collect());
        self
    }

    /// The next file's batches, streamed from a local copy.
    pub async fn next_file(&mut self) -> Result<Option<DecodedBatches>> {
        if self.next.is_none() {
            self.prefetch();
        }
        let Some(download) = self.next.take() else {
            return Ok(None);
        };
        let (path, entry) = download.await.map_err(|e| {
            LakeError::Invariant(format!(
                "a download of {} failed to run: {e}",
                self.manifest.dataset
            ))
        })??;
        // The open handle keeps the data readable once the path is gone.
        let file = File::open(&path)?;
        std::fs::remove_file(&path)?;
        self.prefetch();
        let mut builder = ParquetRecordBatchReaderBuilder::try_new(file)?
            .with_batch_size(crate::rows::BATCH_ROWS);
        check_rows(&entry, builder.metadata().file_metadata().num_rows())?;
        if let Some(columns) = &self.columns {
            let mask = ProjectionMask::columns(
                builder.parquet_schema(),
                columns.iter().map(String::as_str),
            );
            builder = builder.with_projection(mask);
        }
        Ok(Some(DecodedBatches::start(builder.build()?)))
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

/// A file's rows as its Parquet footer states them against its manifest entry.
fn check_rows(entry: &FileEntry, rows: i64) -> Result<()> {
    if u64::try_from(rows).ok() != Some(entry.rows) {
        return Err(LakeError::Corrupt {
            key: entry.key.clone(),
            message: format!("{rows} rows, the manifest lists {}", entry.rows),
        });
    }
    Ok(())
}

/// A published partition copied to local disk, to be read more than once (a join or comparison
/// split into partitions under a memory limit reads it once per partition).
pub struct LocalPartition {
    pub manifest: Manifest,
    paths: Vec<PathBuf>,
    _dir: tempfile::TempDir,
}

impl LocalPartition {
    pub async fn download(
        lake: &Lake,
        contract: Contract,
        date: chrono::NaiveDate,
    ) -> Result<Self> {
        let reader = PartitionReader::open(lake, contract, date).await?;
        let dir = tempfile::Builder::new().prefix("mercado-").tempdir()?;
        let mut paths = Vec::new();
        // All files at once.
        let downloads = reader.pending.iter().enumerate().map(|(i, entry)| {
            let path = dir.path().join(format!("part-{i:05}.parquet"));
            async move {
                lake.get_verified(entry, &path).await?;
                let rows = ParquetRecordBatchReaderBuilder::try_new(File::open(&path)?)?
                    .metadata()
                    .file_metadata()
                    .num_rows();
                check_rows(entry, rows)?;
                Ok::<_, LakeError>(path)
            }
        });
        for path in futures::future::join_all(downloads).await {
            paths.push(path?);
        }
        Ok(Self {
            manifest: reader.manifest,
            paths,
            _dir: dir,
        })
    }

    /// The decoded size of `columns` in memory, as the files' metadata states it.
    pub fn decoded_bytes(&self, columns: &[&str]) -> Result<u64> {
        let mut bytes = 0u64;
        for path in &self.paths {
            let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?;
            for rg in builder.metadata().row_groups() {
                for col in rg.columns() {
                    if columns.contains(&col.column_path().string().as_str()) {
                        bytes += col.uncompressed_size().max(0) as u64;
                    }
                }
            }
        }
        Ok(bytes)
    }

    /// Every batch of `columns`, file after file.
    pub fn batches(&self, columns: &[&str]) -> impl Iterator<Item = Result<RecordBatch>> + '_ {
        self.read(columns, None::<(String, fn(&RecordBatch) -> KeepResult)>)
    }

    /// The rows for which `keep` (given each batch of the column `key` alone) is true, as batches
    /// of `columns`, file after file. Parquet's row filter decodes `key` first and the other
    /// columns only for the rows kept, so a shard of a day pays for its own rows' text, not for
    /// the day's.
    pub fn batches_where<F>(
        &self,
        columns: &[&str],
        key: &str,
        keep: F,
    ) -> impl Iterator<Item = Result<RecordBatch>> + '_
    where
        F: Fn(&RecordBatch) -> KeepResult + Clone + Send + 'static,
    {
        self.read(columns, Some((key.to_string(), keep)))
    }

    fn read<F>(
        &self,
        columns: &[&str],
        filter: Option<(String, F)>,
    ) -> impl Iterator<Item = Result<RecordBatch>> + '_
    where
        F: Fn(&RecordBatch) -> KeepResult + Clone + Send + 'static,
    {
        let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        self.paths.iter().flat_map(move |path| {
            let reader = (|| -> Result<ParquetRecordBatchReader> {
                let mut builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?
                    .with_batch_size(crate::rows::BATCH_ROWS);
                let mask = ProjectionMask::columns(
                    builder.parquet_schema(),
                    columns.iter().map(String::as_str),
                );
                if let Some((key, keep)) = filter.clone() {
                    let on = ProjectionMask::columns(builder.parquet_schema(), [key.as_str()]);
                    let predicate = ArrowPredicateFn::new(on, move |batch| keep(&batch));
                    builder = builder.with_row_filter(RowFilter::new(vec![Box::new(predicate)]));
                }
                Ok(builder.with_projection(mask).build()?)
            })();
            let out: Box<dyn Iterator<Item = Result<RecordBatch>>> = match reader {
                Ok(r) => Box::new(DecodedBatches::start(r)),
                Err(e) => Box::new(std::iter::once(Err(e))),
            };
            out
        })
    }
}

/// What a row filter of [`LocalPartition::batches_where`] answers for a batch of its key column.
pub type KeepResult = std::result::Result<arrow_array::BooleanArray, arrow_schema::ArrowError>;

/// A Parquet file's batches decoded on a thread of their own, at most two ahead of the reader:
/// decompression and decoding overlap the task's work on the batch before.
pub struct DecodedBatches {
    batches: std::sync::mpsc::Receiver<Result<RecordBatch>>,
}

impl DecodedBatches {
    pub fn start(reader: ParquetRecordBatchReader) -> Self {
        let (tx, batches) = std::sync::mpsc::sync_channel(2);
        let spawned = std::thread::Builder::new()
            .name("parquet-decoder".into())
            .spawn(move || {
                for batch in reader {
                    // A reader that stopped early closed the channel: stop too.
                    if tx.send(batch.map_err(LakeError::from)).is_err() {
                        break;
                    }
                }
            });
        if let Err(e) = spawned {
            let (tx, batches) = std::sync::mpsc::sync_channel(1);
            let _ = tx.send(Err(LakeError::from(e)));
            return Self { batches };
        }
        Self { batches }
    }
}

impl Iterator for DecodedBatches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.batches.recv().ok()
    }
}
