//! Arrow record batches encoded straight into PostgreSQL's binary COPY format.
//!
//! `load_redshift` (postgres target) streams gold into the warehouse by
//! `COPY … FROM STDIN (FORMAT binary)`. Turning each row into generic values first (a `String` per
//! text cell, two vectors per row) cost about as much client time as the server spent storing the
//! rows; here every field goes from its Arrow column to the wire bytes, with nothing allocated per
//! row. The reverse direction (extract's `COPY … TO STDOUT`) is [`crate::pg_copy`].
//! The format: <https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4>.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Int32Type, Int64Type, TimestampMicrosecondType,
};
use arrow_array::{Array, BooleanArray, PrimitiveArray, RecordBatch, StringArray};
use arrow_schema::{DataType, TimeUnit};
use bytes::{BufMut, BytesMut};
use chrono::DateTime;
use mercado_core::calendar::from_epoch_days;
use rust_decimal::Decimal;
use tokio_postgres::types::{ToSql, Type};

use crate::error::{LakeError, Result};
use crate::pg_copy::PG_EPOCH_MICROS;

/// The stream's header: signature, flags (no OIDs), no header extension.
pub const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The stream's trailer: a tuple of -1 fields.
pub const TRAILER: &[u8] = &[0xff, 0xff];

/// PostgreSQL's epoch (2000-01-01) after Unix's, in days.
const PG_EPOCH_DAYS: i32 = 10_957;

/// How one target column is written: which PostgreSQL type takes which Arrow type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    Int4,
    Int8,
    Text,
    Numeric,
    Timestamp,
    Date,
    Bool,
}

impl Wire {
    fn of(column: &str, arrow: &DataType, pg: &Type) -> Result<Wire> {
        let wire = match arrow {
            DataType::Int32 if *pg == Type::INT4 => Wire::Int4,
            DataType::Int64 if *pg == Type::INT8 => Wire::Int8,
            DataType::Utf8 if [Type::TEXT, Type::VARCHAR, Type::BPCHAR].contains(pg) => Wire::Text,
            DataType::Decimal128(..) if *pg == Type::NUMERIC => Wire::Numeric,
            DataType::Timestamp(TimeUnit::Microsecond, _)
                if [Type::TIMESTAMPTZ, Type::TIMESTAMP].contains(pg) =>
            {
                Wire::Timestamp
            }
            DataType::Date32 if *pg == Type::DATE => Wire::Date,
            DataType::Boolean if *pg == Type::BOOL => Wire::Bool,
            _ => {
                return Err(LakeError::Schema(format!(
                    "column {column}: Arrow {arrow} cannot be copied into PostgreSQL {pg}; \
                     make the gold contract and the warehouse DDL agree"
                )))
            }
        };
        Ok(wire)
    }
}

