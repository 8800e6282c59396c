//! `clean --date D`: see `mercado_lake::tasks::clean`.

use clap::Parser;

/// Clean one logical date: standardize and validate raw/ against the data contracts into cleaned/, sending each refused row to quarantine/ with its reason (rows_in = rows_out + quarantined + duplicates). Prints a one-line JSON summary last on stdout.
#[derive(Parser)]
#[command(name = "clean", version, about)]
struct Cli {
    #[command(flatten)]
    args: mercado_lake::cli::LakeArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    mercado_lake::cli::init_tracing();
    mercado_lake::cli::finish("clean", mercado_lake::tasks::clean::run(&cli.args).await)
}
