//! Abuse limits: what one client, or many, may hold of the server.
//!
//! - Connections ([`Limits::max_connections`]): the accept loop in [`super::server::serve`] takes
//!   a permit before accepting; past the cap new clients wait in the listen backlog.
//! - Header-read and idle timeouts: hyper closes a connection that does not send its request
//!   headers in time (counted from when it waits for a request, so an idle keep-alive connection
//!   too); [`IdleTimeout`] closes one that stops sending or reading mid-request.
//! - Requests in flight ([`in_flight`]): past the cap a request is answered 503 `overloaded`
//!   with `Retry-After: 1` at once, never queued.
//! - Rate per client ([`rate_limit`]): GCRA, answered 429 `rate_limited` with `Retry-After`.
//!   The client is the authenticated principal (the token's `sub`), so that clients behind one
//!   NAT or proxy do not share a budget; a request without a valid token (and the public
//!   documentation) is counted against its IP address. Counted in this process (`governor`), or,
//!   for replicas behind a load balancer, in PostgreSQL, which they all share
//!   ([`RateLimitStore::Postgres`]).

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::RETRY_AFTER;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};

use deadpool_postgres::Pool;

use super::error::ApiError;
use super::state::AppState;
use crate::config::{Config, RateLimitStore};
use crate::store::pg;

/// The limits of one server, from [`Config`]; shared by its connections and requests.
#[derive(Clone)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    in_flight: Arc<Semaphore>,
    /// `None`: no rate limit.
    rate: Option<Rate>,
}

/// Where each client's rate is counted.
#[derive(Clone)]
enum Rate {
    /// This process's own counts.
    Memory(Arc<DefaultKeyedRateLimiter<ClientKey>>),
    /// PostgreSQL's `rate_limits`, shared by the replicas: the same GCRA, in seconds.
    Shared { emission: f64, tolerance: f64 },
}

impl Limits {
    pub fn from_config(config: &Config) -> Self {
        let rate = NonZeroU32::new(config.rate_limit_per_second).map(|per_second| {
            let burst = NonZeroU32::new(config.rate_limit_burst).unwrap_or(per_second);
            match config.rate_limit_store {
                RateLimitStore::Memory => Rate::Memory(Arc::new(RateLimiter::keyed(
                    Quota::per_second(per_second).allow_burst(burst),
                ))),
                RateLimitStore::Postgres => {
                    let emission = 1.0 / f64::from(per_second.get());
                    Rate::Shared {
                        emission,
                        tolerance: emission * f64::from(burst.get()),
                    }
                }
            }
        });
        Self {
            header_read_timeout: Duration::from_millis(config.header_read_timeout_ms.max(1)),
            idle_timeout: Duration::from_millis(config.idle_timeout_ms.max(1)),
            max_connections: (config.max_connections as usize).max(1),
            in_flight: Arc::new(Semaphore::new(config.max_in_flight as usize)),
            rate,
        }
    }

    /// Forgets clients that have not been limited lately, every minute, so the rate limiter's
    /// table stays the size of the recent clients. Runs until aborted (by `serve` on its way out).
    pub(crate) fn spawn_housekeeping(&self, pg: &Pool) -> Option<tokio::task::AbortHandle> {
        let rate = self.rate.clone()?;
        let pg = pg.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match &rate {
                    Rate::Memory(limiter) => {
                        limiter.retain_recent();
                        limiter.shrink_to_fit();
                    }
                    Rate::Shared { .. } => {
                        if let Err(e) = pg::forget_idle_rates(&pg).await {
                            tracing::warn!(error = %e, "could not forget idle clients' rates");
                        }
                    }
                }
            }
        });
        Some(task.abort_handle())
    }
}

/// Who a rate is counted for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// The token's `sub`.
    Principal(String),
    /// No valid token: the peer's address.
    Ip(IpAddr),
}

/// The client's name in the shared `rate_limits` table.
impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientKey::Principal(sub) => write!(f, "sub:{sub}"),
            ClientKey::Ip(ip) => write!(f, "ip:{ip}"),
        }
    }
}

