//! Parsing of raw transactions and carts: the JSON lines (a fast borrowed path, and the general
//! one with the same rules), the line and order rules, and the cart's.

use std::borrow::Cow;

use arrow_array::{RecordBatch, StringArray};
use chrono::{DateTime, NaiveDate, Utc};
use mercado_core::limits::MAX_QTY;
use mercado_core::money::parse_cents as parse_money;
use rustc_hash::FxHashSet as HashSet;
use serde_json::Value as Json;

use super::{reject, text, text_column, Known, Reject};
use crate::error::{LakeError, Result};
use crate::reason::Reason;

pub(super) struct Line {
    pub(super) line_no: i32,
    pub(super) item_id: i64,
    pub(super) vendor_id: i64,
    pub(super) qty: i64,
    pub(super) unit_price: i128,
    pub(super) total_price: i128,
}

pub(super) struct Txn {
    pub(super) id: String,
    pub(super) customer_id: i64,
    pub(super) installments: i32,
    pub(super) created_at: i64,
    pub(super) total: i128,
    pub(super) lines: Vec<Line>,
}

/// The text cells of one raw transaction.
pub(super) struct RawTxn<'a> {
    pub(super) user_id: Option<&'a str>,
    pub(super) total_price: Option<&'a str>,
    pub(super) installments: Option<&'a str>,
    pub(super) created_at: Option<&'a str>,
    pub(super) lines: Option<&'a str>,
}

/// The raw transactions' columns of one batch, by name.
pub(super) struct RawTexts<'b> {
    pub(super) columns: [&'b StringArray; 6],
}

/// The trimmed `transaction_id` of row `i` of the raw column, if it has one.
pub(super) fn trimmed_id(column: &StringArray, i: usize) -> Option<&str> {
    text(column, i).map(str::trim).filter(|s| !s.is_empty())
}

/// Column order of [`RawTexts`]: the raw contract's names.
pub(super) const RAW_TXN_COLUMNS: [&str; 6] = [
    "transaction_id",
    "user_id",
    "total_price",
    "installments",
    "created_at",
    "lines",
];

impl<'b> RawTexts<'b> {
    pub(super) fn of(batch: &'b RecordBatch) -> Result<Self> {
        let mut columns = Vec::with_capacity(RAW_TXN_COLUMNS.len());
        for name in RAW_TXN_COLUMNS {
            columns.push(text_column(batch, name)?);
        }
        let columns = columns
            .try_into()
            .map_err(|_| LakeError::Schema("raw transactions: columns".into()))?;
        Ok(Self { columns })
    }

    /// The trimmed `transaction_id` of row `i`, if it has one.
    pub(super) fn id(&self, i: usize) -> Option<&'b str> {
        trimmed_id(self.columns[0], i)
    }

    pub(super) fn transaction(&self, i: usize) -> RawTxn<'b> {
        RawTxn {
            user_id: text(self.columns[1], i),
            total_price: text(self.columns[2], i),
            installments: text(self.columns[3], i),
            created_at: text(self.columns[4], i),
            lines: text(self.columns[5], i),
        }
    }
}

pub(super) fn positive_id(text: Option<&str>) -> Option<i64> {
    text?.trim().parse::<i64>().ok().filter(|v| *v > 0)
}

