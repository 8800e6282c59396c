//! Settings shared by every entry point; each flag has an environment fallback.

use std::time::Duration;

/// Store connections and names. Flattened into the binary's command line.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// PostgreSQL connection URL for customers, vendors, categories and inventory.
    #[arg(long, env = "DATABASE_URL")]
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

    /// PostgreSQL-protocol URL of the warehouse (its `core` and `marts` schemas), read by the vendor
    /// analytics endpoint only. Unset: that endpoint answers 503 `warehouse_unavailable`.
    #[arg(long, env = "WAREHOUSE_URL")]
    pub warehouse_url: Option<String>,

    /// How long one store call may take before the API answers 503, in milliseconds.
    #[arg(long, env = "MERCADO_STORE_TIMEOUT_MS", default_value_t = 5000)]
    pub store_timeout_ms: u64,
}

impl Config {
    pub fn store_timeout(&self) -> Duration {
        Duration::from_millis(self.store_timeout_ms)
    }
}