/// Paths the limits never refuse: the probes that say whether the process is alive and ready.
fn is_probe(req: &Request) -> bool {
    matches!(req.uri().path(), "/healthz" | "/readyz")
}

/// 429 when the client (the authenticated principal, else its IP address) is over its rate.
/// Requests served in-process without a socket (no `ConnectInfo`) are not limited. Runs after
/// [`super::auth::authenticate`], which leaves the principal in the request's extensions.
pub async fn rate_limit(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let (Some(limiter), false) = (st.limits.rate.as_ref(), is_probe(&req)) else {
        return next.run(req).await;
    };
    let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() else {
        return next.run(req).await;
    };
    let key = match req.extensions().get::<super::auth::Principal>() {
        Some(p) => ClientKey::Principal(p.subject()),
        None => ClientKey::Ip(peer.ip()),
    };
    let refused = match limiter {
        Rate::Memory(limiter) => limiter
            .check_key(&key)
            .err()
            .map(|not_until| not_until.wait_time_from(DefaultClock::default().now())),
        Rate::Shared {
            emission,
            tolerance,
        } => match pg::take_rate(&st.pg, &key.to_string(), *emission, *tolerance).await {
            Ok(wait) => wait.map(Duration::from_secs_f64),
            // The limit protects the stores; it must not refuse every client when it cannot
            // count (the request's own queries will say whether PostgreSQL is there).
            Err(e) => {
                tracing::warn!(error = %e, "the shared rate limit could not count this request; let through");
                None
            }
        },
    };
    match refused {
        None => next.run(req).await,
        Some(wait) => {
            // Whole seconds, rounded up, at least 1.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let secs = secs.max(1);
            (
                [(RETRY_AFTER, secs.to_string())],
                ApiError::rate_limited(format!(
                    "too many requests from this client; retry in {secs} s"
                )),
            )
                .into_response()
        }
    }
}

/// 503 `overloaded` with `Retry-After: 1` when the cap on requests in flight is reached; the
/// request is refused at once rather than queued. `/healthz` and `/readyz` are not counted.
pub async fn in_flight(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if is_probe(&req) {
        return next.run(req).await;
    }
    let Ok(_permit) = st.limits.in_flight.clone().try_acquire_owned() else {
        return (
            [(RETRY_AFTER, "1")],
            ApiError::overloaded("the server is handling as many requests as it can; retry in 1 s"),
        )
            .into_response();
    };
    next.run(req).await
}

/// A connection that fails with `TimedOut` once neither a read nor a write has made progress for
/// `timeout` while the server waits on it (a request body sent a byte a minute, a response the
/// client does not read). Deadline kept lazily: progress only records the time.
pub struct IdleTimeout<T> {
    io: T,
    timeout: Duration,
    last: Instant,
    sleep: Pin<Box<Sleep>>,
}

impl<T> IdleTimeout<T> {
    pub fn new(io: T, timeout: Duration) -> Self {
        let now = Instant::now();
        Self {
            io,
            timeout,
            last: now,
            sleep: Box::pin(tokio::time::sleep_until(now + timeout)),
        }
    }

    fn progress(&mut self) {
        self.last = Instant::now();
    }

    /// Called when the connection would block: fails once the idle deadline has passed.
    fn poll_idle<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        loop {
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let deadline = self.last + self.timeout;
            if deadline <= Instant::now() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle too long",
                )));
            }
            // There was progress since the timer was set: wait for the new deadline.
            self.sleep.as_mut().reset(deadline);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleTimeout<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Pending => this.poll_idle(cx),
            ready => {
                this.progress();
                ready
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Pending => this.poll_idle(cx),
            ready => {
                this.progress();
                ready
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Pending => this.poll_idle(cx),
            ready => {
                this.progress();
                ready
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_flush(cx) {
            Poll::Pending => this.poll_idle(cx),
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
