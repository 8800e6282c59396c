use axum::http::header;
use axum::response::{Html, IntoResponse};

/// The OpenAPI 3.1 document, generated from the handlers' annotations.
pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document_json(),
    )
}

/// A self-contained page rendering `/openapi.json` (no CDN, works offline).
pub async fn page() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
