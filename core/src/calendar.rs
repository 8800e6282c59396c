//! The warehouse's date keys.

use chrono::{Datelike, NaiveDate};

/// `2025-03-17` → `20250317`, the `date_id` of the star schema.
pub fn date_id(d: NaiveDate) -> i32 {
    d.year() * 10_000 + d.month() as i32 * 100 + d.day() as i32
}

/// Days since 1970-01-01, Arrow's and Parquet's `Date32`.
pub fn epoch_days(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - 719_163
}

/// The inverse of [`epoch_days`]; `None` for a day no `NaiveDate` holds.
pub fn from_epoch_days(days: i32) -> Option<NaiveDate> {
    days.checked_add(719_163)
        .and_then(NaiveDate::from_num_days_from_ce_opt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_keys() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).expect("date");
        assert_eq!(date_id(d(2025, 3, 7)), 20250307);
        assert_eq!(date_id(d(2025, 3, 17)), 20250317);
        assert_eq!(date_id(d(2024, 12, 31)), 20241231);
        assert_eq!(date_id(d(0, 1, 1)), 101);
        assert_eq!(date_id(d(9999, 12, 31)), 99991231);
        assert_eq!(epoch_days(d(1970, 1, 1)), 0);
        assert_eq!(epoch_days(d(2025, 3, 17)), 20164);
        assert_eq!(from_epoch_days(20164), Some(d(2025, 3, 17)));
    }
}
