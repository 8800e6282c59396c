//! Work bigger than the memory limit, in parts: rows are routed by the hash of a key into
//! partition files on local disk (Arrow IPC, written as they come), then read back one partition
//! at a time, so only one partition's share of a dimension is ever held. A grace hash join, for
//! `enrich`; the same split serves `gold`'s comparison of snapshots.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use arrow_array::{RecordBatch, UInt32Array};
use arrow_ipc::reader::FileReader;
use arrow_ipc::writer::FileWriter;
use arrow_schema::SchemaRef;

use crate::columnar::{column, ids};
use crate::error::Result;

/// The partition (of `partitions`) of a key: a multiplicative hash, so consecutive ids spread.
pub fn partition_of(key: i64, partitions: usize) -> usize {
    ((key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % partitions.max(1)
}

/// How many partitions keep `bytes` of held data within half of `limit` (the other half is for
/// batches in flight and the writers); 1 without a limit.
pub fn partitions_for(bytes: u64, limit: Option<u64>) -> usize {
    match limit {
        None => 1,
        Some(limit) => bytes.div_ceil((limit / 2).max(1)).max(1) as usize,
    }
}

/// The rows of `batch` whose `key` column falls in partition `p` of `partitions`.
pub fn rows_in(batch: &RecordBatch, key: &str, p: usize, partitions: usize) -> Result<RecordBatch> {
    if partitions <= 1 {
        return Ok(batch.clone());
    }
    let keys = ids(&column(batch, key)?)?;
    let mask: arrow_array::BooleanArray = keys
        .iter()
        .map(|k| Some(k.is_some_and(|k| partition_of(k, partitions) == p)))
        .collect();
    Ok(arrow_select::filter::filter_record_batch(batch, &mask)?)
}

/// Partition files being written.
pub struct Spill {
    dir: tempfile::TempDir,
    writers: Vec<FileWriter<BufWriter<File>>>,
    paths: Vec<PathBuf>,
    pub rows: u64,
}

impl Spill {
    pub fn new(schema: &SchemaRef, partitions: usize) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("mercado-spill-")
            .tempdir()?;
        let mut writers = Vec::with_capacity(partitions);
        let mut paths = Vec::with_capacity(partitions);
        for p in 0..partitions {
            let path = dir.path().join(format!("partition-{p:04}.arrow"));
            writers.push(FileWriter::try_new(
                BufWriter::new(File::create(&path)?),
                schema,
            )?);
            paths.push(path);
        }
        Ok(Self {
            dir,
            writers,
            paths,
            rows: 0,
        })
    }

    /// Appends each row of `batch` to the partition of its `key` (null keys go to the first).
    pub fn route(&mut self, batch: &RecordBatch, key: &str) -> Result<()> {
        let n = self.writers.len();
        let keys = ids(&column(batch, key)?)?;
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); n];
        for (i, k) in keys.iter().enumerate() {
            rows[k.map_or(0, |k| partition_of(k, n))].push(i as u32);
        }
        for (p, rows) in rows.into_iter().enumerate() {
            if !rows.is_empty() {
                let part = arrow_select::take::take_record_batch(batch, &UInt32Array::from(rows))?;
                self.writers[p].write(&part)?;
            }
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Closes the files; they are read back with [`Spilled::partition`].
    pub fn finish(self) -> Result<Spilled> {
        for mut w in self.writers {
            w.finish()?;
        }
        Ok(Spilled {
            _dir: self.dir,
            paths: self.paths,
        })
    }
}

/// Partition files written, removed when dropped.
pub struct Spilled {
    _dir: tempfile::TempDir,
    paths: Vec<PathBuf>,
}

impl Spilled {
    pub fn partitions(&self) -> usize {
        self.paths.len()
    }

    /// The batches of partition `p`.
    pub fn partition(&self, p: usize) -> Result<impl Iterator<Item = Result<RecordBatch>>> {
        let reader = FileReader::try_new(File::open(&self.paths[p])?, None)?;
        Ok(reader.map(|b| b.map_err(crate::error::LakeError::from)))
    }
}
