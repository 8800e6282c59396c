//! Row-at-a-time building of Arrow record batches against a contract's schema, and typed reads of
//! columns by name. Tasks think in rows; this keeps the Arrow plumbing in one place.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Decimal128Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Int32Type, Int64Type, TimestampMicrosecondType,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, SchemaRef, TimeUnit};

use crate::contracts::{MONEY_PRECISION, MONEY_SCALE};
use crate::error::{LakeError, Result};

/// Rows per record batch, read or written: small enough that the batches in flight between the
/// decoding, working and encoding threads stay a few MiB.
pub const BATCH_ROWS: usize = 16_384;

/// One value of a row. Money is the unscaled integer at scale 2 (`1250` is 12.50); timestamps are
/// microseconds since the epoch; dates are days since the epoch.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Null,
    I32(i32),
    I64(i64),
    Str(&'a str),
    Money(i128),
    Ts(i64),
    Date(i32),
    Bool(bool),
}

enum Col {
    I32(Int32Builder),
    I64(Int64Builder),
    Str(StringBuilder),
    Money(Decimal128Builder),
    Ts(TimestampMicrosecondBuilder),
    Date(Date32Builder),
    Bool(BooleanBuilder),
}

/// Accumulates rows; hands out a [`RecordBatch`] every [`BATCH_ROWS`] rows.
pub struct BatchBuilder {
    schema: SchemaRef,
    cols: Vec<Col>,
    rows: usize,
}

impl BatchBuilder {
    pub fn new(schema: SchemaRef) -> Result<Self> {
        let cols = schema
            .fields()
            .iter()
            .map(|f| {
                Ok(match f.data_type() {
                    DataType::Int32 => Col::I32(Int32Builder::with_capacity(BATCH_ROWS)),
                    DataType::Int64 => Col::I64(Int64Builder::with_capacity(BATCH_ROWS)),
                    DataType::Utf8 => {
                        Col::Str(StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 16))
                    }
                    DataType::Decimal128(..) => {
                        Col::Money(Decimal128Builder::with_capacity(BATCH_ROWS))
                    }
                    DataType::Timestamp(TimeUnit::Microsecond, _) => {
                        Col::Ts(TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS))
                    }
                    DataType::Date32 => Col::Date(Date32Builder::with_capacity(BATCH_ROWS)),
                    DataType::Boolean => Col::Bool(BooleanBuilder::with_capacity(BATCH_ROWS)),
                    other => {
                        return Err(LakeError::Schema(format!(
                            "unsupported column type {other}"
                        )))
                    }
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            schema,
            cols,
            rows: 0,
        })
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Appends one row; returns a full batch when one is ready.
    pub fn push(&mut self, row: &[Cell<'_>]) -> Result<Option<RecordBatch>> {
        if row.len() != self.cols.len() {
            return Err(LakeError::Schema(format!(
                "row has {} values, schema has {} columns",
                row.len(),
                self.cols.len()
            )));
        }
        for (i, (col, cell)) in self.cols.iter_mut().zip(row).enumerate() {
            match (col, cell) {
                (Col::I32(b), Cell::I32(v)) => b.append_value(*v),
                (Col::I64(b), Cell::I64(v)) => b.append_value(*v),
                (Col::Str(b), Cell::Str(v)) => b.append_value(v),
                (Col::Money(b), Cell::Money(v)) => b.append_value(*v),
                (Col::Ts(b), Cell::Ts(v)) => b.append_value(*v),
                (Col::Date(b), Cell::Date(v)) => b.append_value(*v),
                (Col::Bool(b), Cell::Bool(v)) => b.append_value(*v),
                (Col::I32(b), Cell::Null) => b.append_null(),
                (Col::I64(b), Cell::Null) => b.append_null(),
                (Col::Str(b), Cell::Null) => b.append_null(),
                (Col::Money(b), Cell::Null) => b.append_null(),
                (Col::Ts(b), Cell::Null) => b.append_null(),
                (Col::Date(b), Cell::Null) => b.append_null(),
                (Col::Bool(b), Cell::Null) => b.append_null(),
                (_, cell) => {
                    return Err(LakeError::Schema(format!(
                        "column {} ({}) cannot hold {cell:?}",
                        self.schema.field(i).name(),
                        self.schema.field(i).data_type()
                    )))
                }
            }
        }
        self.rows += 1;
        if self.rows >= BATCH_ROWS {
            self.flush().map(Some)
        } else {
            Ok(None)
        }
    }

    /// The rows pushed since the last batch, if any.
    pub fn finish(&mut self) -> Result<Option<RecordBatch>> {
        if self.rows == 0 {
            Ok(None)
        } else {
            self.flush().map(Some)
        }
    }

    fn flush(&mut self) -> Result<RecordBatch> {
        let arrays = self
            .cols
            .iter_mut()
            .map(|c| -> Result<ArrayRef> {
                Ok(match c {
                    Col::I32(b) => Arc::new(b.finish()),
                    Col::I64(b) => Arc::new(b.finish()),
                    Col::Str(b) => Arc::new(b.finish()),
                    Col::Money(b) => Arc::new(
                        b.finish()
                            .with_precision_and_scale(MONEY_PRECISION, MONEY_SCALE)?,
                    ),
                    Col::Ts(b) => Arc::new(b.finish().with_timezone("UTC")),
                    Col::Date(b) => Arc::new(b.finish()),
                    Col::Bool(b) => Arc::new(b.finish()),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.rows = 0;
        Ok(RecordBatch::try_new(self.schema.clone(), arrays)?)
    }
}

/// Typed, by-name access to the columns of a batch written under a contract.
pub struct Columns<'a> {
    batch: &'a RecordBatch,
}

impl<'a> Columns<'a> {
    pub fn new(batch: &'a RecordBatch) -> Self {
        Self { batch }
    }

    fn col(&self, name: &str) -> Result<&'a ArrayRef> {
        self.batch
            .column_by_name(name)
            .ok_or_else(|| LakeError::Schema(format!("column {name} missing")))
    }

    fn check(&self, name: &str, want: &str, ok: bool) -> Result<()> {
        if ok {
            Ok(())
        } else {
            Err(LakeError::Schema(format!("column {name} is not {want}")))
        }
    }

    pub fn str(&self, name: &str) -> Result<&'a arrow_array::StringArray> {
        let c = self.col(name)?;
        self.check(name, "Utf8", c.data_type() == &DataType::Utf8)?;
        Ok(c.as_string::<i32>())
    }

    pub fn i64(&self, name: &str) -> Result<&'a arrow_array::PrimitiveArray<Int64Type>> {
        let c = self.col(name)?;
        self.check(name, "Int64", c.data_type() == &DataType::Int64)?;
        Ok(c.as_primitive::<Int64Type>())
    }

    pub fn i32(&self, name: &str) -> Result<&'a arrow_array::PrimitiveArray<Int32Type>> {
        let c = self.col(name)?;
        self.check(name, "Int32", c.data_type() == &DataType::Int32)?;
        Ok(c.as_primitive::<Int32Type>())
    }

    pub fn money(&self, name: &str) -> Result<&'a arrow_array::PrimitiveArray<Decimal128Type>> {
        let c = self.col(name)?;
        self.check(
            name,
            "Decimal128",
            matches!(c.data_type(), DataType::Decimal128(..)),
        )?;
        Ok(c.as_primitive::<Decimal128Type>())
    }

