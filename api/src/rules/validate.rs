//! Field rules shared by the handlers. Each refuses with a [`FieldError`] naming the field.

use super::FieldError;

/// At most `max` characters as sent; trimmed, non-empty, no control characters.
pub fn text<'a>(field: &str, value: &'a str, max: usize) -> Result<&'a str, FieldError> {
    // Counted as sent, as the OpenAPI `maxLength` counts.
    if value.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    let value = value.trim();
    if value.is_empty() {
        return Err(FieldError::new(field, format!("{field} must not be empty")));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(value)
}

/// A lowercased address of the form local@domain.tld (the rule is `mercado_core::email`, shared
/// with the pipeline's `clean`): at most 254 characters as sent, surrounding whitespace trimmed,
/// ASCII only.
pub fn email(value: &str) -> Result<String, FieldError> {
    mercado_core::email::normalize(value).map_err(|e| FieldError::new("email", e.to_string()))
}

/// An integer within `min..=max`.
pub fn int_in(field: &str, value: i64, min: i64, max: i64) -> Result<i64, FieldError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(FieldError::new(
            field,
            format!("{field} must be from {min} to {max}"),
        ))
    }
}

/// A calendar date written exactly `YYYY-MM-DD` (the pattern [`crate::model::schemas::DATE_PATTERN`]
/// states): four-digit year, no sign, no time, no surrounding whitespace.
pub fn date(field: &str, value: Option<&str>) -> Result<chrono::NaiveDate, FieldError> {
    let value = value.ok_or_else(|| {
        FieldError::new(field, format!("{field} is required (a date YYYY-MM-DD)"))
    })?;
    let b = value.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    let number = |range: std::ops::Range<usize>| value.get(range)?.parse::<u32>().ok();
    let parsed = || {
        let year = i32::try_from(number(0..4)?).ok()?;
        chrono::NaiveDate::from_ymd_opt(year, number(5..7)?, number(8..10)?)
    };
    shaped.then(parsed).flatten().ok_or_else(|| {
        FieldError::new(
            field,
            format!("{field} must be a calendar date written YYYY-MM-DD, such as 2025-03-17"),
        )
    })
}

/// An instant in the past written in RFC 3339 (`2025-03-17T09:30:00Z`), from 1970 on: when a
/// record imported with its history began.
pub fn past_instant(
    field: &str,
    value: Option<&str>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, FieldError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let refused = || {
        FieldError::new(
            field,
            format!(
                "{field} must be an instant in RFC 3339 between 1970-01-01T00:00:00Z and now, \
                 such as 2025-03-17T09:30:00Z"
            ),
        )
    };
    let at = chrono::DateTime::parse_from_rfc3339(value)
        .map_err(|_| refused())?
        .with_timezone(&chrono::Utc);
    if at.timestamp() < 0 || at > chrono::Utc::now() {
        return Err(refused());
    }
    Ok(Some(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let ok = |s: &str| date("from", Some(s)).ok().map(|d| d.to_string());
        assert_eq!(ok("2025-03-17").as_deref(), Some("2025-03-17"));
        assert_eq!(ok("2024-02-29").as_deref(), Some("2024-02-29"));
        assert_eq!(ok("0000-01-01").as_deref(), Some("0000-01-01"));
        for bad in [
            "2023-02-29",
            "2025-3-17",
            "2025-03-17 ",
            " 2025-03-17",
            "2025-03-17\n",
            "+2025-03-17",
            "20250317",
            "2025/03/17",
            "2025-13-01",
            "2025-00-10",
            "2025-04-31",
            "2025-03-17T00:00:00Z",
            "",
        ] {
            assert!(ok(bad).is_none(), "{bad:?} accepted");
        }
        let e = date("to", None).expect_err("missing");
        assert_eq!(e.field, "to");
    }

    /// What counts as an address is mercado-core's rule (its tests list the cases); here, that the
    /// API stores its normal form and names the field when it refuses one.
    #[test]
    fn emails() {
        assert_eq!(
            email(" Ana.Silva+x@Example.COM ").ok().as_deref(),
            Some("ana.silva+x@example.com")
        );
        let refused = email("a..b@c.co").expect_err("malformed");
        assert_eq!(refused.field, "email");
    }

    #[test]
    fn texts() {
        assert_eq!(text("n", "  Ana ", 10).ok(), Some("Ana"));
        assert!(text("n", "   ", 10).is_err());
        assert!(text("n", "a\u{0}b", 10).is_err());
        assert!(text("n", "abcdefghijk", 10).is_err());
        assert!(text("n", " abcdefghij", 10).is_err());
        assert_eq!(text("n", "\tAna\n", 10).ok(), Some("Ana"));
    }
}
