//! `enrich --date D`: see `mercado_lake::tasks::enrich`.

use clap::Parser;

/// Enrich one logical date: join cleaned transaction lines with inventory, category, vendor and customer as of the date, add date_id and price flags, into work/. Prints a one-line JSON summary last on stdout.
#[derive(Parser)]
#[command(name = "enrich", version, about)]
struct Cli {
    #[command(flatten)]
    args: mercado_lake::cli::LakeArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    mercado_lake::cli::init_tracing();
    mercado_lake::cli::finish("enrich", mercado_lake::tasks::enrich::run(&cli.args).await)
}