    pub fn ts(
        &self,
        name: &str,
    ) -> Result<&'a arrow_array::PrimitiveArray<TimestampMicrosecondType>> {
        let c = self.col(name)?;
        self.check(
            name,
            "Timestamp(us)",
            matches!(c.data_type(), DataType::Timestamp(TimeUnit::Microsecond, _)),
        )?;
        Ok(c.as_primitive::<TimestampMicrosecondType>())
    }

    pub fn date(&self, name: &str) -> Result<&'a arrow_array::PrimitiveArray<Date32Type>> {
        let c = self.col(name)?;
        self.check(name, "Date32", c.data_type() == &DataType::Date32)?;
        Ok(c.as_primitive::<Date32Type>())
    }

    pub fn bool(&self, name: &str) -> Result<&'a arrow_array::BooleanArray> {
        let c = self.col(name)?;
        self.check(name, "Boolean", c.data_type() == &DataType::Boolean)?;
        Ok(c.as_boolean())
    }
}

/// Where a contract's columns are in its rows, read by name: [`Layout::get`] gives a column's
/// value, null when the row has no such column (a misspelt name then fails the task's tests, never
/// reads another column).
#[derive(Debug, Clone)]
pub struct Layout {
    names: Vec<String>,
}

static NULL: Val = Val::Null;

impl Layout {
    pub fn of(contract: crate::contracts::Contract) -> Layout {
        Layout {
            names: contract.column_names(),
        }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The position of column `name`.
    pub fn pos(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Column `name` of `row`.
    pub fn get<'r>(&self, row: &'r [Val], name: &str) -> &'r Val {
        self.pos(name).and_then(|i| row.get(i)).unwrap_or(&NULL)
    }

    /// Replaces column `name` of `row`.
    pub fn set(&self, row: &mut [Val], name: &str, value: Val) {
        if let Some(slot) = self.pos(name).and_then(|i| row.get_mut(i)) {
            *slot = value;
        }
    }

    /// The named columns of `row`, in the order asked.
    pub fn project(&self, row: &[Val], names: &[&str]) -> Vec<Val> {
        names.iter().map(|n| self.get(row, n).clone()).collect()
    }
}

