//! `reconcile --date D`: see `mercado_lake::tasks::reconcile`.

use clap::Parser;

/// Check that nothing was lost between checkout and warehouse for one date: the count and sum of
/// the day's checkout totals in DynamoDB equal the warehouse's transactions and fact_sales total
/// plus what clean quarantined. A mismatch exits 1 with the numbers and is recorded in
/// audit.dq_failures. Prints a one-line JSON summary last on stdout.
#[derive(Parser)]
#[command(name = "reconcile", version)]
struct Cli {
    #[command(flatten)]
    args: mercado_lake::tasks::reconcile::ReconcileArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut cli = Cli::parse();
    mercado_lake::cli::init_tracing();
    cli.args.lake.fix_run_id();
    let started = std::time::Instant::now();
    let result = mercado_lake::tasks::reconcile::run(&cli.args).await;
    let args = &cli.args;
    mercado_lake::cli::record_failure_and_finish(
        "reconcile",
        &args.lake,
        &args.warehouse,
        started,
        result,
    )
    .await
}
