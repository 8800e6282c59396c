//! Wire types: request bodies, responses, and the two lenient scalars of the contract
//! (ids as numbers or numeric strings; exact money), with their JSON Schemas ([`schemas`]).
//! The bottom layer: it imports nothing of the crate but itself.

pub mod schemas;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::de;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use mercado_core::limits::{MAX_AMOUNT, MAX_CART_LINES};

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
    /// From the JSON text: a number with an integer value (`7`, `7.0`, `7e0`, read exactly) or a
    /// numeric string (`"7"`).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        let text = raw.get();
        let id = match text.as_bytes().first() {
            Some(b'"') => serde_json::from_str::<String>(text)
                .ok()
                .and_then(|s| FlexId::parse(&s)),
            _ => integer_from_json(text).filter(|v| *v > 0).map(FlexId),
        };
        id.ok_or_else(|| {
            de::Error::custom(format!(
                "invalid value: {}, expected a positive integer id (a number or a numeric string)",
                excerpt(text)
            ))
        })
    }
}

/// The integer value of a JSON number's text, read exactly: `3`, `3.0` and `3e0` are 3 (as JSON
/// Schema's `integer` has it); `3.5`, strings and anything beyond `i64` are not integers.
pub fn integer_from_json(text: &str) -> Option<i64> {
    if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return None;
    }
    let value = Money::parse_number(text).ok()?.0.normalize();
    if value.scale() != 0 {
        return None;
    }
    value.to_i64()
}

/// A JSON value's text, shortened for an error message.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// An `i64` field from a JSON number with an integer value (`3`, `3.0`), read exactly
/// (`#[serde(deserialize_with = "int")]`).
pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let raw = Box::<RawValue>::deserialize(d)?;
    integer_from_json(raw.get()).ok_or_else(|| {
        de::Error::custom(format!(
            "invalid value: {}, expected an integer",
            excerpt(raw.get())
        ))
    })
}

/// [`int`] for an optional field: absent or null is `None`
/// (`#[serde(default, deserialize_with = "opt_int")]`).
pub fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<Box<RawValue>>::deserialize(d)? {
        None => Ok(None),
        Some(raw) => integer_from_json(raw.get()).map(Some).ok_or_else(|| {
            de::Error::custom(format!(
                "invalid value: {}, expected an integer",
                excerpt(raw.get())
            ))
        }),
    }
}

impl Serialize for FlexId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

impl PartialSchema for FlexId {
    fn schema() -> RefOr<Schema> {
        crate::model::schemas::id().into()
    }
}
impl ToSchema for FlexId {}

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
        if self.0 > MAX_AMOUNT {
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

impl Money {
    /// Reads the text of a JSON number (`12.5`, `-3`, `1.25e2`) exactly, digit by digit: never
    /// through binary floating point. Refuses what a [`Decimal`] cannot hold exactly, naming the
    /// reason a price would be refused for anyway.
    pub fn parse_number(text: &str) -> Result<Money, &'static str> {
        const SYNTAX: &str = "amount must be a decimal number such as 12.50";
        const DECIMALS: &str = "amount must have at most 2 decimal places";
        const RANGE: &str = "amount must be at most 9999999999.99";
        let bytes = text.as_bytes();
        let (negative, rest) = match bytes.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, bytes),
        };
        let int_len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (int_part, rest) = rest.split_at(int_len);
        let (frac_part, rest) = match rest.split_first() {
            Some((b'.', after)) => {
                let n = after.iter().take_while(|b| b.is_ascii_digit()).count();
                if n == 0 {
                    return Err(SYNTAX);
                }
                after.split_at(n)
            }
            _ => (&rest[..0], rest),
        };
        let exponent: i64 = match rest.split_first() {
            None => 0,
            Some((b'e' | b'E', after)) => {
                let (sign, digits) = match after.split_first() {
                    Some((b'-', d)) => (-1, d),
                    Some((b'+', d)) => (1, d),
                    _ => (1, after),
                };
                if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                    return Err(SYNTAX);
                }
                // Beyond a few digits the exponent only decides which refusal applies.
                let digits = std::str::from_utf8(digits).map_err(|_| SYNTAX)?;
                let value = digits.trim_start_matches('0');
                let value: i64 = if value.len() > 6 {
                    1_000_000
                } else {
                    value.parse().unwrap_or(0)
                };
                sign * value
            }
            Some(_) => return Err(SYNTAX),
        };
        if int_part.is_empty() {
            return Err(SYNTAX);
        }
        // value = significand × 10^(exponent - frac_len), significand without leading zeros.
        let mut digits: Vec<u8> = int_part.iter().chain(frac_part).copied().collect();
        let mut exponent = exponent - frac_part.len() as i64;
        let lead = digits.iter().take_while(|d| **d == b'0').count();
        digits.drain(..lead);
        while digits.last() == Some(&b'0') {
            digits.pop();
            exponent += 1;
        }
        if digits.is_empty() {
            return Ok(Money(Decimal::ZERO));
        }
        // At most 28 significant digits and a scale of at most 28 fit a Decimal exactly; larger
        // magnitudes or finer fractions are refused with the rule they break.
        let magnitude = digits.len() as i64 + exponent; // digits before the decimal point
        if exponent < -28 || (digits.len() > 28 && exponent < 0) {
            return Err(DECIMALS);
        }
        if magnitude > 28 || digits.len() > 28 {
            return Err(RANGE);
        }
        let mut mantissa: i128 = 0;
        for d in &digits {
            mantissa = mantissa * 10 + i128::from(d - b'0');
        }
        let (mantissa, scale) = if exponent >= 0 {
            (mantissa * 10i128.pow(exponent as u32), 0)
        } else {
            (mantissa, (-exponent) as u32)
        };
        let mantissa = if negative { -mantissa } else { mantissa };
        Decimal::try_from_i128_with_scale(mantissa, scale)
            .map(Money)
            .map_err(|_| RANGE)
    }

    /// Reads a string amount: a plain decimal number (`"12.50"`, no exponent), with the same
    /// exactness as [`Money::parse_number`]; surrounding whitespace is ignored.
    pub fn parse_text(text: &str) -> Result<Money, &'static str> {
        let text = text.trim();
        if text.bytes().any(|b| b == b'e' || b == b'E' || b == b'+') {
            return Err("amount must be a decimal number such as 12.50");
        }
        Money::parse_number(text)
    }
}

