//! JSON Schemas of the inputs whose rules a plain type cannot state: the text, e-mail, region, id,
//! integer and money rules of [`crate::routes::validate`], [`crate::regions`],
//! [`crate::model::FlexId`], [`crate::extract::QueryParams`] and [`crate::model::Money`], each
//! written to accept exactly what the handlers accept (the tests in this module hold them to it).
//!
//! Patterns use only what ECMA-262, Python's `re` and Rust's `regex` read alike (no lookaround,
//! no `\p{…}`, no `\s`, whose meaning differs between them).

use utoipa::openapi::schema::{
    AllOfBuilder, AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Schema,
    SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::RefOr;

use crate::model::MONEY_MAX;

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

/// A name as [`crate::routes::validate::text`] takes it: at most `max` characters as sent;
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

/// The e-mail rule of [`crate::routes::validate::email`].
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
            MONEY_MAX
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::QueryParams;
    use crate::model::{FlexId, Money};
    use crate::routes::validate;

    /// Each pattern as a JSON Schema validator would read it.
    fn re(pattern: &str) -> regex_lite::Regex {
        regex_lite::Regex::new(pattern).expect("pattern compiles")
    }

    fn pattern_of(schema: &serde_json::Value, pointer: &str) -> regex_lite::Regex {
        re(schema
            .pointer(pointer)
            .and_then(|p| p.as_str())
            .expect("pattern"))
    }

    /// Strings near the edges of every rule: whitespace of each kind, controls, signs, zeros.
    fn probes() -> Vec<String> {
        let mut v: Vec<String> = [
            "",
            " ",
            "0",
            "00",
            "1",
            "01",
            "007",
            "+1",
            "-1",
            "-0",
            "1.5",
            "1e2",
            "12.5",
            "12.50",
            "12.500",
            "12.505",
            "0.01",
            "0.001",
            "0.00",
            ".5",
            "5.",
            "00.10",
            "9999999999.99",
            "10000000000",
            "99999999999.99",
            "500",
            "501",
            "0500",
            "100",
            "101",
            "499",
            "50",
            " 7 ",
            "\u{3000}7\u{2028}",
            "\u{feff}7",
            "7\u{0}",
            "Ana",
            " Ana ",
            "Ana\nB",
            "\tAna\n",
            "A\u{85}",
            "\u{a0}",
            "\u{200b}",
            "pt",
            "PT",
            " pT ",
            "XX",
            "PRT",
            "P",
            "uk",
            "GB",
            "a@b.co",
            "A@B.CO",
            " a@b.co ",
            "a@b",
            "@b.co",
            "a@b.c",
            "a b@c.co",
            "a@-b.co",
            "a..b@c.co",
            "a@b..co",
            "a@b.c0",
            ".a@b.co",
            "a.@b.co",
            "a@b-.co",
            "\u{212a}@b.co",
            "x@example.com",
            "9223372036854775807",
            "9223372036854775808",
            "09223372036854775807",
            "99999999999999999999",
            "1000000000000000000",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.push(format!("{}@example.com", "a".repeat(64)));
        v.push(format!("{}@example.com", "a".repeat(65)));
        v.push(format!("a@{}.com", "b".repeat(63)));
        v.push(format!("a@{}.com", "b".repeat(64)));
        v.push(format!(
            "{}@{}.com",
            "a".repeat(60),
            vec!["b".repeat(60); 3].join(".")
        ));
        v.push("x".repeat(100));
        v.push("x".repeat(101));
        v.push(format!(" {} ", "x".repeat(99)));
        v.push(format!(" {} ", "x".repeat(100)));
        v
    }

    fn chars_ok(s: &str, max: usize) -> bool {
        s.chars().count() <= max
    }

    #[test]
    fn up_to_patterns_are_exact() {
        for max in [
            1u64,
            9,
            10,
            24,
            99,
            100,
            101,
            500,
            2147483647,
            9223372036854775807,
        ] {
            let r = re(&format!("^(?:{})$", digits_up_to(max)));
            let edges = [max - 1, max, max + 1, max.saturating_mul(10), u64::MAX];
            for n in (1..=1200u64).chain(edges) {
                let inside = (1..=max).contains(&n);
                assert_eq!(r.is_match(&n.to_string()), inside, "{n} against {max}");
            }
            assert!(!r.is_match("0") && !r.is_match("01"), "{max}");
        }
    }

    #[test]
    fn text_schema_agrees_with_the_text_rule() {
        let schema = to_json(text(100, "A name."));
        let r = pattern_of(&schema, "/pattern");
        for s in probes() {
            let api = validate::text("n", &s, 100).is_ok();
            let doc = r.is_match(&s) && chars_ok(&s, 100) && !s.is_empty();
            assert_eq!(api, doc, "{s:?}");
        }
    }

    #[test]
    fn email_schema_agrees_with_the_email_rule() {
        let schema = to_json(email());
        let shape = pattern_of(&schema, "/allOf/0/pattern");
        let local = pattern_of(&schema, "/allOf/1/pattern");
        for s in probes() {
            let api = validate::email(&s).is_ok();
            let doc = shape.is_match(&s) && local.is_match(&s) && chars_ok(&s, 254);
            assert_eq!(api, doc, "{s:?}");
        }
    }

    #[test]
    fn region_schema_agrees_with_the_region_list() {
        let schema = to_json(region());
        let r = pattern_of(&schema, "/anyOf/1/pattern");
        let listed = schema
            .pointer("/anyOf/0/enum")
            .and_then(|e| e.as_array())
            .map_or(0, Vec::len);
        assert_eq!(listed, 249);
        for s in probes() {
            assert_eq!(
                crate::regions::normalize(&s).is_some(),
                r.is_match(&s),
                "{s:?}"
            );
        }
    }

    #[test]
    fn id_and_integer_patterns_agree_with_the_parsers() {
        let schema = to_json(id());
        let r = pattern_of(&schema, "/oneOf/1/pattern");
        for s in probes() {
            assert_eq!(FlexId::parse(&s).is_some(), r.is_match(&s), "{s:?}");
            for (min, max) in [(1, 100), (1, 500), (0, ID_MAX as u64)] {
                let q = QueryParams([("n".to_string(), s.clone())].into());
                let api = q.int_in("n", min as i64, max as i64, 1).is_ok();
                let doc = re(&uint_text_pattern(min, max)).is_match(&s);
                assert_eq!(api, doc, "{s:?} in {min}..={max}");
            }
        }
    }

    #[test]
    fn price_schema_agrees_with_the_price_rule() {
        let schema = to_json(price());
        let r = pattern_of(&schema, "/oneOf/1/pattern");
        for s in probes() {
            let api = Money::parse_text(&s)
                .ok()
                .and_then(|m| m.validate_price().ok())
                .is_some();
            assert_eq!(api, r.is_match(&s), "{s:?}");
        }
        assert_eq!(
            schema.pointer("/oneOf/0/maximum"),
            Some(&serde_json::json!(9999999999.99))
        );
    }

    #[test]
    fn date_pattern_is_the_calendar() {
        let r = re(&format!("^{DATE_PATTERN}$"));
        for year in (0..=420).chain(1896..=2104).chain([9996, 9999]) {
            for month in 1..=12u32 {
                for day in 1..=31u32 {
                    let text = format!("{year:04}-{month:02}-{day:02}");
                    let real = chrono::NaiveDate::from_ymd_opt(year, month, day).is_some();
                    assert_eq!(r.is_match(&text), real, "{text}");
                }
            }
        }
    }

    #[test]
    fn date_parameters_agree_with_the_date_rule() {
        let doc = crate::openapi::document();
        let params = doc
            .pointer("/paths/~1vendors~1{id}~1sales/get/parameters")
            .and_then(|p| p.as_array())
            .expect("sales parameters");
        for name in ["from", "to"] {
            let param = params
                .iter()
                .find(|p| p["name"] == name)
                .expect("parameter");
            assert_eq!(param["required"], serde_json::json!(true), "{name}");
            let r = pattern_of(&param["schema"], "/pattern");
            let mut samples = probes();
            samples.extend(
                [
                    "2025-03-17",
                    "2024-02-29",
                    "2023-02-29",
                    "2000-02-29",
                    "1900-02-29",
                    "0000-01-01",
                    "9999-12-31",
                    "2025-3-17",
                    "2025-03-17T00:00:00Z",
                    "+2025-03-17",
                    "2025-03-17\n",
                    " 2025-03-17",
                    "2025-04-31",
                    "2025-13-01",
                    "２０２５-03-17",
                ]
                .map(String::from),
            );
            for s in samples {
                assert_eq!(
                    validate::date(name, Some(&s)).is_ok(),
                    r.is_match(&s),
                    "{name} {s:?}"
                );
            }
        }
    }

    #[test]
    fn transaction_and_cursor_patterns() {
        let t = re(&transaction_id_pattern());
        for ok in [
            "0190a0a0-0000-7000-8000-000000000000",
            "0190A0A0000070008000000000000000",
            "{0190a0a0-0000-7000-8000-000000000000}",
            "URN:uuid:0190a0a0-0000-7000-8000-000000000000",
        ] {
            assert!(t.is_match(ok) && uuid::Uuid::parse_str(ok).is_ok(), "{ok}");
        }
        for bad in [
            "x",
            "{0190a0a0-0000-7000-8000-000000000000",
            "0190a0a0-0000-7000-8000-00000000000",
        ] {
            assert!(
                !t.is_match(bad) && uuid::Uuid::parse_str(bad).is_err(),
                "{bad}"
            );
        }
        let c = re(&cursor_pattern());
        assert!(c.is_match("2026-11-24T10:32:11.232Z#0190a0a0-0000-7000-8000-000000000000"));
        assert!(!c.is_match("2026-11-24T10:32:11Z#0190a0a0-0000-7000-8000-000000000000"));
        let id = "0190a0a0-0000-7000-8000-000000000000";
        for cursor in [
            format!("2026-11-24T10:32:11.232Z#{id}"),
            format!("2024-02-29T23:59:59.999Z#{id}"),
            format!("2023-02-29T00:00:00.000Z#{id}"),
            format!("2026-04-31T00:00:00.000Z#{id}"),
            format!("2026-11-24T24:00:00.000Z#{id}"),
            format!("2026-11-24T10:32:60.000Z#{id}"),
            format!("2026-11-24T10:32:11.232Z#{}", id.to_uppercase()),
            format!("2026-11-24T10:32:11.232Z#{}", id.replace('-', "")),
            format!("2026-11-24 10:32:11.232Z#{id}"),
        ] {
            assert_eq!(
                c.is_match(&cursor),
                crate::dynamo::cursor_transaction(&cursor).is_some(),
                "{cursor}"
            );
        }
        let k = re(IDEMPOTENCY_KEY_PATTERN);
        assert!(k.is_match("order-1") && !k.is_match("a b") && !k.is_match(""));
    }
}
