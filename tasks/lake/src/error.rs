use thiserror::Error;

/// What went wrong in a task, and what to do about it. The binary prints it as its one-line
/// failure reason (and the audit row keeps it).
#[derive(Debug, Error)]
pub enum LakeError {
    /// A flag or setting is missing or wrong. Fix the command line or the environment (`--help`
    /// names every flag and its variable).
    #[error("configuration: {0}")]
    Config(String),
    /// What the task reads is not there yet. The message names the task to run first for the date.
    #[error("missing input: {0}")]
    MissingInput(String),
    /// Data does not fit its contract (a column missing, of another type, a row of another
    /// width): the producer and `contracts.rs` disagree. Re-run the producing task with this
    /// version for the date.
    #[error("schema: {0}")]
    Schema(String),
    /// A critical data-quality rule failed; the task recorded it in `audit.dq_failures` and
    /// `audit.pipeline_runs`. Fix the source data (see the detail) and re-run the date.
    #[error("{0}")]
    Quality(String),
    /// Counts or sums do not reconcile; recorded in `audit.dq_failures` and
    /// `audit.pipeline_runs`. Find the lost or extra records named in the detail, then re-run.
    #[error("{0}")]
    Reconciliation(String),
    /// A task's own bookkeeping disagrees with itself (rows in ≠ rows out + refused): a bug.
    /// Nothing was published; report it with the run id.
    #[error("internal check failed: {0}")]
    Invariant(String),
    /// S3 refused or failed an operation (the service's code and message).
    #[error("S3 {op} {key}: {message}")]
    S3 {
        op: &'static str,
        key: String,
        message: String,
    },
    /// DynamoDB refused or failed a request (the service's code and message).
    #[error("DynamoDB: {0}")]
    Dynamo(String),
    /// PostgreSQL's binary COPY output is not what `extract` decodes for the contract's column
    /// types: the contract and the SELECT it builds disagree (a bug), or the data was cut short.
    #[error("PostgreSQL binary COPY: {0}")]
    CopyFormat(String),
    /// PostgreSQL (the source or the warehouse) refused or failed a statement, or could not be
    /// reached (the cause follows: refused, timed out, TLS…).
    #[error("PostgreSQL: {}", postgres_message(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("Arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A bounded wait ran out (a connection, a lock): the message names what was waited for
    /// and the flag that bounds it.
    #[error("{0}")]
    Timeout(String),
    /// A manifest could not be read or written.
    #[error("manifest {key}: {message}")]
    Manifest { key: String, message: String },

    /// An Iceberg table could not be read as its catalog and metadata say.
    #[error("Iceberg table {table}: {message}")]
    Iceberg { table: String, message: String },
    /// An object a manifest lists is not the one it lists (truncated, replaced, or written before
    /// checksums were kept): nothing was read from it. Re-run the task that wrote the partition.
    #[error("s3 object {key} is not the file its manifest lists: {message}; re-run the task that wrote it")]
    Corrupt { key: String, message: String },
}

impl LakeError {
    /// The task already wrote its failed run into the warehouse's audit tables.
    pub fn is_recorded(&self) -> bool {
        matches!(self, LakeError::Quality(_) | LakeError::Reconciliation(_))
    }
}

pub type Result<T, E = LakeError> = std::result::Result<T, E>;

/// tokio-postgres shows a server error as just "db error"; say what the server said.
fn postgres_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut m = format!("{} ({})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                m.push_str(&format!(": {detail}"));
            }
            m
        }
        // tokio-postgres names only the kind ("error connecting to server"); the cause says why.
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}
