use thiserror::Error;

#[derive(Debug, Error)]
pub enum LakeError {
    #[error("S3 {op} {key}: {message}")]
    S3 {
        op: &'static str,
        key: String,
        message: String,
    },
    #[error("DynamoDB: {0}")]
    Dynamo(String),
    #[error("PostgreSQL: {}", postgres_message(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("Arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("manifest {key}: {message}")]
    Manifest { key: String, message: String },
    #[error("missing input: {0}")]
    MissingInput(String),
    /// A critical data-quality rule failed; the task recorded it in `audit.dq_failures` and
    /// `audit.pipeline_runs`. Fix the source data (see the detail) and re-run the date.
    #[error("{0}")]
    Quality(String),
    /// Counts or sums do not reconcile; recorded in `audit.dq_failures` and
    /// `audit.pipeline_runs`. Find the lost or extra records named in the detail, then re-run.
    #[error("{0}")]
    Reconciliation(String),
    #[error("{0}")]
    Invalid(String),
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
        None => e.to_string(),
    }
}
