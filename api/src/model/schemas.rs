//! JSON Schemas of the inputs whose rules a plain type cannot state: the text, e-mail, region, id,
//! integer and money rules of [`crate::rules::validate`], [`crate::regions`],
//! [`crate::model::FlexId`], the query strings (as the HTTP layer reads them) and
//! [`crate::model::Money`], each written to accept exactly what the handlers accept (the tests in
//! `http/schemas_tests.rs` hold them to it).
//!
//! Patterns use only what ECMA-262, Python's `re` and Rust's `regex` read alike (no lookaround,
//! no `\p{…}`, no `\s`, whose meaning differs between them).

use utoipa::openapi::schema::{
    AllOfBuilder, AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Schema,
    SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::RefOr;

use mercado_core::limits::MAX_AMOUNT;

/// One character Rust's `str::trim` removes (Unicode `White_Space`).
pub const WS: &str = r"[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";
/// One character that is neither whitespace nor a control character (`char::is_control`, Cc).
const VISIBLE: &str = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";
/// One character that is not a control character.
const NOT_CONTROL: &str = r"[^\x00-\x1f\x7f-\x9f]";

/// Largest id: ids are PostgreSQL `bigint`s.
pub const ID_MAX: i64 = i64::MAX;

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::Type(Type::String))
}

fn integer(min: i64, max: i64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Integer))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(min))
        .maximum(Some(max))
}

/// `schema` or JSON `null` (an optional field sent as null counts as absent).
pub fn or_null(schema: impl Into<RefOr<Schema>>) -> Schema {
    OneOfBuilder::new()
        .item(schema)
        .item(ObjectBuilder::new().schema_type(SchemaType::Type(Type::Null)))
        .into()
}

/// Digits (no sign, no leading zero) of the integers `1..=max`: shorter numbers, then for each
/// digit of `max` the numbers equal to it so far and smaller there.
pub fn digits_up_to(max: u64) -> String {
    let max = max.to_string();
    let digits: Vec<u32> = max.chars().filter_map(|c| c.to_digit(10)).collect();
    let n = digits.len();
    let mut branches = Vec::new();
    match n {
        0 | 1 => {}
        2 => branches.push("[1-9]".to_string()),
        _ => branches.push(format!("[1-9][0-9]{{0,{}}}", n - 2)),
    }
    for i in 0..n {
        let low = u32::from(i == 0);
        if digits[i] > low {
            let prefix = &max[..i];
            let range = if digits[i] - 1 == low {
                format!("{low}")
            } else {
                format!("[{low}-{}]", digits[i] - 1)
            };
            let rest = match n - i - 1 {
                0 => String::new(),
                1 => "[0-9]".to_string(),
                k => format!("[0-9]{{{k}}}"),
            };
            branches.push(format!("{prefix}{range}{rest}"));
        }
    }
    branches.push(max.clone());
    branches.join("|")
}

/// Decimal text of an integer in `min..=max` (`min` 0 or 1) as the API reads it from a string:
/// ASCII digits, leading zeros allowed, surrounding whitespace ignored.
pub fn uint_text_pattern(min: u64, max: u64) -> String {
    let positive = digits_up_to(max);
    if min == 0 {
        format!("^{WS}*(?:0+|0*(?:{positive})){WS}*$")
    } else {
        format!("^{WS}*0*(?:{positive}){WS}*$")
    }
}

/// An integer in `min..=max` given as a JSON number or as its decimal text (query strings, ids).
pub fn int_or_text(min: u64, max: u64, description: &str) -> Schema {
    let (lo, hi) = (
        i64::try_from(min).unwrap_or(i64::MAX),
        i64::try_from(max).unwrap_or(i64::MAX),
    );
    AnyOfBuilder::new()
        .item(integer(lo, hi))
        .item(string().pattern(Some(uint_text_pattern(min, max))))
        .description(Some(description))
        .into()
}

/// A positive id: a JSON number or a numeric string (surrounding whitespace and leading zeros
/// allowed), as [`crate::model::FlexId`] reads it.
pub fn id() -> Schema {
    OneOfBuilder::new()
        .item(integer(1, ID_MAX))
        .item(string().pattern(Some(uint_text_pattern(1, ID_MAX as u64))))
        .description(Some(
            "A positive integer id: a JSON number or a numeric string (surrounding whitespace and \
             leading zeros are ignored).",
        ))
        .examples([serde_json::json!(1)])
        .into()
}

/// A path or query id: its text, read like [`id`].
pub fn id_text(description: &str) -> Schema {
    int_or_text(1, ID_MAX as u64, description)
}

/// A name as [`crate::rules::validate::text`] takes it: at most `max` characters as sent;
/// surrounding whitespace trimmed; not blank; no control characters.
pub fn text(max: usize, description: &str) -> Schema {
    string()
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(format!(
            "^{WS}*{VISIBLE}(?:{NOT_CONTROL}*{VISIBLE})?{WS}*$"
        )))
        .description(Some(format!(
            "{description} At most {max} characters; surrounding whitespace is trimmed; not blank; \
             no control characters."
        )))
        .into()
}

/// [`text`] or null.
pub fn text_or_null(max: usize, description: &str) -> Schema {
    or_null(text(max, description))
}

/// Characters of a local part (RFC 5322 `atext`).
const ATEXT: &str = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]";
/// A domain label: 1 to 63 letters, digits or hyphens, no hyphen at either end.
const LABEL: &str = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";

