//! The HTTP application: routes, the JSON fallbacks, and the layers every request goes through.
//! The routes come from [`super::routes`], where each handler's annotation gives its path.

use std::future::Future;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{Method, Uri};
use axum::Router;
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tower_http::LatencyUnit;
use tracing::Level;

use super::error::ApiError;
use super::extract::BODY_LIMIT;
use super::state::AppState;

/// All routes with their JSON fallbacks, body limit and request tracing (method, path, status,
/// latency).
pub fn router(state: AppState) -> Router {
    let (routes, _) = super::routes::routes().split_for_parts();
    routes
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            deadline,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(
                    DefaultOnResponse::new()
                        .level(Level::INFO)
                        .latency_unit(LatencyUnit::Millis),
                ),
        )
        .with_state(state)
}

/// Answers 503 when a request outlives `request_timeout`. Each store call has its own timeout,
/// but a PostgreSQL server that stops (SIGSTOP, a frozen VM) leaves a query on an open connection
/// waiting forever, and a checkout makes several calls in a row: this bounds the whole request.
/// A checkout cut off here may still complete in the store; retrying it with the same
/// Idempotency-Key returns its receipt.
async fn deadline(
    axum::extract::State(st): axum::extract::State<AppState>,
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    // Health checks bound their own store calls and say which store failed: not cut short here.
    if matches!(req.uri().path(), "/healthz" | "/readyz") {
        return next.run(req).await;
    }
    match tokio::time::timeout(st.request_timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => axum::response::IntoResponse::into_response(ApiError::unavailable(format!(
            "a store did not answer within {} ms; retry later (a checkout with the same \
             Idempotency-Key)",
            st.request_timeout.as_millis()
        ))),
    }
}

/// Serves until `shutdown` completes, then finishes in-flight requests. Paths answer with and
/// without a trailing slash.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Trailing slashes are trimmed before routing, so `/customers/` reaches `/customers`.
    let app = NormalizePathLayer::trim_trailing_slash().layer(router(state));
    axum::serve(
        listener,
        axum::ServiceExt::<Request>::into_make_service(app),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {method} {}", uri.path()))
}

async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(format!("{method} is not allowed on {}", uri.path()))
}
