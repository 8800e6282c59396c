//! Column-at-a-time building blocks of the transforms (arrow-rs kernels): whole Arrow arrays are
//! moved, taken, filtered and compared; no row is turned into owned values. Columns are always
//! found by name.

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, UInt32Array};
use arrow_row::{RowConverter, SortField};
use arrow_schema::DataType;
use chrono::NaiveDate;

use crate::contracts::Contract;
use crate::error::{LakeError, Result};
use crate::lake::Lake;
use crate::parquet_io::PartitionReader;

/// Column `name` of `batch`.
pub fn column(batch: &RecordBatch, name: &str) -> Result<ArrayRef> {
    batch
        .column_by_name(name)
        .cloned()
        .ok_or_else(|| LakeError::Schema(format!("column {name} missing")))
}

/// An integer id column (Int32 or Int64) as Int64.
pub fn ids(array: &ArrayRef) -> Result<Int64Array> {
    match array.data_type() {
        DataType::Int64 => Ok(array.as_primitive::<Int64Type>().clone()),
        DataType::Int32 => Ok(array.as_primitive::<Int32Type>().unary(i64::from)),
        other => Err(LakeError::Schema(format!(
            "an id column is {other}, not an integer"
        ))),
    }
}

/// A batch of `target`'s schema, column by column in the contract's order: `resolve` gives the
/// array of each named column (a source column, a renamed one, or a constant). The contract's
/// nullability is checked by Arrow here, once per batch.
pub fn conform(
    target: Contract,
    mut resolve: impl FnMut(&str) -> Result<ArrayRef>,
) -> Result<RecordBatch> {
    let schema = target.schema();
    let columns = schema
        .fields()
        .iter()
        .map(|f| resolve(f.name()))
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new(schema, columns).map_err(|e| {
        LakeError::Schema(format!(
            "{}: a batch does not fit the contract: {e}",
            target.id
        ))
    })
}

/// Memory an index entry takes beyond the dimension's columns (key, row, hash table slack).
pub const INDEX_BYTES_PER_KEY: u64 = 32;

/// A dimension held whole in memory as Arrow columns (only the ones asked for), with an index
/// from its key to its row: a join is then one hash probe per line and a `take` per column.
pub struct Dimension {
    pub batch: RecordBatch,
    index: HashMap<i64, u32>,
}

impl Dimension {
    /// Columns `columns` (which include `key`) of the published partition of `contract` at `date`.
    pub async fn read(
        lake: &Lake,
        contract: Contract,
        date: NaiveDate,
        key: &str,
        columns: &[&str],
    ) -> Result<Self> {
        let batches = PartitionReader::open(lake, contract, date)
            .await?
            .only(columns)
            .read_all()
            .await?;
        Self::from_batches(contract, batches.into_iter().map(Ok), key, columns)
    }

    /// A dimension of `contract`'s `columns` from its batches, indexed by `key`.
    pub fn from_batches(
        contract: Contract,
        batches: impl Iterator<Item = Result<RecordBatch>>,
        key: &str,
        columns: &[&str],
    ) -> Result<Self> {
        let batches = batches.collect::<Result<Vec<_>>>()?;
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => Arc::new(
                contract.schema().project(
                    &columns
                        .iter()
                        .map(|c| contract.schema().index_of(c))
                        .collect::<std::result::Result<Vec<_>, _>>()?,
                )?,
            ),
        };
        // Column by column, each column's pieces freed once joined: the peak is the dimension
        // plus one column, not twice the dimension.
        let mut pieces: Vec<Vec<ArrayRef>> =
            vec![Vec::with_capacity(batches.len()); schema.fields().len()];
        for batch in batches {
            for (i, c) in batch.columns().iter().enumerate() {
                pieces[i].push(c.clone());
            }
        }
        let mut columns = Vec::with_capacity(pieces.len());
        for (field, parts) in schema.fields().iter().zip(pieces) {
            columns.push(match parts.len() {
                0 => arrow_array::new_empty_array(field.data_type()),
                1 => parts[0].clone(),
                _ => {
                    let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
                    arrow_select::concat::concat(&refs)?
                }
            });
        }
        let batch = RecordBatch::try_new(schema, columns)?;
        let keys = ids(&column(&batch, key)?)?;
        let mut index = HashMap::with_capacity_and_hasher(keys.len(), Default::default());
        for (row, id) in keys.iter().enumerate() {
            if let Some(id) = id {
                index.insert(
                    id,
                    u32::try_from(row).map_err(|_| {
                        LakeError::Invariant(format!("{}: more than 2^32 rows", contract.id))
                    })?,
                );
            }
        }
        Ok(Self { batch, index })
    }

    /// The row of each key (null where the dimension has no such key).
    pub fn rows_of(&self, keys: &Int64Array) -> UInt32Array {
        keys.iter()
            .map(|k| k.and_then(|k| self.index.get(&k).copied()))
            .collect()
    }

    /// Column `name` at `rows` (null where a row is null).
    pub fn take(&self, name: &str, rows: &UInt32Array) -> Result<ArrayRef> {
        Ok(arrow_select::take::take(
            column(&self.batch, name)?.as_ref(),
            rows,
            None,
        )?)
    }

    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    pub fn is_empty(&self) -> bool {
        self.batch.num_rows() == 0
    }
}

/// A 128-bit digest of each row's values in `columns` (nulls included), through Arrow's row
/// format, whose encoding is unambiguous per type: equal digests mean equal values, beyond
/// practical odds of a collision.
pub fn row_digests(batch: &RecordBatch, columns: &[&str]) -> Result<Vec<u128>> {
    let arrays = columns
        .iter()
        .map(|c| column(batch, c))
        .collect::<Result<Vec<_>>>()?;
    let converter = RowConverter::new(
        arrays
            .iter()
            .map(|a| SortField::new(a.data_type().clone()))
            .collect(),
    )?;
    let rows = converter.convert_columns(&arrays)?;
    Ok(rows
        .iter()
        .map(|r| crate::rows::digest_bytes(r.as_ref()))
        .collect())
}
