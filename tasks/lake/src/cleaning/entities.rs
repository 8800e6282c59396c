//! The rules of the entity datasets (categories, vendors, customers, inventory): columns read by
//! name, one verdict per row, and the standardized columns accepted rows leave with.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Int32Type};
use arrow_array::{Array, Int32Array, RecordBatch, StringArray};

use super::{reject, text, text_column, Checked, Known, Reject};
use crate::columnar::{column, ids};
use crate::error::Result;
use crate::reason::Reason;

/// Column `name` trimmed (nulls stay null).
pub(super) fn trimmed(batch: &RecordBatch, name: &str) -> Result<StringArray> {
    Ok(text_column(batch, name)?
        .iter()
        .map(|v| v.map(str::trim))
        .collect())
}

/// `code` unless row `i` of a trimmed column has text.
pub(super) fn required(
    column: &StringArray,
    name: &str,
    i: usize,
    code: Reason,
) -> Result<(), Reject> {
    match text(column, i) {
        Some(t) if !t.is_empty() => Ok(()),
        _ => Err(reject(code, format!("{name} is missing"))),
    }
}

pub(super) fn category_rules(batch: &RecordBatch, _: &Known) -> Result<Checked> {
    let name = trimmed(batch, "name")?;
    Ok(Checked {
        verdicts: (0..batch.num_rows())
            .map(|i| required(&name, "name", i, Reason::MissingName))
            .collect(),
        standardized: vec![("name", Arc::new(name))],
    })
}

pub(super) fn vendor_rules(batch: &RecordBatch, _: &Known) -> Result<Checked> {
    let name = trimmed(batch, "vendor_name")?;
    let raw_region = text_column(batch, "region")?;
    let region: StringArray = raw_region
        .iter()
        .map(|r| mercado_core::regions::normalize(r.unwrap_or_default()))
        .collect();
    let verdicts = (0..batch.num_rows())
        .map(|i| {
            required(&name, "vendor_name", i, Reason::MissingName)?;
            if region.is_null(i) {
                return Err(reject(
                    Reason::BadRegion,
                    format!(
                        "region {:?} is not an ISO 3166-1 alpha-2 code",
                        text(raw_region, i).unwrap_or_default()
                    ),
                ));
            }
            Ok(())
        })
        .collect();
    Ok(Checked {
        verdicts,
        standardized: vec![
            ("vendor_name", Arc::new(name)),
            ("region", Arc::new(region)),
        ],
    })
}

pub(super) fn customer_rules(batch: &RecordBatch, _: &Known) -> Result<Checked> {
    let first = trimmed(batch, "first_name")?;
    let last = trimmed(batch, "last_name")?;
    let raw_email = text_column(batch, "email")?;
    let email: StringArray = raw_email
        .iter()
        .map(|e| mercado_core::email::normalize(e.unwrap_or_default()).ok())
        .collect();
    let verdicts = (0..batch.num_rows())
        .map(|i| {
            required(&first, "first_name", i, Reason::MissingName)?;
            required(&last, "last_name", i, Reason::MissingName)?;
            if email.is_null(i) {
                return Err(reject(
                    Reason::BadEmail,
                    format!(
                        "email {:?} is not a valid address",
                        text(raw_email, i).unwrap_or_default()
                    ),
                ));
            }
            Ok(())
        })
        .collect();
    Ok(Checked {
        verdicts,
        standardized: vec![
            ("first_name", Arc::new(first)),
            ("last_name", Arc::new(last)),
            ("email", Arc::new(email)),
        ],
    })
}

pub(super) fn inventory_rules(batch: &RecordBatch, known: &Known) -> Result<Checked> {
    let vendor = ids(&column(batch, "vendor_id")?)?;
    let category = ids(&column(batch, "category_id")?)?;
    let name = trimmed(batch, "item_name")?;
    let price = column(batch, "price")?;
    let price = price.as_primitive::<Decimal128Type>();
    let stock = column(batch, "stock")?;
    let stock = stock.as_primitive::<Int32Type>();
    let verdicts = (0..batch.num_rows())
        .map(|i| {
            let v = vendor.is_valid(i).then(|| vendor.value(i));
            if !v.is_some_and(|v| known.vendors.contains(&v)) {
                return Err(reject(
                    Reason::UnknownVendor,
                    format!("vendor {v:?} is not a known vendor"),
                ));
            }
            let cat = category.is_valid(i).then(|| category.value(i));
            if !cat.is_some_and(|cat| known.categories.contains(&cat)) {
                return Err(reject(
                    Reason::UnknownCategory,
                    format!("category {cat:?} is not a known category"),
                ));
            }
            required(&name, "item_name", i, Reason::MissingName)?;
            let p = price.is_valid(i).then(|| price.value(i));
            if p.is_none_or(|p| p <= 0) {
                return Err(reject(
                    Reason::BadPrice,
                    format!("price {p:?} must be greater than 0"),
                ));
            }
            if stock.is_valid(i) && stock.value(i) < 0 {
                return Err(reject(
                    Reason::BadStock,
                    format!("stock {} must not be negative", stock.value(i)),
                ));
            }
            Ok(())
        })
        .collect();
    // No stock recorded means none in stock.
    let stock: Int32Array = stock.iter().map(|s| Some(s.unwrap_or(0))).collect();
    Ok(Checked {
        verdicts,
        standardized: vec![("item_name", Arc::new(name)), ("stock", Arc::new(stock))],
    })
}
