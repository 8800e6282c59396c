//! `commit --date D --shards N --stage-id S`: publishes a split day. Each sharded dataset's manifest
//! ([`crate::contracts::SHARDED`]) becomes the merge of its `N` shards' staged manifests, and
//! nothing is published unless every shard of every such dataset finished and their numbers agree:
//! one schema per dataset, `clean`'s counts reconciling, each stage having read exactly the rows the
//! stage before it wrote. Each manifest is one PUT, as an unsharded task's; the files are the
//! shards' own, not copied. A reader sees the date before the commit or after it, never a part.
//!
//! With `--shards 1` the shard published the date itself: this checks the datasets are published.

use crate::cli::LakeArgs;
use crate::contracts::{self as c, Contract};
use crate::error::{LakeError, Result};
use crate::lake::Lake;
use crate::manifest::Manifest;
use crate::partition::Partition;
use crate::shard::{stage_key, Shard, MAX_SHARDS};
use crate::summary::{DatasetCounts, Summary};

pub const TASK: &str = "commit";

/// Every task's flags, the number of shards and the run they belong to.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub lake: LakeArgs,

    /// How many shards the run split the date into (the N of their --shard I/N).
    #[arg(long, env = "MERCADO_SHARDS", value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=MAX_SHARDS as i64))]
    pub shards: u32,

    /// The run whose shards to publish (their --stage-id). Required with --shards above 1.
    #[arg(long, env = "MERCADO_STAGE_ID", value_name = "ID")]
    pub stage_id: Option<String>,
}

impl crate::entry::TaskArgs for Args {
    fn lake(&self) -> &LakeArgs {
        &self.lake
    }
    fn lake_mut(&mut self) -> &mut LakeArgs {
        &mut self.lake
    }
}

pub async fn run(args: &Args) -> Result<Summary> {
    let started = std::time::Instant::now();
    let lake = Lake::connect(&args.lake).await?;
    let (date, run_id) = (args.lake.date, args.lake.run_id());
    let mut summary = Summary::new(TASK, date, &run_id);
    summary
        .figures
        .insert("shards".into(), args.shards.to_string());
    if args.shards == 1 {
        tracing::info!(%date, "commit: one shard, which published the date itself; checking");
        for contract in c::SHARDED {
            let m = lake.require_manifest(&contract.id.at(date)).await?;
            summary.add(contract.id.to_string(), counts(&m));
        }
        summary.note = Some("one shard: the tasks published the date themselves".into());
        return Ok(summary.finish(started));
    }
    let stage = args
        .stage_id
        .as_deref()
        .and_then(stage_key)
        .ok_or_else(|| {
            LakeError::Config(format!(
                "--shards {} needs --stage-id (MERCADO_STAGE_ID): the id the run's shards were given",
                args.shards
            ))
        })?;
    tracing::info!(%date, stage, shards = args.shards, "commit starting");
    // Everything is gathered and checked before the first PUT.
    let mut merged: Vec<(Partition, Manifest)> = Vec::new();
    for contract in c::SHARDED {
        let p = contract.id.at(date);
        merged.push((p, merge(&lake, contract, p, &stage, args.shards).await?));
    }
    check_chain(&merged)?;
    for (p, m) in &merged {
        lake.publish(p, m).await?;
        tracing::info!(partition = %p, rows = m.rows, files = m.files.len(), "published");
        summary.add(p.dataset.to_string(), counts(m));
    }
    Ok(summary.finish(started))
}

/// One dataset's `shards` staged manifests as one.
async fn merge(lake: &Lake, contract: Contract, p: Partition, stage: &str, shards: u32) -> Result<Manifest> {
    let mut parts = Vec::new();
    let mut missing = Vec::new();
    for index in 0..shards {
        match lake.staged_manifest(&p, stage, Shard { index, count: shards }).await? {
            Some(m) => parts.push(m),
            None => missing.push(index),
        }
    }
    if !missing.is_empty() {
        return Err(LakeError::MissingInput(format!(
            "shard(s) {missing:?} of {shards} of {} for {} have not finished in run {stage}; run `{} --date {} --shard I/{shards} --stage-id {stage}` for each first",
            contract.id,
            p.date,
            p.dataset.zone.written_by(),
            p.date
        )));
    }
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let m = Manifest::merge(&parts, stage, now).map_err(|message| LakeError::Manifest {
        key: p.to_string(),
        message,
    })?;
    let count = |k: &str| m.counts.get(k).copied();
    if let (Some(rows_in), Some(accepted), Some(quarantined), Some(duplicates)) = (
        count("rows_in"),
        count("accepted"),
        count("quarantined"),
        count("duplicates"),
    ) {
        if rows_in != accepted + quarantined + duplicates {
            return Err(LakeError::Invariant(format!(
                "{}: the shards' counts do not reconcile: {rows_in} in, {accepted} accepted, {quarantined} quarantined, {duplicates} duplicates",
                p
            )));
        }
    }
    Ok(m)
}

/// Each stage read exactly what the stage before it wrote: enrich's shards all of clean's lines,
/// gold's all of enrich's (a shard re-run alone from another run would break this).
fn check_chain(merged: &[(Partition, Manifest)]) -> Result<()> {
    let rows = |contract: Contract| {
        merged
            .iter()
            .find(|(p, _)| p.dataset == contract.id)
            .map(|(_, m)| (m.rows, m.counts.get("rows_in").copied()))
    };
    for (from, to) in [
        (c::CLEAN_TRANSACTION_LINES, c::WORK_SALES_LINES),
        (c::WORK_SALES_LINES, c::GOLD_FACT_SALES),
    ] {
        if let (Some((written, _)), Some((_, Some(read)))) = (rows(from), rows(to)) {
            if written != read {
                return Err(LakeError::Invariant(format!(
                    "{} read {read} rows of {}, whose shards wrote {written}: re-run the run's shards from {}",
                    to.id,
                    from.id,
                    from.id.zone.written_by()
                )));
            }
        }
    }
    Ok(())
}

fn counts(m: &Manifest) -> DatasetCounts {
    DatasetCounts {
        rows_in: m.rows,
        rows_out: m.rows,
        rows_written: m.rows,
        bytes: m.files.iter().map(|f| f.bytes).sum(),
        ..Default::default()
    }
}
