//! Field rules shared by the handlers. Each returns a 422 [`ApiError`] naming the field.

use crate::error::ApiError;

/// At most `max` characters as sent; trimmed, non-empty, no control characters.
pub fn text<'a>(field: &str, value: &'a str, max: usize) -> Result<&'a str, ApiError> {
    // Counted as sent, as the OpenAPI `maxLength` counts.
    if value.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::invalid(
            field,
            format!("{field} must not be empty"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(value)
}

/// A lowercased address of the form local@domain.tld (the rule is `mercado_core::email`, shared
/// with the pipeline's `clean`): at most 254 characters as sent, surrounding whitespace trimmed,
/// ASCII only.
pub fn email(value: &str) -> Result<String, ApiError> {
    mercado_core::email::normalize(value).map_err(|e| ApiError::invalid("email", e.to_string()))
}

/// An integer within `min..=max`.
pub fn int_in(field: &str, value: i64, min: i64, max: i64) -> Result<i64, ApiError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::invalid(
            field,
            format!("{field} must be from {min} to {max}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            email(" Ana.Silva+x@Example.COM ").ok().as_deref(),
            Some("ana.silva+x@example.com")
        );
        for bad in [
            "",
            "a",
            "a@b",
            "@b.co",
            "a@b.c",
            "a b@c.co",
            "a@-b.co",
            "a..b@c.co",
            "a@b..co",
            "a@b.c0",
            "\u{212a}@b.co",
        ] {
            assert!(email(bad).is_err(), "{bad} accepted");
        }
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
