//! `mercado-traffic`: synthetic orders for one day, through the API and its stores.

use anyhow::Context;
use clap::Parser;

/// Write a day of synthetic marketplace traffic: customers, vendors and items through the API
/// over HTTP; orders and open carts stamped inside the day through the API's DynamoDB store.
/// Prints a one-line JSON summary.
#[derive(Parser)]
#[command(name = "mercado-traffic", version, about)]
struct Cli {
    #[command(flatten)]
    traffic: mercado_traffic::TrafficArgs,
    #[command(flatten)]
    stores: mercado_api::Config,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let store = mercado_api::store::dynamo::DynamoStore::connect(&cli.stores).await;
    let summary = mercado_traffic::run(&cli.traffic, &store)
        .await
        .context("writing traffic")?;
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}
