//! Why `clean` refused a row: the `reason_code` of every quarantine record. The README's table of
//! reasons is checked against [`Reason::ALL`].

/// A quarantine reason. Its code (`as_str`) is what the quarantine partition stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// the row has no id (a PostgreSQL row's `id`, a transaction's `transaction_id`)
    MissingId,
    /// the id appeared already: for transactions, every copy but the one with the earliest `created_at` (then a fixed tie-break on its cells); for carts, a customer's second cart; for PostgreSQL rows, the second row of an id
    Duplicate,
    /// a required name (first or last name, vendor, category, item) is null or blank
    MissingName,
    /// the e-mail is not an address the API would accept (`mercado_core::email`)
    BadEmail,
    /// the vendor's region is not an ISO 3166-1 alpha-2 code
    BadRegion,
    /// an item's vendor is not an accepted vendor
    UnknownVendor,
    /// an item's category is not an accepted category
    UnknownCategory,
    /// a price is missing, not positive, or has more than two decimals
    BadPrice,
    /// stock is negative
    BadStock,
    /// a transaction's or cart's `user_id` is not an id
    BadCustomerId,
    /// the customer is not an accepted customer
    UnknownCustomer,
    /// a timestamp is missing or not RFC 3339
    BadTimestamp,
    /// a transaction's `created_at` is not on the date being cleaned
    WrongDate,
    /// `lines` is missing, not JSON, or empty
    BadLines,
    /// a line lacks its item, vendor or line number
    BadLine,
    /// a line's quantity is missing, not an integer, or out of 1..10000
    BadQty,
    /// a line's total is not its unit price × quantity
    LineTotalMismatch,
    /// a line's item is not an accepted item
    UnknownItem,
    /// a line's vendor is not the vendor selling the item
    VendorMismatch,
    /// the transaction total is missing or not an amount
    BadTotal,
    /// the transaction total is not the sum of its lines
    TotalMismatch,
    /// installments is missing or not a positive integer
    BadInstallments,
    /// a cart holds the same item on two lines (a cart has one line per item)
    RepeatedItem,
}

impl Reason {
    /// Every reason, in the README's order.
    pub const ALL: &[Reason] = &[
        Reason::MissingId,
        Reason::Duplicate,
        Reason::MissingName,
        Reason::BadEmail,
        Reason::BadRegion,
        Reason::UnknownVendor,
        Reason::UnknownCategory,
        Reason::BadPrice,
        Reason::BadStock,
        Reason::BadCustomerId,
        Reason::UnknownCustomer,
        Reason::BadTimestamp,
        Reason::WrongDate,
        Reason::BadLines,
        Reason::BadLine,
        Reason::BadQty,
        Reason::LineTotalMismatch,
        Reason::UnknownItem,
        Reason::VendorMismatch,
        Reason::BadTotal,
        Reason::TotalMismatch,
        Reason::BadInstallments,
        Reason::RepeatedItem,
    ];

