//! Shared handles to both stores, built once at start.

use std::time::{Duration, Instant};

use deadpool_postgres::Pool;

use super::auth::{Auth, AuthError};
use super::limits::Limits;
use crate::config::Config;
use crate::store::dynamo::{DynamoStore, StoreError};
use crate::store::pg::{self, PgError};

#[derive(Clone)]
pub struct AppState {
    pub pg: Pool,
    pub ddb: DynamoStore,
    /// The warehouse (marts), when configured: read by vendor analytics only, never written.
    pub warehouse: Option<Pool>,
    /// Longest a request may take: past it the client gets a 503, never a hang (a store that
    /// stopped answering, not only one that refuses connections).
    pub request_timeout: Duration,
    /// Timeouts and caps on connections, requests in flight and each client's rate.
    pub limits: Limits,
    /// Token verification (and local signing).
    pub auth: std::sync::Arc<Auth>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("PostgreSQL: {0}")]
    Pg(#[from] PgError),
    #[error("DynamoDB: {0}")]
    Dynamo(#[from] StoreError),
    #[error("tokens: {0}")]
    Auth(#[from] AuthError),
    #[error("tokens: the JWKS could not be fetched: {0}")]
    JwksUnavailable(AuthError),
}

/// The HTTP client that fetches the JWKS: TLS with the same trusted roots as every component
/// (the Mozilla roots), bounded in time.
fn jwks_client() -> Result<reqwest::Client, AuthError> {
    let tls = mercado_core::postgres::client_tls_config("MERCADO_JWKS_URL", None)
        .map_err(|e| AuthError(e.to_string()))?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| AuthError(format!("the JWKS client: {e}")))
}

impl StartupError {
    fn retryable(&self) -> bool {
        matches!(
            self,
            StartupError::Pg(PgError::Unavailable(_))
                | StartupError::Dynamo(StoreError::Unavailable(_))
                | StartupError::JwksUnavailable(_)
        )
    }
}

/// How long start-up waits for stores that are still coming up (compose starts everything at once).
const STARTUP_PATIENCE: Duration = Duration::from_secs(30);

impl AppState {
    /// Connects to both stores, applies migrations and creates the table as configured. Retries
    /// while a store is unreachable, up to 30 s.
    pub async fn connect(config: &Config) -> Result<Self, StartupError> {
        let auth = std::sync::Arc::new(Auth::from_config(config)?);
        let pg = pg::pool(
            &config.database_url,
            config.pool_size,
            config.store_timeout(),
        )?;
        let ddb = DynamoStore::connect(config).await;
        // Connected lazily: a warehouse that is down (or not loaded yet) fails its own endpoint
        // with a 503, never the API's start.
        let warehouse = match config.warehouse_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => Some(pg::warehouse_pool(
                url,
                config.pool_size,
                config.store_timeout(),
            )?),
            _ => None,
        };
        let state = Self {
            pg,
            ddb,
            warehouse,
            // Each store call is bounded by the store timeout; a request makes several.
            request_timeout: config.store_timeout() * 3 / 2,
            limits: Limits::from_config(config),
            auth,
        };
        let started = Instant::now();
        loop {
            match state.prepare(config).await {
                Ok(()) => return Ok(state),
                Err(e) if e.retryable() && started.elapsed() < STARTUP_PATIENCE => {
                    tracing::warn!(error = %e, "store not ready yet; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn prepare(&self, config: &Config) -> Result<(), StartupError> {
        if let Some(url) = self.auth.jwks_url() {
            let http = jwks_client().map_err(StartupError::Auth)?;
            let keys = self
                .auth
                .refresh(&http)
                .await
                .map_err(StartupError::JwksUnavailable)?;
            tracing::info!(%url, keys, "JWKS fetched");
            Auth::keep_fresh(
                &self.auth,
                http,
                Duration::from_secs(config.jwks_refresh_seconds),
            );
        }
        if config.migrate {
            let mut client = self.pg.get().await.map_err(PgError::from)?;
            let applied = crate::store::migrate::migrate(&mut client).await?;
            tracing::info!(?applied, "PostgreSQL schema is current");
        } else {
            pg::ping(&self.pg).await?;
        }
        if config.create_table {
            self.ddb.ensure_table().await?;
        } else {
            self.ddb.ping().await?;
        }
        tracing::info!(table = self.ddb.table(), "DynamoDB table ready");
        Ok(())
    }
}
