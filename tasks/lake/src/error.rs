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
    #[error("PostgreSQL: {0}")]
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
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = LakeError> = std::result::Result<T, E>;
