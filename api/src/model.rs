//! Wire types: request bodies, responses, and the two lenient scalars of the contract
//! (ids as numbers or numeric strings; exact money).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// A positive integer id, accepted as a JSON number (`7`) or a numeric string (`"7"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlexId(pub i64);

impl FlexId {
    /// Parses the text form used in paths, query strings and string ids.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse::<i64>().ok().filter(|v| *v > 0).map(FlexId)
    }
}

impl fmt::Display for FlexId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for FlexId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = FlexId;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a positive integer id (a number or a numeric string)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<FlexId, E> {
                i64::try_from(v)
                    .ok()
                    .filter(|v| *v > 0)
                    .map(FlexId)
                    .ok_or_else(|| E::custom("id must be a positive integer"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<FlexId, E> {
                if v > 0 {
                    Ok(FlexId(v))
                } else {
                    Err(E::custom("id must be a positive integer"))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FlexId, E> {
                FlexId::parse(v).ok_or_else(|| E::custom("id must be a positive integer"))
            }
        }
        d.deserialize_any(IdVisitor)
    }
}

impl Serialize for FlexId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

impl PartialSchema for FlexId {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::Integer))
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Int64,
                    )))
                    .minimum(Some(1)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::String))
                    .pattern(Some("^[1-9][0-9]{0,17}$")),
            )
            .description(Some(
                "A positive integer id: a JSON number or a numeric string.",
            ))
            .into()
    }
}
impl ToSchema for FlexId {}

/// Upper bound of NUMERIC(12,2).
pub const MONEY_MAX: Decimal = Decimal::from_parts(3_567_587_327, 232, 0, false, 2); // 9_999_999_999.99

/// Exact money with at most two decimals. Read from a JSON number or a numeric string (never
/// through binary floating point arithmetic); written as a JSON number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(pub Decimal);

impl Money {
    /// Two-decimal scale, as stored in NUMERIC(12,2).
    pub fn normalized(d: Decimal) -> Money {
        let mut d = d;
        d.rescale(2);
        Money(d)
    }

