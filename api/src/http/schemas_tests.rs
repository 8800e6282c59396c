//! The JSON Schemas of [`crate::model::schemas`] held to the rules they state: each pattern accepts
//! exactly what the handlers' extractors and [`crate::rules`] accept. Here, in the HTTP layer, so
//! the model below imports nothing above it.
use crate::http::extract::QueryParams;
use crate::model::schemas::*;
use crate::model::{FlexId, Money};
use crate::rules::validate;

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
    let doc = crate::http::openapi::document();
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
            crate::store::dynamo::cursor_transaction(&cursor).is_some(),
            "{cursor}"
        );
    }
    let k = re(IDEMPOTENCY_KEY_PATTERN);
    assert!(k.is_match("order-1") && !k.is_match("a b") && !k.is_match(""));
}
