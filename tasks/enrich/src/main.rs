//! `enrich --date D`: see `mercado_lake::tasks::enrich`.

use clap::Parser;

/// Enrich one logical date: join cleaned transaction lines with inventory, category, vendor and customer as of the date, add date_id and price flags, into work/. Prints a one-line JSON summary last on stdout.
#[derive(Parser)]
#[command(name = "enrich", version)]
struct Cli {
    #[command(flatten)]
    args: mercado_lake::cli::LakeArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut cli = Cli::parse();
    mercado_lake::cli::init_tracing();
    cli.args.fix_run_id();
    let started = std::time::Instant::now();
    let result = mercado_lake::tasks::enrich::run(&cli.args).await;
    mercado_lake::cli::record_and_finish("enrich", &cli.args, started, result).await
}
