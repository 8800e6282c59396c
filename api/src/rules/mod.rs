//! The business rules: what a field must be ([`validate`]), how cart lines are merged ([`cart`])
//! and priced ([`pricing`], the one pricing function, also the traffic generator's), the limits
//! and the clock ([`now`]). A rule that refuses a value says which field with a [`FieldError`];
//! the HTTP layer answers it with a 422. Nothing here imports the HTTP layer.

pub mod access;
pub mod cart;
pub mod checkout;
pub mod pricing;
pub mod validate;

use chrono::{DateTime, Utc};

/// The marketplace's limits, one value each (in `mercado-core`, shared with the pipeline).
pub use mercado_core::limits::{MAX_AMOUNT, MAX_CART_LINES, MAX_QTY};

/// Most installments of a checkout.
pub const MAX_INSTALLMENTS: i64 = 24;

/// Longest range `GET /vendors/{id}/sales` answers for, in days (`from` and `to` included): a
/// leap year.
pub const MAX_SALES_DAYS: i64 = 366;

/// A value a rule refuses: the request field at fault (`email`, `cart[2].qty`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Now, at the millisecond precision the stores keep, so what a handler returns equals what it
/// reads back.
pub fn now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(3)
}
