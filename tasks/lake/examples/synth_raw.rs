//! Benchmark input: a raw transactions partition of N lines for one date, as `extract` would
//! write it from DynamoDB, referencing customers 1..=C and items 1..=I (which the benchmark loads
//! into PostgreSQL with vendor = item % 1000 + 1 and price = 1.00 + item % 500); optionally a raw
//! carts partition too.
//!
//!   cargo run --release --example synth_raw -- --date 2025-03-17 --lines 1000000 --customers 100000 --items 1000000
//!
//! `--bad-share F` turns about that share of transactions (and carts) into rows `clean` must
//! refuse, one quarantine reason after another, so that a benchmark compares quarantine counts
//! too. Everything is deterministic for a given date and flags: the generator is seeded with the
//! date, so consecutive days differ but a re-run writes the same rows.

use chrono::NaiveDate;
use clap::Parser;
use mercado_core::rng::Rng;
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
    /// Share of transactions (and carts) made bad, 0..=1; each bad one breaks the next rule in
    /// `BAD_TRANSACTIONS` (resp. `BAD_CARTS`).
    #[arg(long, default_value_t = 0.0)]
    bad_share: f64,
    /// Open carts to write into the raw carts partition (0: leave the partition as it is).
    #[arg(long, default_value_t = 0)]
    carts: u64,
    /// Stamp the partitions with the date's kept snapshot (that of an `extract` run after the date
    /// closed), so the DAG's `extract` reuses them as the day's history instead of reading the
    /// sources again: a busy day through Airflow without writing it into DynamoDB.
    #[arg(long)]
    as_kept_snapshot: bool,
}

/// What a bad transaction breaks, in turn. `Duplicate` writes a second copy of a good
/// transaction whose `created_at` is later by half a second (the copies never tie on time, so
/// which one survives does not depend on clean's tie-break by record digest).
#[derive(Clone, Copy, Debug)]
enum Fault {
    Duplicate,
    MissingId,
    BadCustomerId,
    UnknownCustomer,
    BadInstallments,
    BadTimestamp,
    WrongDate,
    BadLines,
    EmptyLines,
    BadLine,
    BadQty,
    BadPrice,
    LineTotalMismatch,
    UnknownItem,
    VendorMismatch,
    BadTotal,
    TotalMismatch,
}

const BAD_TRANSACTIONS: &[Fault] = &[
    Fault::Duplicate,
    Fault::MissingId,
    Fault::BadCustomerId,
    Fault::UnknownCustomer,
    Fault::BadInstallments,
    Fault::BadTimestamp,
    Fault::WrongDate,
    Fault::BadLines,
    Fault::EmptyLines,
    Fault::BadLine,
    Fault::BadQty,
    Fault::BadPrice,
    Fault::LineTotalMismatch,
    Fault::UnknownItem,
    Fault::VendorMismatch,
    Fault::BadTotal,
    Fault::TotalMismatch,
];

/// Carts have no id, total or creation date of their own: fewer rules apply.
const BAD_CARTS: &[Fault] = &[
    Fault::UnknownCustomer,
    Fault::BadTimestamp,
    Fault::BadLines,
    Fault::UnknownItem,
    Fault::VendorMismatch,
];

fn price_cents(item: u64) -> u64 {
    100 + item % 500 * 100
}

fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// A line as the API writes it: every field as text.
struct Line {
    item: u64,
    vendor: u64,
    qty: u64,
    unit: u64,
    total: u64,
}

impl Line {
    fn json(&self, line_no: Option<usize>) -> serde_json::Value {
        let mut v = serde_json::json!({
            "item_id": self.item.to_string(), "vendor_id": self.vendor.to_string(),
            "qty": self.qty.to_string(), "unit_price": money(self.unit), "total_price": money(self.total),
        });
        if let Some(n) = line_no {
            v["line_no"] = (n + 1).to_string().into();
        }
        v
    }
}

/// `count` good lines.
fn lines(rng: &mut Rng, count: u64, items: u64) -> Vec<Line> {
    (0..count)
        .map(|_| {
            let item = 1 + rng.next_u64() % items;
            let qty = 1 + rng.next_u64() % 3;
            let unit = price_cents(item);
            Line {
                item,
                vendor: item % 1000 + 1,
                qty,
                unit,
                total: unit * qty,
            }
        })
        .collect()
}

/// Breaks one line rule in the first line; `None` when `bad` is not a line rule.
fn break_line(bad: Fault, lines: &mut [Line], items: u64, k: u64) -> Option<serde_json::Value> {
    let first = &mut lines[0];
    match bad {
        Fault::UnknownItem => first.item = items + 1 + k % 100,
        Fault::VendorMismatch => first.vendor = first.vendor % 1000 + 1,
        _ => {}
    }
    let mut json: Vec<serde_json::Value> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| l.json(Some(i)))
        .collect();
    match bad {
        Fault::BadLine => {
            json[0].as_object_mut()?.remove("item_id");
        }
        Fault::BadQty => json[0]["qty"] = "0".into(),
        Fault::BadPrice => json[0]["unit_price"] = "-1.00".into(),
        Fault::LineTotalMismatch => json[0]["total_price"] = money(lines[0].total + 1).into(),
        Fault::UnknownItem | Fault::VendorMismatch => {}
        _ => return None,
    }
    Some(serde_json::Value::Array(json))
}

