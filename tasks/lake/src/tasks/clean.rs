//! `clean --date D [--shard I/N --stage-id S]`: the day's transactions standardized, validated and
//! exploded into lines, refused rows to quarantine (see [`crate::cleaning`]).
//!
//! Without `--shard` it first does `clean_dimensions`' work (the date's whole cleaning, as one
//! process); with `--shard I/N` only the transactions whose id hashes to `I`, checked against the
//! date's published cleaned dimensions, and with `N > 1` its outputs are staged for `commit`.

use crate::cleaning::Cleaning;
use crate::contracts as c;
use crate::error::Result;
use crate::lake::Lake;
use crate::shard::{Shard, ShardedArgs};
use crate::summary::Summary;

pub const TASK: &str = "clean";

/// Every task's flags and the shard's.
pub type Args = ShardedArgs;

pub async fn run(args: &ShardedArgs) -> Result<Summary> {
    let started = std::time::Instant::now();
    let lake = Lake::connect(&args.lake)
        .await?
        .with_staging(args.shard.staging()?);
    let (date, run_id) = (args.lake.date, args.lake.run_id());
    let mut summary = Summary::new(TASK, date, &run_id);
    let cleaning = Cleaning::new(&lake, TASK, date, &run_id);
    let (known, shard) = match args.shard.shard {
        None => {
            tracing::info!(%date, run_id, "clean starting (the whole date)");
            (cleaning.dimensions(&mut summary).await?, Shard::WHOLE)
        }
        Some(shard) => {
            tracing::info!(%date, run_id, %shard, "clean starting (one shard of the transactions)");
            summary.figures.insert("shard".into(), shard.to_string());
            (cleaning.known().await?, shard)
        }
    };
    let counts = cleaning.transactions(&known, shard).await?;
    summary.add(c::RAW_TRANSACTIONS.id.to_string(), counts);
    Ok(summary.finish(started))
}
