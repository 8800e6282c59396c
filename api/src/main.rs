//! `mercado-api`: serve the OLTP API, apply migrations, or print the OpenAPI document.

use std::net::SocketAddr;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Mercado OLTP API: customers, vendors and inventory in PostgreSQL; carts and checkout in DynamoDB.
///
/// Without a subcommand it serves HTTP. Logs go to stderr; RUST_LOG sets the level (default info).
#[derive(Debug, Parser)]
#[command(name = "mercado-api", version, about)]
struct Cli {
    #[command(flatten)]
    config: mercado_api::Config,

    /// Address to listen on.
    #[arg(long, env = "MERCADO_API_BIND", default_value = "127.0.0.1:8000")]
    bind: SocketAddr,

    /// Log format on stderr: `text` for people, `json` for log collectors.
    #[arg(long, env = "MERCADO_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending PostgreSQL migrations and the DynamoDB table, then exit.
    Migrate,
    /// Print the OpenAPI document (JSON) and exit; touches no store.
    Openapi,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(&cli.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            println!("{}", mercado_api::http::openapi::document_json());
        }
        Command::Migrate => {
            let state = mercado_api::AppState::connect(&cli.config)
                .await
                .context("preparing the stores")?;
            drop(state);
            println!(r#"{{"task":"migrate","status":"ok"}}"#);
        }
        Command::Serve => {
            let state = mercado_api::AppState::connect(&cli.config)
                .await
                .context("preparing the stores")?;
            let listener = tokio::net::TcpListener::bind(cli.bind)
                .await
                .with_context(|| format!("binding {}", cli.bind))?;
            tracing::info!(addr = %cli.bind, "mercado-api listening");
            mercado_api::serve(listener, state, mercado_api::shutdown_signal()).await?;
            tracing::info!("mercado-api stopped");
        }
    }
    Ok(())
}

fn init_tracing(format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