/// The `lines` column of a row: good lines, or lines breaking `bad` when it is a lines rule.
fn lines_text(bad: Option<Fault>, lines: &mut [Line], items: u64, k: u64) -> String {
    let good = |lines: &[Line]| -> serde_json::Value {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| l.json(Some(i)))
            .collect()
    };
    match bad {
        Some(Fault::BadLines) => "not json".to_string(),
        Some(Fault::EmptyLines) => "[]".to_string(),
        Some(b) => break_line(b, lines, items, k)
            .unwrap_or_else(|| good(lines))
            .to_string(),
        None => good(lines).to_string(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let lake = Lake::connect(&cli.lake).await?;
    let date = cli.lake.date;
    let next_day = date.succ_opt().unwrap_or(date);
    let snapshot = match cli.as_kept_snapshot {
        false => None,
        true => Some(
            lake.manifest(&c::RAW_CUSTOMERS.id.at(date))
                .await?
                .and_then(|m| m.snapshot)
                .filter(|s| s.closed)
                .ok_or_else(|| anyhow::anyhow!("--as-kept-snapshot: run `extract --date {date}` (after the date closed) first"))?,
        ),
    };
    let writer = |contract| -> anyhow::Result<PartitionWriter> {
        let w = PartitionWriter::new(&lake, "synth", contract, date, "synth")?;
        Ok(match &snapshot {
            Some(s) => w.with_snapshot(s.clone()),
            None => w,
        })
    };
    let mut w = writer(c::RAW_TRANSACTIONS)?;
    let (mut written, mut n, mut bad_count) = (0u64, 0u64, 0u64);
    // Seeded with the date: each day of a history run gets its own sales.
    let mut rng = Rng::for_day(0x2545_f491_4f6c_dd1d, date);
    while written < cli.lines {
        let count = (1 + rng.next_u64() % 4).min(cli.lines - written);
        let mut txn_lines = lines(&mut rng, count, cli.items);
        let user = 1 + rng.next_u64() % cli.customers;
        let bad = rng.chance(cli.bad_share).then(|| {
            bad_count += 1;
            BAD_TRANSACTIONS[(bad_count - 1) as usize % BAD_TRANSACTIONS.len()]
        });
        let k = bad_count;
        let id = format!("synth-{n:010}");
        let time = |day: NaiveDate, millis: u32| {
            format!(
                "{day}T{:02}:{:02}:{:02}.{millis:03}Z",
                n % 24,
                n % 60,
                (n / 60) % 60
            )
        };
        let lines_json = lines_text(bad, &mut txn_lines, cli.items, k);
        let total: u64 = txn_lines.iter().map(|l| l.total).sum();
        let (mut id_text, mut user_text, mut total_text) =
            (id.clone(), user.to_string(), money(total));
        let (mut installments, mut created) = ("1".to_string(), time(date, 0));
        match bad {
            Some(Fault::MissingId) => id_text = "  ".into(),
            Some(Fault::BadCustomerId) => user_text = format!("u-{user}"),
            Some(Fault::UnknownCustomer) => user_text = (cli.customers + 1 + k % 100).to_string(),
            Some(Fault::BadInstallments) => installments = "0".into(),
            Some(Fault::BadTimestamp) => created = "noon".into(),
            Some(Fault::WrongDate) => created = time(next_day, 0),
            Some(Fault::BadTotal) => total_text = "abc".into(),
            Some(Fault::TotalMismatch) => total_text = money(total + 1),
            _ => {}
        }
        let row = |created: &str| {
            [
                id_text.clone(),
                user_text.clone(),
                total_text.clone(),
                installments.clone(),
                created.to_string(),
                lines_json.clone(),
            ]
        };
        let mut rows = vec![row(&created)];
        if let Some(Fault::Duplicate) = bad {
            // The later copy comes first in the file every other time: the rule is by time, not order.
            let copy = row(&time(date, 500));
            if k % 2 == 0 {
                rows.insert(0, copy);
            } else {
                rows.push(copy);
            }
        }
        for r in &rows {
            let cells: Vec<Cell> = r.iter().map(|s| Cell::Str(s)).collect();
            w.push(&cells).await?;
        }
        written += count;
        n += 1;
    }
    let m = w.publish(None, Default::default()).await?;
    let mut carts_written = 0;
    if cli.carts > 0 {
        // One cart per row; customers drawn at random, so some have two carts (the second one in
        // file order that is valid is a duplicate).
        let mut w = writer(c::RAW_CARTS)?;
        let mut bad_carts = 0u64;
        for i in 0..cli.carts {
            let count = 1 + rng.next_u64() % 3;
            let mut cart_lines = lines(&mut rng, count, cli.items);
            // A cart holds an item once (the warehouse's key is day, customer, item).
            cart_lines.sort_by_key(|l| l.item);
            cart_lines.dedup_by_key(|l| l.item);
            let user = 1 + rng.next_u64() % cli.customers;
            let bad = rng.chance(cli.bad_share).then(|| {
                bad_carts += 1;
                BAD_CARTS[(bad_carts - 1) as usize % BAD_CARTS.len()]
            });
            let lines_json = lines_text(bad, &mut cart_lines, cli.items, bad_carts);
            let user = match bad {
                Some(Fault::UnknownCustomer) => cli.customers + 1 + bad_carts % 100,
                _ => user,
            };
            let updated = match bad {
                Some(Fault::BadTimestamp) => "later".to_string(),
                _ => format!(
                    "{date}T{:02}:{:02}:{:02}.000Z",
                    i % 24,
                    i % 60,
                    (i / 60) % 60
                ),
            };
            w.push(&[
                Cell::Str(&user.to_string()),
                Cell::Str(&updated),
                Cell::Str(&lines_json),
            ])
            .await?;
        }
        carts_written = w.publish(None, Default::default()).await?.rows;
    }
    println!(
        "{{\"transactions\":{},\"lines\":{written},\"bad\":{bad_count},\"carts\":{carts_written},\"bytes\":{}}}",
        m.rows,
        m.files.iter().map(|f| f.bytes).sum::<u64>()
    );
    Ok(())
}
