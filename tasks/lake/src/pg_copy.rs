//! PostgreSQL's binary COPY format decoded straight into Arrow builders.
//!
//! `extract` reads tables by `COPY (SELECT …) TO STDOUT (FORMAT binary)`. Decoding each row into
//! a generic row object and then into cells cost a third of extract's time; here every field is
//! read from the wire bytes into its column's builder, with nothing allocated per row.
//! The format: <https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4>.

use std::sync::Arc;

use arrow_array::builder::{
    Decimal128Builder, Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, SchemaRef};
use tokio_postgres::types::Type;

use crate::error::{LakeError, Result};
use crate::rows::BATCH_ROWS;

/// How a contract column is read from PostgreSQL's binary COPY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgCol {
    I64,
    I32,
    Text,
    Ts,
    Money,
}

impl PgCol {
    pub fn of(field: &Field) -> Result<PgCol> {
        Ok(match field.data_type() {
            DataType::Int64 => PgCol::I64,
            DataType::Int32 => PgCol::I32,
            DataType::Utf8 => PgCol::Text,
            DataType::Timestamp(..) => PgCol::Ts,
            DataType::Decimal128(..) => PgCol::Money,
            other => {
                return Err(LakeError::Schema(format!(
                    "column {} of type {other} has no PostgreSQL reading",
                    field.name()
                )))
            }
        })
    }

    pub fn pg_type(self) -> Type {
        match self {
            PgCol::I64 => Type::INT8,
            PgCol::I32 => Type::INT4,
            PgCol::Text => Type::TEXT,
            PgCol::Ts => Type::TIMESTAMPTZ,
            PgCol::Money => Type::NUMERIC,
        }
    }

    /// The SELECT expression of column `name`: a cast to the type this module decodes (a text
    /// domain or enum as text, a narrower integer widened), so that the wire format is known.
    pub fn select(self, name: &str) -> String {
        match self {
            PgCol::Text => format!("{name}::text"),
            PgCol::I64 => format!("{name}::int8"),
            PgCol::I32 => format!("{name}::int4"),
            PgCol::Ts => format!("{name}::timestamptz"),
            PgCol::Money => format!("{name}::numeric"),
        }
    }
}

/// The 11-byte signature that opens binary COPY data.
const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
pub(crate) const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

enum Sink {
    I64(Int64Builder),
    I32(Int32Builder),
    Text(StringBuilder),
    Ts(TimestampMicrosecondBuilder),
    /// Decimal128 of the precision and scale given.
    Money(Decimal128Builder, u8, i8),
}

/// Binary COPY data of one query in, record batches of `schema` out. Chunks may split rows
/// anywhere; a row is decoded once all of it has arrived.
pub struct CopyDecoder {
    schema: SchemaRef,
    sinks: Vec<Sink>,
    rows: usize,
    /// Bytes of a row (or of the header) that a chunk ended in the middle of.
    carry: Vec<u8>,
    header_read: bool,
    trailer_read: bool,
    /// The column whose greatest value is the extract's watermark (`updated_at`).
    watermark_column: Option<usize>,
    watermark: Option<i64>,
}

