//! `gold --date D [--shard I/N --stage-id S]`: the star schema's facts, `fact_sales`, from the
//! enriched lines (see [`crate::star_schema`]).
//!
//! Without `--shard` it first does `gold_dimensions`' work (the date's whole star schema, as one
//! process); with `--shard I/N` only that shard's lines, staged for `commit` when `N > 1`.

use crate::error::Result;
use crate::lake::Lake;
use crate::shard::ShardedArgs;
use crate::star_schema::StarSchema;
use crate::summary::Summary;

pub const TASK: &str = "gold";

/// Every task's flags and the shard's.
pub type Args = ShardedArgs;

pub async fn run(args: &ShardedArgs) -> Result<Summary> {
    let started = std::time::Instant::now();
    let lake = Lake::connect(&args.lake)
        .await?
        .with_staging(args.shard.staging()?);
    let (date, run_id) = (args.lake.date, args.lake.run_id());
    let mut summary = Summary::new(TASK, date, &run_id);
    let star = StarSchema::new(&lake, TASK, date, &run_id);
    match args.shard.shard {
        None => {
            tracing::info!(%date, run_id, "gold starting (the whole date)");
            star.dimensions(&mut summary).await?;
        }
        Some(shard) => {
            tracing::info!(%date, run_id, %shard, "gold starting (one shard of the facts)");
            summary.figures.insert("shard".into(), shard.to_string());
        }
    }
    star.facts(&mut summary).await?;
    Ok(summary.finish(started))
}
