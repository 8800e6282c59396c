//! The marketplace's limits, which the API enforces on the way in and `clean` checks again on the
//! way out of the lake (and the benchmark peers read from here, through `limits.json`): one value
//! each.

use rust_decimal::Decimal;

/// The most lines a cart or a transaction holds.
pub const MAX_CART_LINES: usize = 100;

/// The most units of one item in a cart (lines naming the item are merged first).
pub const MAX_QTY: i64 = 10_000;

/// The largest amount: NUMERIC(12,2), the OLTP price column, 9,999,999,999.99.
pub const MAX_AMOUNT: Decimal = crate::money::MAX;

/// The most decimal places an amount carries.
pub const AMOUNT_SCALE: u32 = 2;

/// The limits as JSON, for tools outside Rust: `core/limits.json`, which the Python benchmark peers
/// read, is this text (a test compares them).
pub fn as_json() -> String {
    format!(
        "{{\n  \"max_cart_lines\": {MAX_CART_LINES},\n  \"max_qty\": {MAX_QTY},\n  \"max_amount\": \"{MAX_AMOUNT}\",\n  \
         \"amount_scale\": {AMOUNT_SCALE}\n}}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `core/limits.json` is this module's values, so the Python peers read the same limits.
    #[test]
    fn limits_json_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/limits.json");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        if std::env::var_os("MERCADO_BLESS").is_some() {
            std::fs::write(path, as_json()).expect("write limits.json");
            return;
        }
        assert_eq!(
            on_disk,
            as_json(),
            "core/limits.json is stale: run MERCADO_BLESS=1 cargo test -p mercado-core limits"
        );
    }

    #[test]
    fn values() {
        assert_eq!(MAX_AMOUNT.to_string(), "9999999999.99");
    }
}
