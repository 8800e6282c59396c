//! The flags every task has, its logging, and how it ends (summary line or one-line error); the
//! entry point that puts them together is [`crate::entry`].

use std::process::ExitCode;

use chrono::NaiveDate;
use tracing_subscriber::EnvFilter;

use crate::summary::Summary;

/// Flags of every task. Each also reads an environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct LakeArgs {
    /// Logical date to process (YYYY-MM-DD). Re-running a date replaces its partitions.
    #[arg(long, env = "MERCADO_DATE", value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub date: NaiveDate,

    /// S3 bucket of the lake.
    #[arg(long, env = "MERCADO_LAKE_BUCKET", default_value = "mercado-lake")]
    pub bucket: String,

    /// Create the bucket when it does not exist (handy locally; production buckets come from IaC).
    #[arg(long, env = "MERCADO_CREATE_BUCKET", default_value_t = true, action = clap::ArgAction::Set)]
    pub create_bucket: bool,

    /// Endpoint override for S3 and DynamoDB (a local S3-compatible server). Unset means AWS.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,

    /// AWS region.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub aws_region: String,

    /// Identifies this run in file names and manifests (default: time-ordered, unique).
    #[arg(long, env = "MERCADO_RUN_ID")]
    pub run_id: Option<String>,

    /// Unpublished files in a partition younger than this may belong to a run still writing, so a
    /// publish leaves them; older ones are removed as orphans of runs that died. Files of the
    /// manifest being replaced are removed at once (their run has finished).
    #[arg(long, env = "MERCADO_ORPHAN_GRACE_SECONDS", value_name = "SECONDS", default_value_t = 6 * 3600)]
    pub orphan_grace_seconds: u64,

    /// Memory the task's data may take (e.g. 256MiB, 1GiB): larger joins and comparisons are
    /// split into partitions that spill to local disk, and Parquet row groups are flushed
    /// sooner. Unset: no limit. The process itself needs ~30 MiB more.
    #[arg(long, env = "MERCADO_MEMORY_LIMIT", value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<u64>,

    #[command(flatten)]
    pub waits: Waits,
}

/// How long a task waits on its stores: every wait is bounded, so a stuck session or a frozen
/// endpoint fails the task (and Airflow retries it) instead of holding the DAG forever.
#[derive(Debug, Clone, clap::Args)]
pub struct Waits {
    /// Longest wait for a PostgreSQL/Redshift connection (TCP, TLS and login), in seconds.
    #[arg(long, env = "MERCADO_PG_CONNECT_TIMEOUT_SECONDS", value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub pg_connect_timeout_seconds: u64,

    /// Longest a PostgreSQL statement waits for a lock (the warehouse's writer lock among them:
    /// another load holding it), in seconds; then the task fails naming the lock.
    #[arg(long, env = "MERCADO_PG_LOCK_TIMEOUT_SECONDS", value_name = "SECONDS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub pg_lock_timeout_seconds: u64,

    /// Longest any one PostgreSQL/Redshift statement may run, in seconds.
    #[arg(long, env = "MERCADO_PG_STATEMENT_TIMEOUT_SECONDS", value_name = "SECONDS", default_value_t = 1800,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub pg_statement_timeout_seconds: u64,

    /// Longest one attempt of an S3 or DynamoDB call may take (connect included), in seconds.
    #[arg(long, env = "MERCADO_AWS_ATTEMPT_TIMEOUT_SECONDS", value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub aws_attempt_timeout_seconds: u64,

    /// Longest an S3 or DynamoDB call may take with all its retries, in seconds.
    #[arg(long, env = "MERCADO_AWS_OPERATION_TIMEOUT_SECONDS", value_name = "SECONDS", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub aws_operation_timeout_seconds: u64,

    /// Attempts of an S3 or DynamoDB call (the SDK's standard retries, exponential backoff with
    /// jitter, on throttling, 5xx and timeouts).
    #[arg(long, env = "MERCADO_AWS_MAX_ATTEMPTS", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=20))]
    pub aws_max_attempts: u32,
}

impl Default for Waits {
    /// The flags' defaults (for tasks built in code, as the tests do).
    fn default() -> Self {
        Waits {
            pg_connect_timeout_seconds: 10,
            pg_lock_timeout_seconds: 600,
            pg_statement_timeout_seconds: 1800,
            aws_attempt_timeout_seconds: 30,
            aws_operation_timeout_seconds: 120,
            aws_max_attempts: 4,
        }
    }
}

impl LakeArgs {
    /// The given run id, or a fresh time-ordered one.
    pub fn run_id(&self) -> String {
        self.run_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string())
    }

    /// Fixes the run id before the run, so files, manifests, summary and audit row all name the
    /// same run.
    pub fn fix_run_id(&mut self) {
        if self.run_id.is_none() {
            self.run_id = Some(self.run_id());
        }
    }
}

/// Bytes from `256MiB`, `1GiB`, `512MB`, `64KiB` or a plain number of bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("expected a size such as 256MiB or 1GiB, got {s:?}"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {s:?} (use KiB, MiB or GiB)"
            ))
        }
    };
    number
        .checked_mul(scale)
        .filter(|b| *b > 0)
        .ok_or_else(|| format!("{s:?} is not a usable size"))
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("expected a date as YYYY-MM-DD (e.g. 2025-03-17), got {s:?}"))
}

/// Logs go to stderr (stdout carries only the summary); RUST_LOG sets the level, default info.
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Ends a task: the summary as the last stdout line and exit 0, or a one-line reason on stderr
/// and exit 1.
pub fn finish<E: std::fmt::Display>(task: &str, result: Result<Summary, E>) -> ExitCode {
    match result {
        Ok(summary) => {
            // Docker reads a container's stdout and stderr through separate pipes, and
            // DockerOperator keeps the last line of both merged: let the logs drain first so the
            // summary is last there too.
            let _ = std::io::Write::flush(&mut std::io::stderr());
            std::thread::sleep(std::time::Duration::from_millis(50));
            println!("{}", summary.to_json_line());
            ExitCode::SUCCESS
        }
        Err(e) => {
            let one_line = e.to_string().replace('\n', " ");
            eprintln!("{task} failed: {one_line}");
            ExitCode::FAILURE
        }
    }
}