impl<'de> Deserialize<'de> for Money {
    /// From the JSON text of the value itself (a number or a string), never from an `f64`: a
    /// number such as `12.5000000000000001` keeps every digit and is then refused as a price.
    /// Needs serde_json's deserializer (which all request bodies use).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        let text = raw.get();
        let parsed = match text.as_bytes().first() {
            Some(b'"') => {
                let s: String = serde_json::from_str(text).map_err(de::Error::custom)?;
                Money::parse_text(&s)
            }
            Some(b'-' | b'0'..=b'9') => Money::parse_number(text),
            _ => Err("amount must be a number or a numeric string, such as 12.50"),
        };
        parsed.map_err(de::Error::custom)
    }
}

impl Serialize for Money {
    /// A JSON number: the shortest `f64` text when it reads back as exactly this amount (`12.5`,
    /// `37.5`, `1.0`), else the exact decimal digits (amounts of 16 digits and more).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if let Some(f) = self.0.to_f64() {
            if f.is_finite() && Decimal::from_str(&f.to_string()).is_ok_and(|d| d == self.0) {
                return s.serialize_f64(f);
            }
        }
        RawValue::from_string(self.0.normalize().to_string())
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }
}

impl PartialSchema for Money {
    /// As the API writes amounts; prices in requests have their own schema
    /// ([`crate::model::schemas::price`]).
    fn schema() -> RefOr<Schema> {
        crate::model::schemas::amount().into()
    }
}
impl ToSchema for Money {}

// ---- customers ---------------------------------------------------------------------------