/// A line's field as the JSON has it: text, or a number (read as its JSON text).
#[derive(Debug)]
pub(super) enum Scalar<'a> {
    Text(std::borrow::Cow<'a, str>),
    Number(serde_json::Number),
    /// Anything else (null, bool, array, object): no usable value, as in the general path.
    Other,
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Self::Value, E> {
                Ok(Scalar::Text(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(Scalar::Text(std::borrow::Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> std::result::Result<Self::Value, E> {
                Ok(Scalar::Text(std::borrow::Cow::Owned(v)))
            }
            fn visit_i64<E>(self, v: i64) -> std::result::Result<Self::Value, E> {
                Ok(Scalar::Number(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> std::result::Result<Self::Value, E> {
                Ok(Scalar::Number(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> std::result::Result<Self::Value, E> {
                Ok(serde_json::Number::from_f64(v).map_or(Scalar::Other, Scalar::Number))
            }
            fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
                Ok(Scalar::Other)
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<Self::Value, E> {
                Ok(Scalar::Other)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// One line as the fast path reads it: the fields clean uses, borrowed from the JSON text.
#[derive(serde::Deserialize)]
pub(super) struct FastLine<'a> {
    #[serde(borrow, default)]
    pub(super) line_no: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    pub(super) item_id: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    pub(super) vendor_id: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    pub(super) qty: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    pub(super) unit_price: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    pub(super) total_price: Option<Scalar<'a>>,
}

/// A line's fields, whichever path read them.
pub(super) trait LineFields {
    fn text(&self, field: &str) -> Option<Cow<'_, str>>;
    fn int(&self, field: &str) -> Option<i64> {
        self.text(field)?.trim().parse().ok()
    }
}

impl LineFields for Json {
    fn text(&self, field: &str) -> Option<Cow<'_, str>> {
        match self.get(field)? {
            Json::String(s) => Some(Cow::Borrowed(s)),
            Json::Number(n) => Some(Cow::Owned(n.to_string())),
            _ => None,
        }
    }
}

impl LineFields for FastLine<'_> {
    fn text(&self, field: &str) -> Option<Cow<'_, str>> {
        let v = match field {
            "line_no" => &self.line_no,
            "item_id" => &self.item_id,
            "vendor_id" => &self.vendor_id,
            "qty" => &self.qty,
            "unit_price" => &self.unit_price,
            "total_price" => &self.total_price,
            _ => return None,
        };
        match v.as_ref()? {
            Scalar::Text(t) => Some(Cow::Borrowed(t.as_ref())),
            Scalar::Number(n) => Some(Cow::Owned(n.to_string())),
            Scalar::Other => None,
        }
    }
}

pub(super) fn parse_line(
    v: &impl LineFields,
    known: &Known,
    position: usize,
) -> Result<Line, Reject> {
    let at = || format!("line {}", position + 1);
    let item_id = v
        .int("item_id")
        .ok_or_else(|| reject(Reason::BadLine, format!("{}: item_id missing", at())))?;
    let vendor_id = v
        .int("vendor_id")
        .ok_or_else(|| reject(Reason::BadLine, format!("{}: vendor_id missing", at())))?;
    let qty = v.int("qty").ok_or_else(|| {
        reject(
            Reason::BadQty,
            format!("{}: qty missing or not an integer", at()),
        )
    })?;
    if !(1..=MAX_QTY).contains(&qty) {
        return Err(reject(
            Reason::BadQty,
            format!("{}: qty {qty} is outside 1..={MAX_QTY}", at()),
        ));
    }
    let unit_price = v
        .text("unit_price")
        .and_then(|t| parse_money(&t))
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            reject(
                Reason::BadPrice,
                format!("{}: unit_price missing or not a positive amount", at()),
            )
        })?;
    let total_price = v
        .text("total_price")
        .and_then(|t| parse_money(&t))
        .ok_or_else(|| {
            reject(
                Reason::BadPrice,
                format!("{}: total_price missing or not an amount", at()),
            )
        })?;
    if total_price != unit_price * i128::from(qty) {
        return Err(reject(
            Reason::LineTotalMismatch,
            format!("{}: total_price is not unit_price × qty", at()),
        ));
    }
    match known.items.get(&item_id) {
        None => {
            return Err(reject(
                Reason::UnknownItem,
                format!("{}: item {item_id} is not in inventory", at()),
            ))
        }
        Some(v) if *v != vendor_id => {
            return Err(reject(
                Reason::VendorMismatch,
                format!(
                    "{}: item {item_id} is sold by vendor {v}, not {vendor_id}",
                    at()
                ),
            ))
        }
        Some(_) => {}
    }
    let line_no = v.int("line_no").unwrap_or(position as i64 + 1);
    Ok(Line {
        line_no: i32::try_from(line_no)
            .map_err(|_| reject(Reason::BadLine, format!("{}: line_no out of range", at())))?,
        item_id,
        vendor_id,
        qty,
        unit_price,
        total_price,
    })
}

pub(super) fn parse_lines(text: Option<&str>, known: &Known) -> Result<Vec<Line>, Reject> {
    let text = text.ok_or_else(|| reject(Reason::BadLines, "lines is missing or not JSON"))?;
    // Fast path: an array of objects read into borrowed fields. Anything it does not take (an
    // element that is not an object, a repeated key) goes the general way, with the same rules.
    if let Ok(lines) = serde_json::from_str::<Vec<FastLine<'_>>>(text) {
        if lines.is_empty() {
            return Err(reject(Reason::BadLines, "lines is empty"));
        }
        return lines
            .iter()
            .enumerate()
            .map(|(i, l)| parse_line(l, known, i))
            .collect();
    }
    let lines: Json = serde_json::from_str(text)
        .map_err(|_| reject(Reason::BadLines, "lines is missing or not JSON"))?;
    let lines = lines
        .as_array()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| reject(Reason::BadLines, "lines is empty"))?;
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| parse_line(l, known, i))
        .collect()
}

pub(super) fn parse_time(text: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text?.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A raw `user_id` that is an id of an accepted customer.
pub(super) fn known_customer(text: Option<&str>, known: &Known) -> Result<i64, Reject> {
    let id = positive_id(text).ok_or_else(|| {
        reject(
            Reason::BadCustomerId,
            format!("user_id {text:?} is not an id"),
        )
    })?;
    if known.customers.contains(&id) {
        Ok(id)
    } else {
        Err(reject(
            Reason::UnknownCustomer,
            format!("customer {id} is not a known customer"),
        ))
    }
}

pub(super) fn parse_transaction(
    id: &str,
    raw: &RawTxn<'_>,
    date: NaiveDate,
    known: &Known,
) -> Result<Txn, Reject> {
    let customer_id = known_customer(raw.user_id, known)?;
    let installments = match raw.installments {
        None => 1,
        Some(t) => t
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                reject(
                    Reason::BadInstallments,
                    format!("installments {t:?} is not a positive integer"),
                )
            })?,
    };
    let created_at = parse_time(raw.created_at).ok_or_else(|| {
        reject(
            Reason::BadTimestamp,
            format!("created_at {:?} is not RFC 3339", raw.created_at),
        )
    })?;
    if created_at.date_naive() != date {
        return Err(reject(
            Reason::WrongDate,
            format!("created_at {created_at} is not on {date}"),
        ));
    }
    let lines = parse_lines(raw.lines, known)?;
    let total = raw
        .total_price
        .and_then(parse_money)
        .filter(|t| *t > 0)
        .ok_or_else(|| {
            reject(
                Reason::BadTotal,
                format!("total_price {:?} is not a positive amount", raw.total_price),
            )
        })?;
    let sum: i128 = lines.iter().map(|l| l.total_price).sum();
    if sum != total {
        return Err(reject(
            Reason::TotalMismatch,
            format!("lines add up to {sum} cents, total_price is {total} cents"),
        ));
    }
    Ok(Txn {
        id: id.to_string(),
        customer_id,
        installments,
        created_at: created_at.timestamp_micros(),
        total,
        lines,
    })
}

/// The text cells of one raw cart.
pub(super) struct RawCart<'a> {
    pub(super) user_id: Option<&'a str>,
    pub(super) updated_at: Option<&'a str>,
    pub(super) lines: Option<&'a str>,
}

pub(super) type Cart = (i64, i64, Vec<Line>);

pub(super) fn parse_cart(raw: &RawCart<'_>, known: &Known) -> Result<Cart, Reject> {
    let customer = known_customer(raw.user_id, known)?;
    let updated_at = parse_time(raw.updated_at).ok_or_else(|| {
        reject(
            Reason::BadTimestamp,
            format!("updated_at {:?} is not RFC 3339", raw.updated_at),
        )
    })?;
    let lines = parse_lines(raw.lines, known)?;
    let mut items = HashSet::default();
    if let Some(l) = lines.iter().find(|l| !items.insert(l.item_id)) {
        return Err(reject(
            Reason::RepeatedItem,
            format!("item {} is on more than one line of the cart", l.item_id),
        ));
    }
    Ok((customer, updated_at.timestamp_micros(), lines))
}
