//! `gold_dimensions --date D`: `gold`'s once-per-date part: `dim_customer` and `dim_inventory` as
//! slowly changing type 2 against the latest earlier cleaned snapshot, `dim_vendor`,
//! `dim_category`, `dim_date` and `fact_cart_snapshot` (see [`crate::star_schema`]).

use crate::cli::LakeArgs;
use crate::error::Result;
use crate::lake::Lake;
use crate::star_schema::StarSchema;
use crate::summary::Summary;

pub const TASK: &str = "gold_dimensions";

/// This task's flags: the ones every task has.
pub type Args = LakeArgs;

pub async fn run(args: &LakeArgs) -> Result<Summary> {
    let started = std::time::Instant::now();
    let lake = Lake::connect(args).await?;
    let (date, run_id) = (args.date, args.run_id());
    let mut summary = Summary::new(TASK, date, &run_id);
    tracing::info!(%date, run_id, "gold_dimensions starting");
    StarSchema::new(&lake, TASK, date, &run_id)
        .dimensions(&mut summary)
        .await?;
    Ok(summary.finish(started))
}