fn first_name_schema() -> Schema {
    crate::model::schemas::text(100, "Given name.")
}
fn last_name_schema() -> Schema {
    crate::model::schemas::text(100, "Family name.")
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({"first_name": "Ana", "last_name": "Silva", "email": "ana@example.com"})))]
pub struct NewCustomer {
    #[schema(schema_with = first_name_schema)]
    pub first_name: String,
    #[schema(schema_with = last_name_schema)]
    pub last_name: String,
    #[schema(schema_with = crate::model::schemas::email)]
    pub email: String,
    /// Only with scope `history:write` (importing history): when it joined, RFC 3339, in the
    /// past; now when absent.
    #[schema(value_type = Option<String>, format = DateTime, nullable)]
    #[serde(default)]
    pub joined_at: Option<String>,
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

/// A new customer, with its first token when the API signs tokens itself (local use).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerCreated {
    #[serde(flatten)]
    pub customer: Customer,
    /// The new customer's first bearer token (`sub` = `customer:<id>`), only when the API has a
    /// signing key (local use); in a real deployment the identity provider issues tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

// ---- vendors ------------------------------------------------------------------------------

fn vendor_name_schema() -> Schema {
    crate::model::schemas::text(200, "The vendor's name.")
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({"vendor_name": "Loja do Porto", "region": "PT"})))]
pub struct NewVendor {
    #[schema(schema_with = vendor_name_schema)]
    pub vendor_name: String,
    #[schema(schema_with = crate::model::schemas::region)]
    pub region: String,
    /// Only with scope `history:write` (importing history): when it joined, RFC 3339, in the
    /// past; now when absent.
    #[schema(value_type = Option<String>, format = DateTime, nullable)]
    #[serde(default)]
    pub joined_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Vendor {
    #[schema(value_type = i64)]
    pub id: FlexId,
    pub vendor_name: String,
    #[schema(schema_with = crate::model::schemas::region_out)]
    pub region: String,
    pub joined_at: DateTime<Utc>,
}

/// A new vendor, with its first token when the API signs tokens itself (local use).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VendorCreated {
    #[serde(flatten)]
    pub vendor: Vendor,
    /// The new vendor's first bearer token (`sub` = `vendor:<id>`), only when the API has a
    /// signing key (local use); in a real deployment the identity provider issues tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// A vendor's sales over a range of days, from the warehouse marts.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(examples(json!({
    "vendor_id": 1, "vendor_name": "Loja do Porto", "from": "2025-03-16", "to": "2025-03-17",
    "days": [{"date": "2025-03-16", "revenue": 0.0, "orders": 0, "units": 0},
             {"date": "2025-03-17", "revenue": 37.5, "orders": 1, "units": 3}],
    "totals": {"revenue": 37.5, "orders": 1, "units": 3},
    "top_items": [{"item_id": 1, "item_name": "Mug", "units": 3, "revenue": 37.5}]
})))]
pub struct VendorSales {
    #[schema(value_type = i64)]
    pub vendor_id: FlexId,
    /// The vendor's name as the warehouse has it.
    pub vendor_name: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Every day from `from` to `to`, in date order; days without sales are zeros.
    pub days: Vec<SalesDay>,
    /// Sums of `days`.
    pub totals: SalesTotals,
    /// The vendor's 10 best items of the range by revenue (ties: smaller `item_id` first).
    pub top_items: Vec<TopItem>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SalesDay {
    pub date: NaiveDate,
    /// Sum of the vendor's line totals that day.
    pub revenue: Money,
    /// Transactions with at least one line of the vendor.
    #[schema(minimum = 0)]
    pub orders: i64,
    /// Units sold.
    #[schema(minimum = 0)]
    pub units: i64,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct SalesTotals {
    pub revenue: Money,
    /// Orders of the range (a transaction belongs to one day, so this is the sum of the days').
    #[schema(minimum = 0)]
    pub orders: i64,
    #[schema(minimum = 0)]
    pub units: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopItem {
    #[schema(value_type = i64)]
    pub item_id: FlexId,
    /// The item's current name in the warehouse (null only when it holds no version of the item).
    pub item_name: Option<String>,
    #[schema(minimum = 0)]
    pub units: i64,
    pub revenue: Money,
}

// ---- categories ---------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Category {
    pub id: i32,
    pub name: String,
}

// ---- inventory ----------------------------------------------------------------------------

fn item_name_schema() -> Schema {
    crate::model::schemas::text(200, "The item's name.")
}
fn item_name_or_null_schema() -> Schema {
    crate::model::schemas::text_or_null(200, "The item's name.")
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({"item_name": "Mug", "category": 3, "price": 12.5, "stock": 10})))]
pub struct NewItem {
    #[schema(schema_with = item_name_schema)]
    pub item_name: String,
    /// Category id (see `GET /categories`); an unknown category is 422.
    pub category: FlexId,
    #[schema(schema_with = crate::model::schemas::price)]
    pub price: Money,
    /// Units in stock; 0 when absent or null. Checkout takes from it (an item with none cannot be
    /// checked out).
    #[schema(minimum = 0, maximum = 2147483647)]
    #[serde(default, deserialize_with = "opt_int")]
    pub stock: Option<i64>,
    /// Only with scope `history:write` (importing history): when it was listed, RFC 3339, in the
    /// past; now when absent.
    #[schema(value_type = Option<String>, format = DateTime, nullable)]
    #[serde(default)]
    pub created_at: Option<String>,
}

