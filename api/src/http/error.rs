//! The API's one error response and its JSON shape: `{"error": {"code", "message", "field"?}}`.
//!
//! Client mistakes are 4xx and name the offending field; an unreachable store is 503; only a
//! genuine fault of ours is 500. The rules' and the stores' own errors become these here.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::rules::FieldError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

/// Body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_field`, `not_found`, `conflict`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// The request field at fault (`email`, `cart[2].qty`, `vendor_id`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400: the request could not be read at all (malformed JSON, bad path or query syntax).
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 422: the request was read, but a field's value is not acceptable.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).with_field(field)
    }

    /// 422 with its own code: the request was read, but it cannot be accepted as it is.
    pub fn unprocessable(
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message).with_field(field)
    }

    /// 401: no token, or one that does not verify; sent with `WWW-Authenticate: Bearer`.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 403: the token is valid but may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            message,
        )
    }

    /// 503: a store did not answer; the request may be retried.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            message,
        )
    }

    /// 503: too many requests in flight; sent with `Retry-After: 1`.
    pub fn overloaded(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message)
    }

    /// 429: the client is over its rate limit; sent with `Retry-After`.
    pub fn rate_limited(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
    }

    /// 503: the warehouse is not configured or does not answer (vendor analytics only).
    pub fn warehouse_unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "warehouse_unavailable",
            message,
        )
    }

    /// 500: our fault. The detail goes to the log, not to the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; it has been logged",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, code = self.code, message = %self.message, "request failed");
        }
        let missing_token = self.message.contains("is required");
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                field: self.field,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = if self.code == "unauthorized" && missing_token {
                "Bearer"
            } else {
                "Bearer error=\"invalid_token\""
            };
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

impl From<FieldError> for ApiError {
    /// A value a rule refuses: 422 naming the field.
    fn from(e: FieldError) -> Self {
        ApiError::invalid(e.field, e.message)
    }
}

impl From<crate::store::pg::PgError> for ApiError {
    fn from(e: crate::store::pg::PgError) -> Self {
        use crate::store::pg::PgError;
        match e {
            PgError::Unavailable(m) => {
                ApiError::unavailable(format!("PostgreSQL unavailable: {m}"))
            }
            PgError::Other(m) => ApiError::internal(m),
        }
    }
}

impl From<crate::store::dynamo::StoreError> for ApiError {
    fn from(e: crate::store::dynamo::StoreError) -> Self {
        use crate::store::dynamo::StoreError;
        match e {
            StoreError::Unavailable(m) => {
                ApiError::unavailable(format!("DynamoDB unavailable: {m}"))
            }
            other => ApiError::internal(other),
        }
    }
}
