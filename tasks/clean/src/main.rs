//! `clean --date D`: see `mercado_lake::tasks::clean`.

use clap::Parser;

/// Clean one logical date: standardize and validate raw/ against the data contracts into cleaned/, sending each refused row to quarantine/ with its reason (rows_in = rows_out + quarantined + duplicates). Prints a one-line JSON summary last on stdout.
#[derive(Parser)]
#[command(name = "clean", version)]
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
    let result = mercado_lake::tasks::clean::run(&cli.args).await;
    mercado_lake::cli::record_and_finish("clean", &cli.args, started, result).await
}
