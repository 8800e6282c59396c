//! `audit.pipeline_runs`: one row per task run, written here and nowhere else.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use tokio_postgres::Client;

use crate::error::Result;

/// One run of a task, as recorded.
#[derive(Debug, Clone)]
pub struct RunRecord<'a> {
    pub task: &'a str,
    pub date: NaiveDate,
    pub run_id: &'a str,
    pub rows: i64,
    /// `ok` or `failed`.
    pub status: &'a str,
    pub started: std::time::Instant,
    pub detail: Option<&'a str>,
}

/// Writes the row on `client` (inside the caller's transaction, if it has one open).
pub async fn record(client: &Client, run: &RunRecord<'_>) -> Result<()> {
    let seconds = Decimal::from_f64_retain(run.started.elapsed().as_secs_f64())
        .unwrap_or_default()
        .round_dp(3);
    client
        .execute(
            "INSERT INTO audit.pipeline_runs (task, date, run_id, rows, status, duration_s, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &run.task,
                &run.date,
                &run.run_id,
                &run.rows,
                &run.status,
                &seconds,
                &run.detail,
            ],
        )
        .await?;
    Ok(())
}

/// The same row as one SQL statement, for the Redshift load script, where it is part of the
/// merge transaction; `rows` and `seconds` are SQL expressions.
pub fn record_sql(task: &str, date: NaiveDate, run_id: &str, rows: &str, seconds: &str) -> String {
    format!(
        "INSERT INTO audit.pipeline_runs (task, date, run_id, rows, status, duration_s) \
         VALUES ('{}', '{date}', '{}', {rows}, 'ok', {seconds})",
        task.replace('\'', "''"),
        run_id.replace('\'', "''")
    )
}
