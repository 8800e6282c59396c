//! A customer's e-mail address: the API refuses others, `clean` quarantines them.

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("email must be at most {MAX_CHARS} characters")]
    TooLong,
    #[error("email must be an address like name@example.com")]
    Malformed,
}

/// Longest address, in characters as sent (RFC 5321).
pub const MAX_CHARS: usize = 254;

/// The stored form of an address of the form local@domain.tld (RFC 5321 sizes, the common
/// character set, ASCII only): surrounding whitespace trimmed, lowercased.
pub fn normalize(value: &str) -> Result<String, EmailError> {
    if value.chars().count() > MAX_CHARS {
        return Err(EmailError::TooLong);
    }
    // Checked before lowercasing: Unicode lowercasing turns some non-ASCII letters (the Kelvin
    // sign) into ASCII ones.
    let email = value.trim();
    let (local, domain) = email.rsplit_once('@').ok_or(EmailError::Malformed)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
    if local_ok && domain_ok {
        Ok(email.to_ascii_lowercase())
    } else {
        Err(EmailError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            normalize(" Ana.Silva+x@Example.COM ").ok().as_deref(),
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
            assert_eq!(normalize(bad), Err(EmailError::Malformed), "{bad:?}");
        }
        assert_eq!(
            normalize(&format!("{}@b.co", "a".repeat(260))),
            Err(EmailError::TooLong)
        );
    }
}