    /// The stored code, e.g. `bad_email`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MissingId => "missing_id",
            Reason::Duplicate => "duplicate",
            Reason::MissingName => "missing_name",
            Reason::BadEmail => "bad_email",
            Reason::BadRegion => "bad_region",
            Reason::UnknownVendor => "unknown_vendor",
            Reason::UnknownCategory => "unknown_category",
            Reason::BadPrice => "bad_price",
            Reason::BadStock => "bad_stock",
            Reason::BadCustomerId => "bad_customer_id",
            Reason::UnknownCustomer => "unknown_customer",
            Reason::BadTimestamp => "bad_timestamp",
            Reason::WrongDate => "wrong_date",
            Reason::BadLines => "bad_lines",
            Reason::BadLine => "bad_line",
            Reason::BadQty => "bad_qty",
            Reason::LineTotalMismatch => "line_total_mismatch",
            Reason::UnknownItem => "unknown_item",
            Reason::VendorMismatch => "vendor_mismatch",
            Reason::BadTotal => "bad_total",
            Reason::TotalMismatch => "total_mismatch",
            Reason::BadInstallments => "bad_installments",
            Reason::RepeatedItem => "repeated_item",
        }
    }

    /// When a row gets this reason, for people (the README's table).
    pub fn description(self) -> &'static str {
        match self {
            Reason::MissingId => "the row has no id (a PostgreSQL row's `id`, a transaction's `transaction_id`)",
            Reason::Duplicate => "the id appeared already: for transactions, every copy but the one with the earliest `created_at` (then a fixed tie-break on its cells); for carts, a customer's second cart; for PostgreSQL rows, the second row of an id",
            Reason::MissingName => "a required name (first or last name, vendor, category, item) is null or blank",
            Reason::BadEmail => "the e-mail is not an address the API would accept (`mercado_core::email`)",
            Reason::BadRegion => "the vendor's region is not an ISO 3166-1 alpha-2 code",
            Reason::UnknownVendor => "an item's vendor is not an accepted vendor",
            Reason::UnknownCategory => "an item's category is not an accepted category",
            Reason::BadPrice => "a price is missing, not positive, or has more than two decimals",
            Reason::BadStock => "stock is negative",
            Reason::BadCustomerId => "a transaction's or cart's `user_id` is not an id",
            Reason::UnknownCustomer => "the customer is not an accepted customer",
            Reason::BadTimestamp => "a timestamp is missing or not RFC 3339",
            Reason::WrongDate => "a transaction's `created_at` is not on the date being cleaned",
            Reason::BadLines => "`lines` is missing, not JSON, or empty",
            Reason::BadLine => "a line lacks its item, vendor or line number",
            Reason::BadQty => "a line's quantity is missing, not an integer, or out of 1..10000",
            Reason::LineTotalMismatch => "a line's total is not its unit price × quantity",
            Reason::UnknownItem => "a line's item is not an accepted item",
            Reason::VendorMismatch => "a line's vendor is not the vendor selling the item",
            Reason::BadTotal => "the transaction total is missing, not an amount, or not positive",
            Reason::TotalMismatch => "the transaction total is not the sum of its lines",
            Reason::BadInstallments => "installments is missing or not a positive integer",
            Reason::RepeatedItem => "a cart holds the same item on two lines (a cart has one line per item)",
        }
    }

    /// The README's table of reasons.
    pub fn readme_table() -> String {
        let mut rows = vec![
            "| reason | a row is refused when |".to_string(),
            "|---|---|".to_string(),
        ];
        rows.extend(
            Reason::ALL
                .iter()
                .map(|r| format!("| `{}` | {} |", r.as_str(), r.description())),
        );
        rows.join("\n")
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case() {
        let codes: std::collections::BTreeSet<&str> =
            Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(codes.len(), Reason::ALL.len());
        assert!(codes
            .iter()
            .all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
    }

    /// The quantity bound the text states is the one `clean` checks (`mercado_core::limits`).
    #[test]
    fn the_quantity_bound_is_the_core_limit() {
        let bound = format!("1..{}", mercado_core::limits::MAX_QTY);
        assert!(
            Reason::BadQty.description().ends_with(&bound),
            "{}",
            Reason::BadQty.description()
        );
    }

    /// UPDATE_README=1 writes the table into README.md.
    #[test]
    fn the_readme_lists_every_reason() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
        let readme = std::fs::read_to_string(path).expect("README.md");
        let table = Reason::readme_table();
        if std::env::var_os("UPDATE_README").is_some() && !readme.contains(&table) {
            let start = readme
                .find("| reason | a row is refused when |")
                .or_else(|| readme.find("REASONS_TABLE"))
                .expect("the README's reasons table");
            let end = readme[start..]
                .find("\n\n")
                .map_or(readme.len(), |e| start + e);
            let updated = format!("{}{table}{}", &readme[..start], &readme[end..]);
            std::fs::write(path, updated).expect("write README.md");
            return;
        }
        assert!(
            readme.contains(&table),
            "README.md's table of quarantine reasons differs from Reason::ALL \
             (UPDATE_README=1 cargo test -p mercado-lake --lib reason rewrites it):\n{table}"
        );
    }
}
