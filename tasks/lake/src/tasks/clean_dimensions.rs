//! `clean_dimensions --date D`: `clean`'s catalogue-sized part, once per date however many shards
//! the transactions are split into: categories, vendors, customers, inventory and the open carts
//! standardized and validated, refused rows to quarantine, published (see [`crate::cleaning`]).

use crate::cleaning::Cleaning;
use crate::cli::LakeArgs;
use crate::error::Result;
use crate::lake::Lake;
use crate::summary::Summary;

pub const TASK: &str = "clean_dimensions";

/// This task's flags: the ones every task has.
pub type Args = LakeArgs;

pub async fn run(args: &LakeArgs) -> Result<Summary> {
    let started = std::time::Instant::now();
    let lake = Lake::connect(args).await?;
    let (date, run_id) = (args.date, args.run_id());
    let mut summary = Summary::new(TASK, date, &run_id);
    tracing::info!(%date, run_id, "clean_dimensions starting");
    Cleaning::new(&lake, TASK, date, &run_id)
        .dimensions(&mut summary)
        .await?;
    Ok(summary.finish(started))
}