/// An owned [`Cell`], for rows kept beyond their batch (dimensions, SCD2 history).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Val {
    Null,
    I32(i32),
    I64(i64),
    Str(String),
    Money(i128),
    Ts(i64),
    Date(i32),
    Bool(bool),
}

impl Val {
    pub fn cell(&self) -> Cell<'_> {
        match self {
            Val::Null => Cell::Null,
            Val::I32(v) => Cell::I32(*v),
            Val::I64(v) => Cell::I64(*v),
            Val::Str(v) => Cell::Str(v),
            Val::Money(v) => Cell::Money(*v),
            Val::Ts(v) => Cell::Ts(*v),
            Val::Date(v) => Cell::Date(*v),
            Val::Bool(v) => Cell::Bool(*v),
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Val::I64(v) => Some(*v),
            Val::I32(v) => Some(i64::from(*v)),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_money(&self) -> Option<i128> {
        match self {
            Val::Money(v) => Some(*v),
            _ => None,
        }
    }

    pub fn as_ts(&self) -> Option<i64> {
        match self {
            Val::Ts(v) => Some(*v),
            _ => None,
        }
    }

    /// JSON for quarantine records: what the row held, readable.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Val::Null => serde_json::Value::Null,
            Val::I32(v) => (*v).into(),
            Val::I64(v) => (*v).into(),
            Val::Str(v) => v.clone().into(),
            Val::Money(v) => format_money(*v).into(),
            Val::Ts(v) => chrono::DateTime::from_timestamp_micros(*v)
                .map_or(serde_json::Value::Null, |t| t.to_rfc3339().into()),
            Val::Date(v) => (*v).into(),
            Val::Bool(v) => (*v).into(),
        }
    }
}

pub use mercado_core::money::format_cents as format_money;

/// Every row of a batch as owned values, in schema order.
pub fn batch_rows(batch: &RecordBatch) -> Result<Vec<Vec<Val>>> {
    let cols = Columns::new(batch);
    let schema = batch.schema();
    let mut getters: Vec<Box<dyn Fn(usize) -> Val + '_>> = Vec::new();
    for f in schema.fields() {
        let name = f.name();
        getters.push(match f.data_type() {
            DataType::Int32 => {
                let a = cols.i32(name)?;
                Box::new(move |i| {
                    if a.is_null(i) {
                        Val::Null
                    } else {
                        Val::I32(a.value(i))
                    }
                })
            }
            DataType::Int64 => {
                let a = cols.i64(name)?;
                Box::new(move |i| {
                    if a.is_null(i) {
                        Val::Null
                    } else {
                        Val::I64(a.value(i))
                    }
                })
            }
            DataType::Utf8 => {
                let a = cols.str(name)?;
                Box::new(move |i| {
                    if a.is_null(i) {
                        Val::Null
                    } else {
                        Val::Str(a.value(i).to_string())
                    }
                })
            }
            DataType::Decimal128(..) => {
                let a = cols.money(name)?;
                Box::new(move |i| {
                    if a.is_null(i) {
                        Val::Null
                    } else {
                        Val::Money(a.value(i))
                    }
                })
            }
            DataType::Timestamp(..) => {
                let a = cols.ts(name)?;
                Box::new(move |i| {
                    if a.is_null(i) {
                        Val::Null
                    } else {
                        Val::Ts(a.value(i))
                    }
                })
            }
            DataType::Date32 => {
                let a = cols.date(name)?;
                Box::new(move |i| {
                    if a.is_null(i) {
                        Val::Null
                    } else {
                        Val::Date(a.value(i))
                    }
                })
            }
            DataType::Boolean => {
                let a = cols.bool(name)?;
                Box::new(move |i| {
                    if a.is_null(i) {
                        Val::Null
                    } else {
                        Val::Bool(a.value(i))
                    }
                })
            }
            other => {
                return Err(LakeError::Schema(format!(
                    "unsupported column type {other}"
                )))
            }
        });
    }
    Ok((0..batch.num_rows())
        .map(|i| getters.iter().map(|g| g(i)).collect())
        .collect())
}

/// Builds a row of cells from owned values.
pub fn cells(vals: &[Val]) -> Vec<Cell<'_>> {
    vals.iter().map(Val::cell).collect()
}

/// A 128-bit digest of an id (two independent 64-bit SipHash values): sets of a day's ids hold
/// 16 bytes each, and a collision is beyond practical odds.
pub fn digest(id: &str) -> u128 {
    digest_bytes(id.as_bytes())
}

/// [`digest`] of any bytes.
pub fn digest_bytes(bytes: &[u8]) -> u128 {
    use std::hash::{Hash, Hasher};
    let mut a = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut a);
    let mut b = std::collections::hash_map::DefaultHasher::new();
    (0x5eed_u16, bytes).hash(&mut b);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}
