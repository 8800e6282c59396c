//! Settings shared by every entry point; each flag has an environment fallback.

use std::path::PathBuf;
use std::time::Duration;

/// Store connections and names. Flattened into the binary's command line.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// PostgreSQL connection URL for customers, vendors, categories and inventory (required to
    /// serve or migrate; `token` needs none).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "",
        hide_default_value = true
    )]
    pub database_url: String,

    /// Largest number of PostgreSQL connections the API keeps open.
    #[arg(long, env = "MERCADO_DB_POOL_SIZE", default_value_t = 16)]
    pub pool_size: usize,

    /// Endpoint override for AWS services (a local DynamoDB-compatible server). Unset means AWS itself.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,

    /// AWS region of the DynamoDB table.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub aws_region: String,

    /// DynamoDB table holding carts, transactions and idempotency records.
    #[arg(long = "table", env = "MERCADO_DDB_TABLE", default_value = "mercado")]
    pub table: String,

    /// Create the DynamoDB table (with its indexes) at start when it does not exist.
    #[arg(long, env = "MERCADO_CREATE_TABLE", default_value_t = true, action = clap::ArgAction::Set)]
    pub create_table: bool,

    /// Apply pending PostgreSQL migrations (sql/oltp) at start.
    #[arg(long, env = "MERCADO_MIGRATE", default_value_t = true, action = clap::ArgAction::Set)]
    pub migrate: bool,

    /// PostgreSQL-protocol URL of the warehouse (its `marts` schema only), read by the vendor
    /// analytics endpoint only. Unset: that endpoint answers 503 `warehouse_unavailable`.
    #[arg(long, env = "WAREHOUSE_URL")]
    pub warehouse_url: Option<String>,

    /// How long one store call may take before the API answers 503, in milliseconds.
    #[arg(long, env = "MERCADO_STORE_TIMEOUT_MS", default_value_t = 5000)]
    pub store_timeout_ms: u64,

    /// How long a client has to send a request's headers, in milliseconds, counted from when the
    /// connection waits for a request: a new connection, and a kept-alive one between requests
    /// (so it also closes idle keep-alive connections). Past it the connection is closed.
    #[arg(long, env = "MERCADO_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_ms: u64,

    /// How long a connection may go without a byte read or written once a request is under way
    /// (a body sent slowly, a response not read), in milliseconds; then it is closed.
    #[arg(long, env = "MERCADO_IDLE_TIMEOUT_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_ms: u64,

    /// Most connections open at once; further clients wait in the listen backlog until one closes.
    #[arg(long, env = "MERCADO_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Most requests handled at once; beyond it a request is answered 503 `overloaded` with
    /// `Retry-After: 1` at once (`/healthz` and `/readyz` are not counted).
    #[arg(long, env = "MERCADO_MAX_IN_FLIGHT", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,

    /// Requests per second each client may make on average (0: no rate limit); beyond it 429
    /// `rate_limited` with `Retry-After`. A client is its authenticated principal (the token's
    /// `sub`), or its IP address without a valid token. `/healthz` and `/readyz` are exempt.
    #[arg(long, env = "MERCADO_RATE_LIMIT_PER_SECOND", default_value_t = 50)]
    pub rate_limit_per_second: u32,

    /// Requests a client may make at once above its rate (the bucket's size).
    #[arg(long, env = "MERCADO_RATE_LIMIT_BURST", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_burst: u32,

    /// Where each client's rate is counted: `memory` (this process only) or `postgres` (a table
    /// every replica of the API shares, so a client's budget is the same however many replicas
    /// serve it; one statement per request).
    #[arg(long, env = "MERCADO_RATE_LIMIT_STORE", value_enum, default_value_t = RateLimitStore::Memory)]
    pub rate_limit_store: RateLimitStore,

    /// JWKS (a JSON Web Key Set file) with the public keys bearer tokens are verified with, each
    /// chosen by the token's `kid`. With a signing key, the key's public half is written here
    /// when the file does not exist.
    #[arg(
        long,
        env = "MERCADO_JWKS_FILE",
        default_value = ".local/jwt/jwks.json"
    )]
    pub jwks_file: PathBuf,

    /// URL of the identity provider's JWKS (Cognito:
    /// `https://cognito-idp.<region>.amazonaws.com/<pool id>/.well-known/jwks.json`; Auth0,
    /// Keycloak alike): when set, the keys come from it (fetched at start, then every
    /// `--jwks-refresh-seconds`) instead of `--jwks-file`. `https://`, or `http://` on loopback only.
    #[arg(long, env = "MERCADO_JWKS_URL")]
    pub jwks_url: Option<String>,

    /// How often the keys of `--jwks-url` are fetched again (a provider's rotation is followed
    /// within this), in seconds.
    #[arg(long, env = "MERCADO_JWKS_REFRESH_SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub jwks_refresh_seconds: u64,

    /// The `iss` every token must carry.
    #[arg(long, env = "MERCADO_JWT_ISSUER", default_value = "mercado-local")]
    pub jwt_issuer: String,

    /// The `aud` every token must carry.
    #[arg(long, env = "MERCADO_JWT_AUDIENCE", default_value = "mercado-api")]
    pub jwt_audience: String,

    /// Ed25519 private key (PKCS#8 PEM) for local tokens (`mercado-api token`, sign-up replies);
    /// generated (mode 600) when missing. Empty: the API signs nothing and only verifies (a real
    /// deployment, whose identity provider issues the tokens).
    #[arg(
        long,
        env = "MERCADO_JWT_SIGNING_KEY_FILE",
        default_value = ".local/jwt/signing.pem"
    )]
    pub signing_key_file: PathBuf,

    /// Clock skew allowed when checking a token's `exp` and `nbf`, in seconds.
    #[arg(long, env = "MERCADO_JWT_LEEWAY_SECONDS", default_value_t = 30)]
    pub jwt_leeway_seconds: u64,
}

impl Config {
    pub fn store_timeout(&self) -> Duration {
        Duration::from_millis(self.store_timeout_ms)
    }
}

/// Where the per-client rate limit keeps its counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RateLimitStore {
    /// In this process: right for one API process.
    #[default]
    Memory,
    /// In PostgreSQL's `rate_limits` table, shared by every replica.
    Postgres,
}
