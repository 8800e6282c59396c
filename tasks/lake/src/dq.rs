//! Data-quality rules on a gold date before it is loaded. A failing critical rule stops the load
//! of that date (and only that date); warnings are recorded and the load goes on.

use std::collections::HashSet;

use chrono::NaiveDate;

use crate::contracts::{self as c, Contract};
use crate::error::Result;
use crate::lake::Lake;
use crate::parquet_io::PartitionReader;
use crate::rows::Columns;
use mercado_core::calendar::date_id;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Critical,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub check: &'static str,
    pub severity: Severity,
    pub detail: String,
}

/// Counts violations of one rule and keeps a few examples for the message.
struct Rule {
    check: &'static str,
    what: &'static str,
    count: u64,
    examples: Vec<String>,
}

impl Rule {
    fn new(check: &'static str, what: &'static str) -> Self {
        Self {
            check,
            what,
            count: 0,
            examples: Vec::new(),
        }
    }

    fn hit(&mut self, example: impl FnOnce() -> String) {
        self.count += 1;
        if self.examples.len() < 3 {
            self.examples.push(example());
        }
    }

    fn failure(self) -> Option<Failure> {
        (self.count > 0).then(|| Failure {
            check: self.check,
            severity: Severity::Critical,
            detail: format!(
                "{} {} (e.g. {})",
                self.count,
                self.what,
                self.examples.join("; ")
            ),
        })
    }
}

async fn ids(
    lake: &Lake,
    contract: Contract,
    date: NaiveDate,
    column: &str,
) -> Result<HashSet<i64>> {
    let mut out = HashSet::new();
    for batch in PartitionReader::open(lake, contract, date)
        .await?
        .only(&[column])
        .read_all()
        .await?
    {
        let cols = Columns::new(&batch);
        match batch.schema().field_with_name(column)?.data_type() {
            arrow_schema::DataType::Int32 => {
                out.extend(cols.i32(column)?.values().iter().map(|v| i64::from(*v)))
            }
            _ => out.extend(cols.i64(column)?.values().iter().copied()),
        }
    }
    Ok(out)
}

/// The critical rules on `fact_sales` of `date`: unique (transaction_id, line_no), no negative
/// money, no timestamp in the future, every key found in its dimension of the same date.
pub async fn check_gold(lake: &Lake, date: NaiveDate) -> Result<Vec<Failure>> {
    // The SCD2 dimensions' partitions hold only the versions the date opened; the keys valid on
    // the date are those of the cleaned snapshot the versions come from.
    let items = ids(lake, c::CLEAN_INVENTORY, date, "id").await?;
    let customers = ids(lake, c::CLEAN_CUSTOMERS, date, "id").await?;
    let vendors = ids(lake, c::GOLD_DIM_VENDOR, date, "vendor_id").await?;
    let categories = ids(lake, c::GOLD_DIM_CATEGORY, date, "category_id").await?;
    let days = ids(lake, c::GOLD_DIM_DATE, date, "date_id").await?;
    let now = chrono::Utc::now().timestamp_micros();

    let mut unique = Rule::new("unique_line", "repeated (transaction_id, line_no)");
    let mut money = Rule::new(
        "non_negative_money",
        "lines with negative unit_price or total_price",
    );
    let mut future = Rule::new("no_future_timestamp", "lines created in the future");
    let mut refs = Rule::new(
        "referential_integrity",
        "lines whose item, customer, vendor, category or date is not in its dimension",
    );
    let mut on_date = Rule::new(
        "date_of_partition",
        "lines whose date_id is not the partition's date",
    );
    let mut seen: HashSet<(u128, i32)> = HashSet::new();
    let mut reader = PartitionReader::open(lake, c::GOLD_FACT_SALES, date).await?;
    while let Some(file) = reader.next_file().await? {
        for batch in file {
            let batch = batch?;
            let cols = Columns::new(&batch);
            let (txn, line, unit, total, created) = (
                cols.str("transaction_id")?,
                cols.i32("line_no")?,
                cols.money("unit_price")?,
                cols.money("total_price")?,
                cols.ts("created_at")?,
            );
            let (item, customer, vendor, category, day) = (
                cols.i64("item_id")?,
                cols.i64("customer_id")?,
                cols.i64("vendor_id")?,
                cols.i32("category_id")?,
                cols.i32("date_id")?,
            );
            for i in 0..batch.num_rows() {
                let key = || format!("{}#{}", txn.value(i), line.value(i));
                if !seen.insert((crate::rows::digest(txn.value(i)), line.value(i))) {
                    unique.hit(key);
                }
                if unit.value(i) < 0 || total.value(i) < 0 {
                    money.hit(key);
                }
                if created.value(i) > now {
                    future.hit(key);
                }
                if !items.contains(&item.value(i))
                    || !customers.contains(&customer.value(i))
                    || !vendors.contains(&vendor.value(i))
                    || !categories.contains(&i64::from(category.value(i)))
                    || !days.contains(&i64::from(day.value(i)))
                {
                    refs.hit(key);
                }
                if day.value(i) != date_id(date) {
                    on_date.hit(key);
                }
            }
        }
    }
    Ok([unique, money, future, refs, on_date]
        .into_iter()
        .filter_map(Rule::failure)
        .collect())
}

/// Volume within bounds: the date's fact rows against the mean of the last 7 loaded dates before
/// it. Outside 1/10 to 10 times the mean (with at least 100 rows of history a day) is a warning.
pub fn volume(rows: u64, recent_mean: Option<f64>) -> Option<Failure> {
    let mean = recent_mean.filter(|m| *m >= 100.0)?;
    let ratio = rows as f64 / mean;
    (!(0.1..=10.0).contains(&ratio)).then(|| Failure {
        check: "volume_within_bounds",
        severity: Severity::Warning,
        detail: format!("{rows} fact rows against a recent mean of {mean:.0} a day ({ratio:.2}×)"),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn volume_bounds() {
        assert!(super::volume(50, Some(1000.0)).is_some());
        assert!(super::volume(500, Some(1000.0)).is_none());
        assert!(super::volume(20_000, Some(1000.0)).is_some());
        assert!(
            super::volume(5, Some(50.0)).is_none(),
            "too little history to judge"
        );
        assert!(super::volume(5, None).is_none());
    }
}
