//! `extract --date D`: PostgreSQL (binary COPY) and DynamoDB (day-index Query) → `raw/`.

use clap::Parser;

/// Extract one logical date from PostgreSQL (customers, vendors, categories, inventory; binary
/// COPY) and DynamoDB (the day's transactions and open carts, by Query on the day index) into the
/// lake's raw zone. Prints a one-line JSON summary last on stdout.
#[derive(Parser)]
#[command(name = "extract", version)]
struct Cli {
    #[command(flatten)]
    args: mercado_lake::tasks::extract::ExtractArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut cli = Cli::parse();
    mercado_lake::cli::init_tracing();
    cli.args.lake.fix_run_id();
    let started = std::time::Instant::now();
    let result = mercado_lake::tasks::extract::run(&cli.args).await;
    mercado_lake::cli::record_and_finish("extract", &cli.args.lake, started, result).await
}
