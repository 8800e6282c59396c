//! The HTTP application: routes, the JSON fallbacks, and the layers every request goes through.
//! The routes come from [`super::routes`], where each handler's annotation gives its path.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::http::{Method, Uri};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::Semaphore;
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tower_http::LatencyUnit;
use tracing::Level;

use super::error::ApiError;
use super::extract::BODY_LIMIT;
use super::limits::{self, IdleTimeout};
use super::state::AppState;

/// All routes with their JSON fallbacks, body limit, the per-request limits (rate per client,
/// requests in flight: [`limits`]) and request tracing (method, path, status, latency).
pub fn router(state: AppState) -> Router {
    let (routes, _) = super::routes::routes().split_for_parts();
    routes
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Every request but the probes and the documentation carries a verified token (checked
        // by `authenticate`, outside the rate limit, which counts each principal on its own).
        .layer(axum::middleware::from_fn(super::auth::require_token))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            deadline,
        ))
        // Outside the deadline: a refused request costs no store call and no permit.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::in_flight,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::rate_limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::auth::authenticate,
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
///
/// Its own accept loop rather than `axum::serve`, for the connection limits of
/// `state.limits`: at most `max_connections` open (further clients wait in the listen backlog),
/// a header-read timeout (hyper's, with a Tokio timer, which `axum::serve` does not give it) and
/// an idle timeout. Each request carries the peer's address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.limits.clone();
    let pg = state.pg.clone();
    // Trailing slashes are trimmed before routing, so `/customers/` reaches `/customers`.
    let app = NormalizePathLayer::trim_trailing_slash().layer(router(state));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let housekeeping = limits.spawn_housekeeping(&pg);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break, // never closed
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin (as axum does).
                    if !is_connection_error(&e) {
                        tracing::error!(error = %e, "accept failed; retrying in 1 s");
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_secs(1)) => {},
                            () = &mut shutdown => break,
                        }
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(IdleTimeout::new(stream, limits.idle_timeout));
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            tower::ServiceExt::oneshot(app.clone(), req.map(Body::new))
        });
        let connection = graceful.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // Timeouts and clients that went away: routine, not worth more than debug.
                tracing::debug!(%peer, error = %e, "connection closed with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if let Some(h) = housekeeping {
        h.abort();
    }
    graceful.shutdown().await;
    Ok(())
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
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