/// A partial update of an item: at least one of the fields, not null.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({"price": "14.90", "stock": 7})))]
pub struct ItemPatch {
    #[schema(schema_with = item_name_or_null_schema)]
    pub item_name: Option<String>,
    /// Category id (see `GET /categories`); an unknown category is 422.
    pub category: Option<FlexId>,
    #[schema(schema_with = crate::model::schemas::price_or_null)]
    pub price: Option<Money>,
    /// Units in stock.
    #[schema(minimum = 0, maximum = 2147483647)]
    #[serde(default, deserialize_with = "opt_int")]
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

fn cart_lines_schema() -> Schema {
    crate::model::schemas::cart_lines(MAX_CART_LINES)
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({"user_id": 1, "cart": [{"item_id": 1, "qty": 3}]})))]
pub struct CartRequest {
    /// The customer whose cart this is; an unknown customer is 422.
    pub user_id: FlexId,
    #[schema(schema_with = cart_lines_schema)]
    pub cart: Vec<CartLineRequest>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CartLineRequest {
    /// An item in inventory; an unknown item is 422.
    pub item_id: FlexId,
    /// When given, must be the vendor selling the item.
    pub vendor_id: Option<FlexId>,
    /// 1 to 10000; lines of the same item are summed, and the sum is also at most 10000.
    #[schema(minimum = 1, maximum = 10000)]
    #[serde(deserialize_with = "int")]
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
#[schema(examples(json!({"user_id": 1, "number_of_installments": 3})))]
pub struct CheckoutRequest {
    /// The customer whose open cart is checked out; an unknown customer is 422.
    pub user_id: FlexId,
    /// 1 to 24; 1 when absent.
    #[schema(minimum = 1, maximum = 24)]
    #[serde(default, deserialize_with = "opt_int")]
    pub number_of_installments: Option<i64>,
}

/// The `message` of every checkout receipt.
pub const COMPLETED: &str = "Transaction completed";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct CheckoutReceipt {
    /// Always "Transaction completed".
    pub message: String,
    #[schema(schema_with = crate::model::schemas::uuid)]
    pub transaction_id: String,
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
    #[schema(schema_with = crate::model::schemas::uuid)]
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
        assert_eq!(MAX_AMOUNT.to_string(), "9999999999.99");
        assert_eq!(
            serde_json::to_string(&Money::normalized(m.0.round_dp(1))).ok(),
            Some("1.0".into())
        );
        assert_eq!(
            serde_json::to_string(&Money(Decimal::new(1250, 2))).ok(),
            Some("12.5".into())
        );
    }

    fn read(json: &str) -> Result<String, String> {
        serde_json::from_str::<Money>(json)
            .map(|m| m.0.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn money_never_goes_through_binary_floating_point() {
        // Every digit is kept, so the price rule sees what was sent.
        assert_eq!(
            read("12.5000000000000001").as_deref(),
            Ok("12.5000000000000001")
        );
        let m: Money = serde_json::from_str("12.5000000000000001").expect("number");
        assert_eq!(
            m.validate_price(),
            Err("must have at most 2 decimal places")
        );
        assert_eq!(read("0.1").as_deref(), Ok("0.1"));
        assert_eq!(read("\"12.50\"").as_deref(), Ok("12.5"));
        assert_eq!(read("\" 12.50 \"").as_deref(), Ok("12.5"));
        assert_eq!(read("-1").as_deref(), Ok("-1"));
        assert_eq!(read("1e2").as_deref(), Ok("100"));
        assert_eq!(read("1.25E+1").as_deref(), Ok("12.5"));
        assert_eq!(read("125e-2").as_deref(), Ok("1.25"));
        assert_eq!(read("0e400").as_deref(), Ok("0"));
        assert_eq!(read("9999999999.99").as_deref(), Ok("9999999999.99"));
        assert_eq!(
            read("12345678901234567890123456.7").as_deref(),
            Ok("12345678901234567890123456.7")
        );
        let refused = |json: &str, why: &str| {
            let e = read(json).expect_err(json);
            assert!(e.contains(why), "{json}: {e}");
        };
        refused("1e400", "at most 9999999999.99");
        refused("1e-400", "at most 2 decimal places");
        refused("123456789012345678901234567890", "at most 9999999999.99");
        refused(
            "0.12345678901234567890123456789",
            "at most 2 decimal places",
        );
        refused("\"1e2\"", "decimal number");
        refused("\"12,50\"", "decimal number");
        refused("\"+1\"", "decimal number");
        refused("\".5\"", "decimal number");
        refused("\"5.\"", "decimal number");
        refused("\"\"", "decimal number");
        refused("true", "a number or a numeric string");
        refused("null", "a number or a numeric string");
        refused("[1]", "a number or a numeric string");
    }

    #[test]
    fn money_is_written_exactly() {
        let text = |d: &str| {
            serde_json::to_string(&Money(Decimal::from_str(d).expect("decimal"))).expect("json")
        };
        assert_eq!(text("0.10"), "0.1");
        assert_eq!(text("60.67"), "60.67");
        assert_eq!(text("25000.00"), "25000.0");
        assert_eq!(text("9999999999.99"), "9999999999.99");
        // Beyond f64's 15 to 17 digits the decimal digits themselves are written.
        assert_eq!(text("99999999999999.99"), "99999999999999.99");
        for d in ["999999999999999900.00", "12345678901234.57", "0.01"] {
            let back = Money::parse_number(&text(d)).map(|m| m.0);
            assert_eq!(back, Decimal::from_str(d).map_err(|_| ""), "{d}");
        }
    }
}
