//! Exact amounts of money: two decimals, never binary floating point.

use std::str::FromStr;

use rust_decimal::Decimal;

/// Upper bound of NUMERIC(12,2), the OLTP price column: 9,999,999,999.99.
pub const MAX: Decimal = Decimal::from_parts(3_567_587_327, 232, 0, false, 2);

/// A decimal amount written as plain digits (`12.5`, `-3`, `0.125`), exactly, whatever its scale;
/// `None` for anything else (exponents, separators, currency signs, blanks).
pub fn parse_exact(text: &str) -> Option<Decimal> {
    let text = text.trim();
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-');
    if !plain {
        return None;
    }
    Decimal::from_str(text).ok()
}

/// Money text (`"12.5"`, `"12.50"`, `"7"`) → hundredths; `None` when it is not an amount with at
/// most two decimals.
pub fn parse_cents(text: &str) -> Option<i128> {
    let mut d = parse_exact(text)?;
    if d.normalize().scale() > 2 {
        return None;
    }
    d.rescale(2);
    Some(d.mantissa())
}

/// Hundredths → `"12.50"`.
pub fn format_cents(cents: i128) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let a = cents.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

/// An amount with at least two decimals shown (`12.5` → `12.50`), for messages and reports.
pub fn display(d: Decimal) -> String {
    let mut d = d;
    if d.scale() < 2 {
        d.rescale(2);
    }
    d.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        assert_eq!(parse_cents("12.5"), Some(1250));
        assert_eq!(parse_cents("12.50"), Some(1250));
        assert_eq!(parse_cents("7"), Some(700));
        assert_eq!(parse_cents("-0.10"), Some(-10));
        assert_eq!(parse_cents("1.005"), None);
        assert_eq!(
            parse_exact("12.5000000000000001").map(|d| d.to_string()),
            Some("12.5000000000000001".into())
        );
        for bad in ["", "x", "1e3", "12,50", "NaN", " ", "12.50 EUR"] {
            assert_eq!(parse_exact(bad), None, "{bad:?}");
        }
        assert_eq!(format_cents(1250), "12.50");
        assert_eq!(format_cents(-5), "-0.05");
        assert_eq!(display(Decimal::new(125, 1)), "12.50");
        assert_eq!(MAX.to_string(), "9999999999.99");
    }
}