/// One batch's column, typed for writing.
enum Source<'a> {
    Int4(&'a PrimitiveArray<Int32Type>),
    Int8(&'a PrimitiveArray<Int64Type>),
    Text(&'a StringArray),
    Numeric(&'a PrimitiveArray<Decimal128Type>, u32),
    Timestamp(&'a PrimitiveArray<TimestampMicrosecondType>),
    Date(&'a PrimitiveArray<Date32Type>),
    Bool(&'a BooleanArray),
}

/// Encodes record batches as the tuples of one COPY: the target's columns in the COPY's order,
/// each found in a batch by name.
#[derive(Debug, Clone)]
pub struct CopyEncoder {
    table: String,
    columns: Vec<(String, Type)>,
    wires: Option<Vec<Wire>>,
}

impl CopyEncoder {
    /// `columns`: the COPY's column list with the target's types (e.g. from a prepared
    /// `SELECT cols FROM table`); `table` names the target in errors.
    pub fn new(table: &str, columns: Vec<(String, Type)>) -> Self {
        Self {
            table: table.to_string(),
            columns,
            wires: None,
        }
    }

    /// Appends the batch's rows to `out`; returns how many. A value PostgreSQL's type cannot hold
    /// (a timestamp or date out of its range) is refused with the row's number, never nulled.
    pub fn encode(&mut self, batch: &RecordBatch, out: &mut BytesMut) -> Result<u64> {
        let wires = match &self.wires {
            Some(w) => w.clone(),
            None => {
                let mut w = Vec::with_capacity(self.columns.len());
                for (name, pg) in &self.columns {
                    let arrow = self.column(batch, name)?.data_type().clone();
                    w.push(Wire::of(name, &arrow, pg)?);
                }
                self.wires = Some(w.clone());
                w
            }
        };
        let mut sources = Vec::with_capacity(wires.len());
        for ((name, _), wire) in self.columns.iter().zip(&wires) {
            let c = self.column(batch, name)?;
            sources.push(match (wire, c.data_type()) {
                (Wire::Int4, DataType::Int32) => Source::Int4(c.as_primitive()),
                (Wire::Int8, DataType::Int64) => Source::Int8(c.as_primitive()),
                (Wire::Text, DataType::Utf8) => Source::Text(c.as_string()),
                (Wire::Numeric, DataType::Decimal128(_, scale)) => {
                    Source::Numeric(c.as_primitive(), u32::try_from(*scale).unwrap_or(0))
                }
                (Wire::Timestamp, DataType::Timestamp(TimeUnit::Microsecond, _)) => {
                    Source::Timestamp(c.as_primitive())
                }
                (Wire::Date, DataType::Date32) => Source::Date(c.as_primitive()),
                (Wire::Bool, DataType::Boolean) => Source::Bool(c.as_boolean()),
                (_, other) => {
                    return Err(LakeError::Schema(format!(
                        "{}: column {name} changed type to {other} between batches",
                        self.table
                    )))
                }
            });
        }
        let fields = i16::try_from(sources.len()).map_err(|_| {
            LakeError::Schema(format!("{}: too many columns for one COPY", self.table))
        })?;
        for row in 0..batch.num_rows() {
            out.put_i16(fields);
            for (source, (name, _)) in sources.iter().zip(&self.columns) {
                write_field(source, row, out).map_err(|why| {
                    LakeError::Invariant(format!(
                        "{}: a record refused, nothing loaded: column {name} of the batch's row \
                         {row}: {why}",
                        self.table
                    ))
                })?;
            }
        }
        Ok(batch.num_rows() as u64)
    }

    fn column<'b>(&self, batch: &'b RecordBatch, name: &str) -> Result<&'b dyn Array> {
        batch
            .column_by_name(name)
            .map(|c| c.as_ref())
            .ok_or_else(|| {
                LakeError::Schema(format!(
                    "{}: the Parquet has no column {name} that the COPY lists",
                    self.table
                ))
            })
    }
}

fn write_field(
    source: &Source<'_>,
    row: usize,
    out: &mut BytesMut,
) -> std::result::Result<(), String> {
    let null = match source {
        Source::Int4(a) => a.is_null(row),
        Source::Int8(a) => a.is_null(row),
        Source::Text(a) => a.is_null(row),
        Source::Numeric(a, _) => a.is_null(row),
        Source::Timestamp(a) => a.is_null(row),
        Source::Date(a) => a.is_null(row),
        Source::Bool(a) => a.is_null(row),
    };
    if null {
        out.put_i32(-1);
        return Ok(());
    }
    match source {
        Source::Int4(a) => {
            out.put_i32(4);
            out.put_i32(a.value(row));
        }
        Source::Int8(a) => {
            out.put_i32(8);
            out.put_i64(a.value(row));
        }
        Source::Text(a) => {
            let s = a.value(row).as_bytes();
            out.put_i32(i32::try_from(s.len()).map_err(|_| "text longer than 2 GiB".to_string())?);
            out.put_slice(s);
        }
        Source::Numeric(a, scale) => {
            let d = Decimal::try_from_i128_with_scale(a.value(row), *scale)
                .map_err(|e| format!("decimal {} (scale {scale}): {e}", a.value(row)))?;
            // rust_decimal writes NUMERIC's binary form; its length goes in front.
            let at = out.len();
            out.put_i32(0);
            d.to_sql(&Type::NUMERIC, out).map_err(|e| e.to_string())?;
            let len =
                i32::try_from(out.len() - at - 4).map_err(|_| "numeric too long".to_string())?;
            out[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        Source::Timestamp(a) => {
            let micros = a.value(row);
            // The range chrono (and so the row path before this one) accepts.
            DateTime::from_timestamp_micros(micros)
                .ok_or_else(|| format!("timestamp {micros} µs since 1970 is out of range"))?;
            let pg = micros
                .checked_sub(PG_EPOCH_MICROS)
                .ok_or_else(|| format!("timestamp {micros} µs since 1970 is out of range"))?;
            out.put_i32(8);
            out.put_i64(pg);
        }
        Source::Date(a) => {
            let days = a.value(row);
            from_epoch_days(days)
                .ok_or_else(|| format!("date {days} days since 1970 is out of range"))?;
            out.put_i32(4);
            out.put_i32(days - PG_EPOCH_DAYS);
        }
        Source::Bool(a) => {
            out.put_i32(1);
            out.put_u8(u8::from(a.value(row)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Date32Array, Decimal128Array, Int64Array, TimestampMicrosecondArray};
    use arrow_schema::{Field, Schema};
    use std::sync::Arc;

    fn batch(ts: i64, date: i32) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("day", DataType::Date32, true),
            Field::new("price", DataType::Decimal128(18, 2), true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from(vec![7])),
                Arc::new(TimestampMicrosecondArray::from(vec![ts]).with_timezone("UTC")),
                Arc::new(Date32Array::from(vec![date])),
                Arc::new(
                    Decimal128Array::from(vec![Some(12345)])
                        .with_precision_and_scale(18, 2)
                        .expect("test value"),
                ),
            ],
        )
        .expect("test value")
    }

    fn columns() -> Vec<(String, Type)> {
        vec![
            ("price".into(), Type::NUMERIC),
            ("id".into(), Type::INT8),
            ("day".into(), Type::DATE),
            ("at".into(), Type::TIMESTAMPTZ),
        ]
    }

    #[test]
    fn header_is_signature_flags_and_extension_length() {
        assert_eq!(HEADER.len(), 11 + 4 + 4);
        assert_eq!(&HEADER[..11], b"PGCOPY\n\xff\r\n\0");
    }

    #[test]
    fn fields_are_written_by_name_in_the_copy_order() {
        let mut enc = CopyEncoder::new("t", columns());
        let mut out = BytesMut::new();
        // 2000-01-02 00:00:01 UTC and 2000-01-03.
        let ts = PG_EPOCH_MICROS + 86_400_000_000 + 1_000_000;
        assert_eq!(
            enc.encode(&batch(ts, PG_EPOCH_DAYS + 2), &mut out)
                .expect("test value"),
            1
        );
        let mut numeric = BytesMut::new();
        Decimal::from_i128_with_scale(12345, 2)
            .to_sql(&Type::NUMERIC, &mut numeric)
            .expect("test value");
        let mut want = BytesMut::new();
        want.put_i16(4);
        want.put_i32(numeric.len() as i32);
        want.put_slice(&numeric);
        want.put_i32(8);
        want.put_i64(7);
        want.put_i32(4);
        want.put_i32(2);
        want.put_i32(8);
        want.put_i64(86_400_000_000 + 1_000_000);
        assert_eq!(out, want);
    }

    #[test]
    fn values_postgres_cannot_hold_are_refused_not_nulled() {
        let mut enc = CopyEncoder::new("t", columns());
        let why = enc
            .encode(&batch(i64::MAX, 0), &mut BytesMut::new())
            .expect_err("refused")
            .to_string();
        assert!(
            why.contains("column at") && why.contains("out of range"),
            "{why}"
        );
        let why = enc
            .encode(&batch(0, i32::MAX), &mut BytesMut::new())
            .expect_err("refused")
            .to_string();
        assert!(
            why.contains("column day") && why.contains("out of range"),
            "{why}"
        );
    }

    #[test]
    fn a_type_the_target_cannot_take_is_a_schema_error() {
        let mut enc = CopyEncoder::new("t", vec![("id".into(), Type::INT4)]);
        let why = enc
            .encode(&batch(0, 0), &mut BytesMut::new())
            .expect_err("refused")
            .to_string();
        assert!(why.contains("column id") && why.contains("Int64"), "{why}");
    }
}
