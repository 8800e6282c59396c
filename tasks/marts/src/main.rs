//! `marts --date D`: see `mercado_lake::tasks::marts`.

use clap::Parser;

/// Bring the warehouse marts up to date for one logical date (they are views over core: this
/// applies their definitions and checks each answers for the date) and report the day's KPIs
/// (GMV, orders, AOV, cart abandonment, repeat rate) in the JSON summary, the last line on stdout.
#[derive(Parser)]
#[command(name = "marts", version)]
struct Cli {
    #[command(flatten)]
    args: mercado_lake::tasks::marts::MartsArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut cli = Cli::parse();
    mercado_lake::cli::init_tracing();
    cli.args.lake.fix_run_id();
    let started = std::time::Instant::now();
    let result = mercado_lake::tasks::marts::run(&cli.args).await;
    mercado_lake::cli::record_and_finish("marts", &cli.args.lake, started, result).await
}