/// The e-mail rule of [`crate::rules::validate::email`].
pub fn email() -> Schema {
    let shape = format!(r"^{WS}*{ATEXT}+(?:\.{ATEXT}+)*@(?:{LABEL}\.)+[A-Za-z]{{2,63}}{WS}*$");
    AllOfBuilder::new()
        .item(
            string()
                .min_length(Some(6))
                .max_length(Some(254))
                .pattern(Some(shape)),
        )
        // The local part is at most 64 characters (a second pattern: no lookahead needed).
        .item(string().pattern(Some(format!("^{WS}*[^@]{{1,64}}@"))))
        .description(Some(
            "An address like name@example.com: at most 254 characters as sent, the part before @ \
             at most 64; surrounding whitespace trimmed; ASCII; stored lowercased; unique.",
        ))
        .examples([serde_json::json!("ana@example.com")])
        .into()
}

/// The region rule of [`crate::regions::normalize`]: an assigned ISO 3166-1 alpha-2 code in any
/// case, surrounding whitespace ignored.
pub fn region() -> Schema {
    let codes: Vec<&str> = crate::regions::codes().collect();
    let any_case: Vec<String> = codes
        .iter()
        .map(|c| {
            c.chars()
                .map(|ch| format!("[{}{}]", ch, ch.to_ascii_lowercase()))
                .collect()
        })
        .collect();
    AnyOfBuilder::new()
        .item(string().enum_values(Some(codes.clone())))
        .item(string().pattern(Some(format!("^{WS}*(?:{}){WS}*$", any_case.join("|")))))
        .description(Some(
            "An assigned ISO 3166-1 alpha-2 country code such as PT (the listed codes, in any \
             case; surrounding whitespace ignored); stored uppercase.",
        ))
        .examples([serde_json::json!("PT")])
        .into()
}

/// A region as the API returns it.
pub fn region_out() -> Schema {
    string()
        .enum_values(Some(crate::regions::codes().collect::<Vec<_>>()))
        .description(Some("ISO 3166-1 alpha-2 country code, uppercase."))
        .into()
}

/// A price as [`crate::model::Money`] reads it and `validate_price` accepts it: greater than 0, at
/// most 2 decimals, at most 9999999999.99; a JSON number (read exactly, exponents allowed) or a
/// plain decimal string (no exponent; surrounding whitespace ignored; trailing zeros allowed).
pub fn price() -> Schema {
    let number = ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Number))
        .exclusive_minimum(Some(0))
        .maximum(Some(
            MAX_AMOUNT
                .to_string()
                .parse::<f64>()
                .unwrap_or(9_999_999_999.99),
        ))
        .multiple_of(Some(0.01));
    let text = string().pattern(Some(format!(
        r"^{WS}*(?:0*[1-9][0-9]{{0,9}}(?:\.[0-9]{{1,2}}0*)?|0+\.(?:0[1-9]|[1-9][0-9]?)0*){WS}*$"
    )));
    OneOfBuilder::new()
        .item(number)
        .item(text)
        .description(Some(
            "Unit price, exact: greater than 0, at most 2 decimal places, at most 9999999999.99. \
             A JSON number (read from its digits, never through binary floating point) or a \
             decimal string such as \"12.50\".",
        ))
        .examples([serde_json::json!(12.5)])
        .into()
}

/// [`price`] or null.
pub fn price_or_null() -> Schema {
    or_null(price())
}

/// A UUID as the API writes it (lowercase, hyphenated).
pub fn uuid() -> Schema {
    string()
        .format(Some(SchemaFormat::Custom("uuid".to_string())))
        .into()
}

/// An exact amount as the API writes it.
pub fn amount() -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Number))
        .multiple_of(Some(0.01))
        .description(Some(
            "Exact amount with at most 2 decimal places (a JSON number; amounts of 16 digits or \
             more are written with all their digits).",
        ))
        .into()
}

/// 1 to `max` cart lines.
pub fn cart_lines(max: usize) -> Schema {
    ArrayBuilder::new()
        .items(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
            "CartLineRequest",
        )))
        .min_items(Some(1))
        .max_items(Some(max))
        .description(Some(format!(
            "1 to {max} lines. Lines naming the same item are merged into one line (at the first \
             one's position) whose qty is their sum, at most 10000. Client-sent `unit_price` and \
             `total_price` are ignored: prices come from inventory."
        )))
        .into()
}

/// An `Idempotency-Key` header value: 1 to 200 visible ASCII characters.
pub const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]{1,200}$";

/// A date `YYYY-MM-DD` of the proleptic Gregorian calendar, leap days included.
pub const DATE_PATTERN: &str = concat!(
    "(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)",
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))",
    "|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)",
);

/// A `next_cursor`: `<created_at>#<transaction_id>` as this API hands it out (UTC, milliseconds;
/// a lowercase hyphenated UUID).
pub fn cursor_pattern() -> String {
    let h = "[0-9a-f]";
    format!(
        r"^{DATE_PATTERN}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{{3}}Z#{h}{{8}}-{h}{{4}}-{h}{{4}}-{h}{{4}}-{h}{{12}}$"
    )
}

/// A transaction id as `GET /transactions/{id}` reads it: a UUID, hyphenated, simple (32 hex
/// digits), braced or as a URN, in any case.
pub fn transaction_id_pattern() -> String {
    let h = "[0-9A-Fa-f]";
    let hyphenated = format!("{h}{{8}}-{h}{{4}}-{h}{{4}}-{h}{{4}}-{h}{{12}}");
    format!(r"^(?:{h}{{32}}|\{{{hyphenated}\}}|(?:[Uu][Rr][Nn]:[Uu][Uu][Ii][Dd]:)?{hyphenated})$")
}

/// Any schema as JSON (for the parameters `openapi.rs` fills in).
pub fn to_json(schema: Schema) -> serde_json::Value {
    serde_json::to_value(schema).unwrap_or(serde_json::Value::Null)
}
