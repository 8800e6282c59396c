//! `load_redshift --date D --target redshift|postgres`: see `mercado_lake::tasks::load_redshift`.

use clap::Parser;

/// Load one logical date of the gold zone into the warehouse: Redshift (COPY … FORMAT AS PARQUET
/// from a manifest of exactly the published files, over TLS) or PostgreSQL (binary COPY streamed
/// from the Parquet). Data-quality rules run first; then one transaction replaces the date's facts
/// and merges the dimensions (SCD type 2 closed and opened). Re-loading a date gives the same rows.
/// Prints a one-line JSON summary last on stdout.
#[derive(Parser)]
#[command(name = "load_redshift", version)]
struct Cli {
    #[command(flatten)]
    args: mercado_lake::tasks::load_redshift::LoadArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut cli = Cli::parse();
    mercado_lake::cli::init_tracing();
    cli.args.lake.fix_run_id();
    let started = std::time::Instant::now();
    let result = mercado_lake::tasks::load_redshift::run(&cli.args).await;
    let args = &cli.args;
    mercado_lake::cli::record_failure_and_finish(
        "load_redshift",
        &args.lake,
        &args.warehouse,
        started,
        result,
    )
    .await
}
