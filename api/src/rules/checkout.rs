//! Checkout rules: what makes two checkout requests "the same request" for an `Idempotency-Key`.

use sha2::{Digest, Sha256};

use crate::model::FlexId;

/// The SHA-256 (lowercase hex) of the canonical checkout request: the fields after parsing, not
/// the raw bytes, so `{"user_id": 7}` and `{"user_id": "7", "number_of_installments": 1}` are the
/// same request. `installments` is the effective value (1 when the field was absent).
pub fn request_digest(user_id: FlexId, installments: i64) -> String {
    let canonical = format!(
        "checkout\nuser_id={}\nnumber_of_installments={installments}\n",
        user_id.0
    );
    Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_fields_same_digest_other_fields_other_digest() {
        let a = request_digest(FlexId(7), 1);
        assert_eq!(a, request_digest(FlexId(7), 1));
        assert_eq!(a.len(), 64);
        assert_ne!(a, request_digest(FlexId(7), 2));
        assert_ne!(a, request_digest(FlexId(8), 1));
    }
}
