//! `gold --date D`: see `mercado_lake::tasks::gold`.

use clap::Parser;

/// Build the star schema of one logical date into gold/: fact_sales, dim_customer and dim_inventory (SCD type 2), dim_vendor, dim_category, dim_date, fact_cart_snapshot. Prints a one-line JSON summary last on stdout.
#[derive(Parser)]
#[command(name = "gold", version)]
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
    let result = mercado_lake::tasks::gold::run(&cli.args).await;
    mercado_lake::cli::record_and_finish("gold", &cli.args, started, result).await
}
