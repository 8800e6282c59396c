//! Benchmark input: a raw transactions partition of N lines for one date, as `extract` would
//! write it from DynamoDB, referencing customers 1..=C and items 1..=I (which the benchmark loads
//! into PostgreSQL with vendor = item % 1000 + 1 and price = 1.00 + item % 500).
//!
//!   cargo run --release --example synth_raw -- --date 2025-03-17 --lines 1000000 --customers 100000 --items 1000000

use clap::Parser;
use mercado_lake::cli::LakeArgs;
use mercado_lake::contracts as c;
use mercado_lake::parquet_io::PartitionWriter;
use mercado_lake::rows::Cell;
use mercado_lake::Lake;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    lake: LakeArgs,
    #[arg(long, default_value_t = 1_000_000)]
    lines: u64,
    #[arg(long, default_value_t = 100_000)]
    customers: u64,
    #[arg(long, default_value_t = 1_000_000)]
    items: u64,
}

fn price_cents(item: u64) -> u64 {
    100 + item % 500 * 100
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let lake = Lake::connect(&cli.lake).await?;
    let date = cli.lake.date;
    let mut w = PartitionWriter::new(&lake, "synth", c::RAW_TRANSACTIONS, date, "synth")?;
    let (mut written, mut n) = (0u64, 0u64);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    while written < cli.lines {
        let count = (1 + next() % 4).min(cli.lines - written);
        let mut lines = Vec::new();
        let mut total = 0;
        for l in 0..count {
            let item = 1 + next() % cli.items;
            let qty = 1 + next() % 3;
            let unit = price_cents(item);
            total += unit * qty;
            lines.push(serde_json::json!({
                "line_no": (l + 1).to_string(), "item_id": item.to_string(), "vendor_id": (item % 1000 + 1).to_string(),
                "qty": qty.to_string(), "unit_price": format!("{}.{:02}", unit / 100, unit % 100),
                "total_price": format!("{}.{:02}", unit * qty / 100, unit * qty % 100),
            }));
        }
        let id = format!("synth-{n:010}");
        let user = (1 + next() % cli.customers).to_string();
        let total = format!("{}.{:02}", total / 100, total % 100);
        let created = format!(
            "{date}T{:02}:{:02}:{:02}.000Z",
            n % 24,
            n % 60,
            (n / 60) % 60
        );
        let lines = serde_json::Value::Array(lines).to_string();
        w.push(&[
            Cell::Str(&id),
            Cell::Str(&user),
            Cell::Str(&total),
            Cell::Str("1"),
            Cell::Str(&created),
            Cell::Str(&lines),
        ])
        .await?;
        written += count;
        n += 1;
    }
    let m = w.publish(None, Default::default()).await?;
    println!(
        "{{\"transactions\":{},\"lines\":{written},\"bytes\":{}}}",
        m.rows,
        m.files.iter().map(|f| f.bytes).sum::<u64>()
    );
    Ok(())
}