impl CopyDecoder {
    pub fn new(schema: SchemaRef) -> Result<Self> {
        let sinks = schema
            .fields()
            .iter()
            .map(|f| {
                Ok(match PgCol::of(f)? {
                    PgCol::I64 => Sink::I64(Int64Builder::with_capacity(BATCH_ROWS)),
                    PgCol::I32 => Sink::I32(Int32Builder::with_capacity(BATCH_ROWS)),
                    PgCol::Text => {
                        Sink::Text(StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 16))
                    }
                    PgCol::Ts => Sink::Ts(TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS)),
                    PgCol::Money => match f.data_type() {
                        DataType::Decimal128(precision, scale) if *scale >= 0 => Sink::Money(
                            Decimal128Builder::with_capacity(BATCH_ROWS),
                            *precision,
                            *scale,
                        ),
                        other => {
                            return Err(LakeError::Schema(format!(
                                "column {} of type {other} has no PostgreSQL reading",
                                f.name()
                            )))
                        }
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let watermark_column = schema
            .index_of("updated_at")
            .ok()
            .filter(|&i| matches!(sinks[i], Sink::Ts(_)));
        Ok(Self {
            schema,
            sinks,
            rows: 0,
            carry: Vec::new(),
            header_read: false,
            trailer_read: false,
            watermark_column,
            watermark: None,
        })
    }

    /// The greatest `updated_at` decoded since the last call.
    pub fn take_watermark(&mut self) -> Option<i64> {
        self.watermark.take()
    }

    /// Decodes the complete rows of `chunk` (with what an earlier chunk left over), pushing every
    /// batch that fills up to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<RecordBatch>) -> Result<()> {
        if self.carry.is_empty() {
            let used = self.decode(chunk, out)?;
            self.carry.extend_from_slice(&chunk[used..]);
        } else {
            let mut data = std::mem::take(&mut self.carry);
            data.extend_from_slice(chunk);
            let used = self.decode(&data, out)?;
            data.drain(..used);
            self.carry = data;
        }
        Ok(())
    }

    /// The last, partly filled batch; an error unless the data ended with COPY's trailer.
    pub fn finish(&mut self) -> Result<Option<RecordBatch>> {
        if !self.trailer_read || !self.carry.is_empty() {
            return Err(format_error(format!(
                "the data ended without its trailer ({} bytes of an unfinished row)",
                self.carry.len()
            )));
        }
        if self.rows == 0 {
            return Ok(None);
        }
        self.flush().map(Some)
    }

    /// Decodes what `data` holds whole; returns the bytes used.
    fn decode(&mut self, data: &[u8], out: &mut Vec<RecordBatch>) -> Result<usize> {
        let mut at = 0;
        if !self.header_read {
            // signature, flags (i32), header extension length (i32), the extension
            if data.len() < SIGNATURE.len() + 8 {
                return Ok(0);
            }
            if &data[..SIGNATURE.len()] != SIGNATURE {
                return Err(format_error(
                    "the data does not open with PGCOPY's signature".into(),
                ));
            }
            let extension = read_i32(data, SIGNATURE.len() + 4) as usize;
            let end = SIGNATURE.len() + 8 + extension;
            if data.len() < end {
                return Ok(0);
            }
            self.header_read = true;
            at = end;
        }
        while at < data.len() {
            if self.trailer_read {
                return Err(format_error("data after the trailer".into()));
            }
            let Some(len) = self.row_len(&data[at..])? else {
                break;
            };
            let row = &data[at..at + len];
            at += len;
            if read_i16(row, 0) == -1 {
                self.trailer_read = true;
                continue;
            }
            self.append(row)?;
            self.rows += 1;
            if self.rows >= BATCH_ROWS {
                out.push(self.flush()?);
            }
        }
        Ok(at)
    }

    /// The length of the row (or trailer) at the start of `data` if all of it is there.
    fn row_len(&self, data: &[u8]) -> Result<Option<usize>> {
        if data.len() < 2 {
            return Ok(None);
        }
        let fields = read_i16(data, 0);
        if fields == -1 {
            return Ok(Some(2));
        }
        if fields as usize != self.sinks.len() {
            return Err(format_error(format!(
                "a row has {fields} fields, the contract {} columns",
                self.sinks.len()
            )));
        }
        let mut at = 2;
        for _ in 0..fields {
            if data.len() < at + 4 {
                return Ok(None);
            }
            let len = read_i32(data, at);
            at += 4;
            if len > 0 {
                at += len as usize;
            }
        }
        Ok((data.len() >= at).then_some(at))
    }

    /// Appends one whole row (checked by `row_len`) to the builders.
    fn append(&mut self, row: &[u8]) -> Result<()> {
        let mut at = 2;
        for (i, sink) in self.sinks.iter_mut().enumerate() {
            let len = read_i32(row, at);
            at += 4;
            if len < 0 {
                match sink {
                    Sink::I64(b) => b.append_null(),
                    Sink::I32(b) => b.append_null(),
                    Sink::Text(b) => b.append_null(),
                    Sink::Ts(b) => b.append_null(),
                    Sink::Money(b, ..) => b.append_null(),
                }
                continue;
            }
            let value = &row[at..at + len as usize];
            at += len as usize;
            let name = || self.schema.field(i).name();
            let wrong = |want: usize| {
                format_error(format!(
                    "column {} holds {} bytes, not {want}",
                    name(),
                    value.len()
                ))
            };
            match sink {
                Sink::I64(b) => {
                    b.append_value(i64::from_be_bytes(value.try_into().map_err(|_| wrong(8))?))
                }
                Sink::I32(b) => {
                    b.append_value(i32::from_be_bytes(value.try_into().map_err(|_| wrong(4))?))
                }
                Sink::Text(b) => {
                    b.append_value(std::str::from_utf8(value).map_err(|e| {
                        format_error(format!("column {} is not UTF-8: {e}", name()))
                    })?)
                }
                Sink::Ts(b) => {
                    let micros = i64::from_be_bytes(value.try_into().map_err(|_| wrong(8))?)
                        .checked_add(PG_EPOCH_MICROS)
                        .ok_or_else(|| format_error(format!("column {} is infinite", name())))?;
                    if Some(i) == self.watermark_column {
                        self.watermark = self.watermark.max(Some(micros));
                    }
                    b.append_value(micros)
                }
                Sink::Money(b, _, scale) => b.append_value(
                    numeric_scaled(value, *scale as u32)
                        .map_err(|e| format_error(format!("column {}: {e}", name())))?,
                ),
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<RecordBatch> {
        let arrays = self
            .sinks
            .iter_mut()
            .map(|s| -> Result<ArrayRef> {
                Ok(match s {
                    Sink::I64(b) => Arc::new(b.finish()),
                    Sink::I32(b) => Arc::new(b.finish()),
                    Sink::Text(b) => Arc::new(b.finish()),
                    Sink::Ts(b) => Arc::new(b.finish().with_timezone("UTC")),
                    Sink::Money(b, precision, scale) => {
                        Arc::new(b.finish().with_precision_and_scale(*precision, *scale)?)
                    }
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.rows = 0;
        Ok(RecordBatch::try_new(self.schema.clone(), arrays)?)
    }
}

fn format_error(message: String) -> LakeError {
    LakeError::CopyFormat(message)
}

fn read_i16(data: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([data[at], data[at + 1]])
}

fn read_i32(data: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

/// A binary `numeric` as an integer of `scale` decimals (cents at scale 2), rounded half away
/// from zero as `rust_decimal`'s `rescale` does. The value is Σ digitᵢ · 10000^(weight − i), its
/// digits in base 10,000.
pub fn numeric_scaled(value: &[u8], scale: u32) -> std::result::Result<i128, String> {
    const NEGATIVE: u16 = 0x4000;
    const POSITIVE: u16 = 0x0000;
    if value.len() < 8 {
        return Err(format!("a numeric of {} bytes", value.len()));
    }
    let ndigits = read_i16(value, 0);
    let weight = i32::from(read_i16(value, 2));
    let sign = u16::from_be_bytes([value[4], value[5]]);
    if sign != NEGATIVE && sign != POSITIVE {
        return Err("NaN or infinity is not an amount".into());
    }
    if ndigits < 0 || value.len() != 8 + 2 * ndigits as usize {
        return Err(format!(
            "a numeric of {ndigits} digits in {} bytes",
            value.len()
        ));
    }
    let ndigits = i32::from(ndigits);
    let overflow = || "an amount too large for its column".to_string();
    let ten_to = |n: u32| 10i128.checked_pow(n).ok_or_else(overflow);
    // The value · 10^(4 · groups after the decimal point among the digits).
    let fraction_digits = 4 * (ndigits - 1 - weight).max(0) as u32;
    let mut scaled: i128 = 0;
    for i in 0..ndigits {
        let digit = i128::from(read_i16(value, 8 + 2 * i as usize));
        scaled = scaled
            .checked_mul(10_000)
            .and_then(|s| s.checked_add(digit))
            .ok_or_else(overflow)?;
    }
    // Groups between the last digit and the decimal point are zeros.
    let trailing_zeros = 4 * (weight - (ndigits - 1)).max(0) as u32;
    let magnitude = if fraction_digits <= scale {
        scaled
            .checked_mul(ten_to(scale - fraction_digits + trailing_zeros)?)
            .ok_or_else(overflow)?
    } else {
        // More decimals than the column keeps: round on the first one dropped. A tiny value
        // with more dropped digits than i128 holds rounds to 0.
        let Ok(divisor) = ten_to(fraction_digits - scale) else {
            return Ok(0);
        };
        let (whole, rest) = (scaled / divisor, scaled % divisor);
        if rest * 2 >= divisor {
            whole + 1
        } else {
            whole
        }
    };
    Ok(if sign == NEGATIVE {
        -magnitude
    } else {
        magnitude
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: i16, weight: i16, negative: bool, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(ndigits.to_be_bytes());
        v.extend(weight.to_be_bytes());
        v.extend((if negative { 0x4000u16 } else { 0 }).to_be_bytes());
        v.extend(2u16.to_be_bytes());
        for d in digits {
            v.extend(d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numerics_become_scaled_integers() {
        let cents = |ndigits, weight, negative, digits: &[i16]| {
            numeric_scaled(&numeric(ndigits, weight, negative, digits), 2)
        };
        assert_eq!(cents(0, 0, false, &[]), Ok(0)); // 0 has no digits
        assert_eq!(cents(2, 0, false, &[12, 5000]), Ok(1250)); // 12 . 5000
        assert_eq!(
            cents(4, 2, false, &[1, 2345, 6789, 100]),
            Ok(12_345_678_901)
        );
        assert_eq!(cents(1, -1, true, &[700]), Ok(-7)); // -0.07
        assert_eq!(cents(1, 1, false, &[2]), Ok(2_000_000)); // 20000: a zero group after the 2
        assert_eq!(cents(1, -1, false, &[50]), Ok(1)); // 0.005 rounds away from zero
        assert_eq!(cents(1, -1, true, &[50]), Ok(-1));
        assert_eq!(cents(1, -1, false, &[49]), Ok(0)); // 0.0049
        assert_eq!(cents(1, -2, false, &[1]), Ok(0)); // 0.00000001
        assert_eq!(cents(1, -40, false, &[1]), Ok(0)); // 1e-160
        assert_eq!(
            numeric_scaled(&numeric(2, 0, false, &[3, 1416]), 4),
            Ok(31_416)
        );
        assert_eq!(numeric_scaled(&numeric(1, 0, false, &[3]), 0), Ok(3));
        assert!(cents(1, 40, false, &[1]).is_err()); // 1e160
        let nan = [0, 0, 0, 0, 0xC0, 0, 0, 0];
        assert!(numeric_scaled(&nan, 2).is_err());
    }
}
