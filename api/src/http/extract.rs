//! Request extractors that turn every malformed input into an [`ApiError`] naming the field,
//! instead of axum's plain-text rejections.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::model::FlexId;

/// Largest request body accepted (1 MiB); larger is 413.
pub const BODY_LIMIT: usize = 1 << 20;

/// A JSON body. Malformed JSON is 400; a missing or mistyped field is 422 with the field's path.
/// Unknown fields are ignored.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large(format!(
                    "request body is larger than {BODY_LIMIT} bytes"
                ))
            } else {
                ApiError::bad_request("unreadable_body", rejection.body_text())
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses a JSON document into `T`, classifying errors the way clients need them.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "malformed_json",
            "request body is empty; expected a JSON object",
        ));
    }
    // Every body of this API is an object; say so plainly rather than through serde's view of a
    // sequence-as-struct.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| matches!(b, b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n'))
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
    {
        return Err(ApiError::invalid(
            "body",
            "request body must be a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::bad_request("malformed_json", format!("malformed JSON: {inner}"));
        }
        let message = strip_position(&inner.to_string());
        let field = missing_field(&message)
            .map(|name| {
                if path == "." {
                    name.to_string()
                } else {
                    format!("{path}.{name}")
                }
            })
            .unwrap_or_else(|| {
                if path == "." {
                    "body".to_string()
                } else {
                    path
                }
            });
        ApiError::invalid(field, message)
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request("malformed_json", format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// serde_json appends " at line L column C"; useful for syntax errors, noise for field errors.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// The name in serde's "missing field `name`" message.
fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

/// The `{id}` path segment as a positive integer id. Anything else is 404: no such resource.
pub struct IdPath(pub FlexId);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request("invalid_path", e.body_text()))?;
        FlexId::parse(&raw).map(IdPath).ok_or_else(|| {
            ApiError::not_found(format!(
                "no resource with id {raw:?}: ids are positive integers"
            ))
        })
    }
}

/// The raw `{id}` path segment, for string ids (transactions).
pub struct RawPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RawPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(s)| RawPath(s))
            .map_err(|e| ApiError::bad_request("invalid_path", e.body_text()))
    }
}

/// Query-string parameters, read leniently and then validated one by one with field names.
pub struct QueryParams(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| QueryParams(q))
            .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
    }
}

impl QueryParams {
    /// An optional positive id parameter.
    pub fn id(&self, name: &str) -> Result<Option<FlexId>, ApiError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(v) => FlexId::parse(v).map(Some).ok_or_else(|| {
                ApiError::invalid(name, format!("{name} must be a positive integer id"))
            }),
        }
    }

    /// An optional integer parameter within `min..=max` (`min` ≥ 0), else `default`.
    pub fn int_in(&self, name: &str, min: i64, max: i64, default: i64) -> Result<i64, ApiError> {
        match self.0.get(name) {
            None => Ok(default),
            // Decimal digits only (no sign), leading zeros and surrounding whitespace allowed.
            Some(v) => Some(v.trim())
                .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|t| t.parse::<i64>().ok())
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid(
                        name,
                        format!("{name} must be an integer from {min} to {max}"),
                    )
                }),
        }
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Probe {
        email: String,
        lines: Vec<Line>,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Line {
        qty: i64,
    }

    fn err(body: &str) -> ApiError {
        match parse_json::<Probe>(body.as_bytes()) {
            Ok(p) => panic!("accepted {body}: {p:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn classifies_json_errors() {
        assert_eq!(err("{").status, StatusCode::BAD_REQUEST);
        assert_eq!(err("").status, StatusCode::BAD_REQUEST);
        assert_eq!(
            err(r#"{"email": "a@b.co", "lines": []} x"#).status,
            StatusCode::BAD_REQUEST
        );
        let e = err(r#"{"lines": []}"#);
        assert_eq!(
            (e.status, e.field.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("email"))
        );
        let e = err(r#"{"email": "a@b.co", "lines": [{"qty": 1}, {"qty": "x"}]}"#);
        assert_eq!(e.field.as_deref(), Some("lines[1].qty"));
        let e = err(r#"{"email": "a@b.co", "lines": [{}]}"#);
        assert_eq!(e.field.as_deref(), Some("lines[0].qty"));
        let e = err("[1]");
        assert_eq!(
            (e.status, e.field.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("body"))
        );
    }

    #[test]
    fn money_errors_name_the_field_through_the_body_parser() {
        for (body, why) in [
            (
                r#"{"item_name": "a", "category": 1, "price": 12.5000000000000001}"#,
                None,
            ),
            (
                r#"{"item_name": "a", "category": 1, "price": 1e400}"#,
                Some("at most 9999999999.99"),
            ),
            (
                r#"{"item_name": "a", "category": 1, "price": "x"}"#,
                Some("decimal number"),
            ),
        ] {
            match parse_json::<crate::model::NewItem>(body.as_bytes()) {
                Ok(item) => {
                    assert!(why.is_none(), "{body} accepted");
                    assert_eq!(item.price.0.to_string(), "12.5000000000000001");
                }
                Err(e) => {
                    assert_eq!(e.field.as_deref(), Some("price"), "{body}");
                    assert!(
                        why.is_some_and(|w| e.message.contains(w)),
                        "{body}: {}",
                        e.message
                    );
                }
            }
        }
        let patch: crate::model::ItemPatch =
            parse_json(br#"{"price": null, "stock": 1}"#).expect("null price");
        assert!(patch.price.is_none());
        let patch: crate::model::ItemPatch =
            parse_json(br#"{"price": "0.1"}"#).expect("string price");
        assert_eq!(patch.price.map(|m| m.0.to_string()).as_deref(), Some("0.1"));
    }
}
