use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;

/// The documentation itself, outside the OpenAPI document.
pub fn routes() -> OpenApiRouter<crate::AppState> {
    OpenApiRouter::new()
        .route("/openapi.json", get(openapi))
        .route("/docs", get(page))
}

/// The OpenAPI 3.1 document, generated from the handlers' annotations.
pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::http::openapi::document_json(),
    )
}

/// A self-contained page rendering `/openapi.json` (no CDN, works offline).
pub async fn page() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
