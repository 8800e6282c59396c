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
    /// Print a bearer token signed with the local signing key (created, with the JWKS, when
    /// missing); touches no store. A service token without --scope gets every scope.
    Token(TokenArgs),
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("principal").required(true).args(["customer", "vendor", "service"])))]
struct TokenArgs {
    /// A customer's token (`sub` = customer:ID).
    #[arg(long)]
    customer: Option<i64>,
    /// A vendor's token (`sub` = vendor:ID).
    #[arg(long)]
    vendor: Option<i64>,
    /// A service's token (`sub` = service:NAME).
    #[arg(long)]
    service: Option<String>,
    /// A scope of the service token (repeat the flag); default: every scope.
    #[arg(long = "scope", requires = "service")]
    scopes: Vec<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    ttl: u64,
}

fn token(config: &mercado_api::Config, args: &TokenArgs) -> anyhow::Result<String> {
    use mercado_api::http::auth::{Auth, Principal, Scope};
    anyhow::ensure!(
        !config.signing_key_file.as_os_str().is_empty(),
        "no signing key is configured (--signing-key-file)"
    );
    // Creates the key and the JWKS when missing, and checks the JWKS holds the key.
    let auth = Auth::from_config(config).context("loading the keys")?;
    let signer = auth.signer().context("no signing key")?;
    let sub = match (&args.customer, &args.vendor, &args.service) {
        (Some(id), _, _) => format!("customer:{id}"),
        (_, Some(id), _) => format!("vendor:{id}"),
        (_, _, Some(name)) => format!("service:{name}"),
        _ => anyhow::bail!("give --customer, --vendor or --service"),
    };
    anyhow::ensure!(
        args.service.is_some() || args.scopes.is_empty(),
        "--scope is for service tokens only"
    );
    for s in &args.scopes {
        anyhow::ensure!(
            Scope::parse(s).is_some(),
            "unknown scope {s:?}; scopes: {}",
            Scope::all_text()
        );
    }
    let scope = if args.scopes.is_empty() {
        Scope::all_text()
    } else {
        args.scopes.join(" ")
    };
    let principal = Principal::parse(&sub, Some(&scope))
        .with_context(|| format!("{sub} is not a principal (ids are positive integers)"))?;
    let token = signer.mint(&principal, std::time::Duration::from_secs(args.ttl))?;
    // What the API will make of it.
    auth.verify(&token)
        .map_err(|e| anyhow::anyhow!("the JWKS does not verify the new token: {}", e.message))?;
    Ok(token)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(&cli.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            println!("{}", mercado_api::http::openapi::document_json());
        }
        Command::Token(args) => {
            println!("{}", token(&cli.config, &args)?);
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