    /// A valid price: positive, at most two decimals, within NUMERIC(12,2).
    pub fn validate_price(self) -> Result<Money, &'static str> {
        if self.0 <= Decimal::ZERO {
            return Err("must be greater than 0");
        }
        if self.0.normalize().scale() > 2 {
            return Err("must have at most 2 decimal places");
        }
        if self.0 > MONEY_MAX {
            return Err("must be at most 9999999999.99");
        }
        Ok(Money::normalized(self.0))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MoneyVisitor;
        impl Visitor<'_> for MoneyVisitor {
            type Value = Money;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an amount of money (a number or a numeric string)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Money, E> {
                Ok(Money(Decimal::from(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Money, E> {
                Ok(Money(Decimal::from(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Money, E> {
                // f64's Display is the shortest text that reads back as the same f64, so 19.99
                // becomes exactly 19.99 here, not 19.989999…
                if !v.is_finite() {
                    return Err(E::custom("amount must be a finite number"));
                }
                Decimal::from_str(&v.to_string())
                    .or_else(|_| Decimal::from_scientific(&format!("{v:e}")))
                    .map(Money)
                    .map_err(|_| E::custom("amount is out of range"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Money, E> {
                let v = v.trim();
                if v.is_empty()
                    || !v
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
                {
                    return Err(E::custom("amount must be a decimal number such as 12.50"));
                }
                Decimal::from_str(v)
                    .map(Money)
                    .map_err(|_| E::custom("amount must be a decimal number such as 12.50"))
            }
        }
        d.deserialize_any(MoneyVisitor)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Two-decimal amounts below 1e13 print exactly as their shortest f64 text.
        match self.0.to_f64() {
            Some(f) => s.serialize_f64(f),
            None => s.serialize_str(&self.0.to_string()),
        }
    }
}

impl PartialSchema for Money {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Number))
            .description(Some("Exact amount with at most 2 decimals."))
            .into()
    }
}
impl ToSchema for Money {}

// ---- customers ----------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewCustomer {
    #[schema(min_length = 1, max_length = 100)]
    pub first_name: String,
    #[schema(min_length = 1, max_length = 100)]
    pub last_name: String,
    /// Stored lowercased; unique.
    #[schema(min_length = 3, max_length = 254)]
    pub email: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Customer {
    #[schema(value_type = i64)]
    pub id: FlexId,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub joined_at: DateTime<Utc>,
}

// ---- vendors ------------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewVendor {
    #[schema(min_length = 1, max_length = 200)]
    pub vendor_name: String,
    /// ISO 3166-1 alpha-2 country code, e.g. `PT`; stored uppercase.
    #[schema(min_length = 2, max_length = 2)]
    pub region: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Vendor {
    #[schema(value_type = i64)]
    pub id: FlexId,
    pub vendor_name: String,
    pub region: String,
    pub joined_at: DateTime<Utc>,
}

// ---- categories ---------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Category {
    pub id: i32,
    pub name: String,
}

// ---- inventory ----------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewItem {
    #[schema(min_length = 1, max_length = 200)]
    pub item_name: String,
    /// Category id (see `GET /categories`).
    pub category: FlexId,
    /// Unit price, > 0, at most 2 decimals.
    pub price: Money,
    /// Units in stock; 0 when absent.
    #[schema(minimum = 0, maximum = 2147483647)]
    pub stock: Option<i64>,
}

/// A partial update of an item; at least one field.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ItemPatch {
    #[schema(min_length = 1, max_length = 200)]
    pub item_name: Option<String>,
    pub category: Option<FlexId>,
    pub price: Option<Money>,
    #[schema(minimum = 0, maximum = 2147483647)]
    pub stock: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Item {
    #[schema(value_type = i64)]
    pub id: FlexId,
    pub item_name: String,
    /// Category id.
    pub category: i32,
    pub price: Money,
    pub stock: i32,
    #[schema(value_type = i64)]
    pub vendor_id: FlexId,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ItemPage {
    pub items: Vec<Item>,
    /// Pass as `after_id` to read the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after_id: Option<i64>,
}

// ---- cart ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
pub struct CartRequest {
    pub user_id: FlexId,
    /// 1 to 100 lines. Client-sent `unit_price` and `total_price` are ignored: prices come from inventory.
    pub cart: Vec<CartLineRequest>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CartLineRequest {
    pub item_id: FlexId,
    /// When given, must be the vendor selling the item.
    pub vendor_id: Option<FlexId>,
    /// 1 to 10000.
    #[schema(minimum = 1, maximum = 10000)]
    pub qty: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CartLine {
    #[schema(value_type = i64)]
    pub item_id: FlexId,
    #[schema(value_type = i64)]
    pub vendor_id: FlexId,
    pub qty: i64,
    pub unit_price: Money,
    pub total_price: Money,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Cart {
    #[schema(value_type = i64)]
    pub user_id: FlexId,
    pub cart: Vec<CartLine>,
    pub updated_at: DateTime<Utc>,
}

// ---- checkout and transactions ------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
pub struct CheckoutRequest {
    pub user_id: FlexId,
    /// 1 to 24; 1 when absent.
    #[schema(minimum = 1, maximum = 24)]
    pub number_of_installments: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct CheckoutReceipt {
    /// Always "Transaction completed".
    pub message: String,
    pub transaction_id: String,
    #[schema(value_type = f64)]
    pub total_price: Money,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TransactionLine {
    pub line_no: i64,
    #[schema(value_type = i64)]
    pub item_id: FlexId,
    #[schema(value_type = i64)]
    pub vendor_id: FlexId,
    pub qty: i64,
    pub unit_price: Money,
    pub total_price: Money,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Transaction {
    pub transaction_id: String,
    #[schema(value_type = i64)]
    pub user_id: FlexId,
    pub lines: Vec<TransactionLine>,
    pub total_price: Money,
    pub installments: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionPage {
    pub transactions: Vec<Transaction>,
    /// Pass as `cursor` to read older transactions; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_numbers_and_numeric_strings() {
        assert_eq!(serde_json::from_str::<FlexId>("7").ok(), Some(FlexId(7)));
        assert_eq!(
            serde_json::from_str::<FlexId>("\"7\"").ok(),
            Some(FlexId(7))
        );
        for bad in [
            "0",
            "-1",
            "1.5",
            "\"x\"",
            "\"\"",
            "\"-3\"",
            "null",
            "true",
            "99999999999999999999",
        ] {
            assert!(
                serde_json::from_str::<FlexId>(bad).is_err(),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn money_is_exact_from_numbers_and_strings() {
        let m: Money = serde_json::from_str("19.99").expect("number");
        assert_eq!(m.0.to_string(), "19.99");
        let m: Money = serde_json::from_str("\"0.10\"").expect("string");
        assert_eq!(
            m.validate_price().map(|m| m.0.to_string()),
            Ok("0.10".into())
        );
        let m: Money = serde_json::from_str("1.005").expect("number");
        assert!(m.validate_price().is_err());
        assert_eq!(MONEY_MAX.to_string(), "9999999999.99");
        assert_eq!(
            serde_json::to_string(&Money::normalized(m.0.round_dp(1))).ok(),
            Some("1.0".into())
        );
        assert_eq!(
            serde_json::to_string(&Money(Decimal::new(1250, 2))).ok(),
            Some("12.5".into())
        );
    }
}
