//! A day split `N` ways: which transactions are a shard's (a stable hash of the transaction id),
//! the flags of the tasks that run one shard (`--shard I/N --stage-id S`), and where a shard's
//! outputs wait until `commit` publishes all `N` at once.
//!
//! Only the datasets keyed by transaction ([`crate::contracts::SHARDED`]) are split; dimensions
//! and open carts are catalogue-sized and done once (`clean_dimensions`, `gold_dimensions`). With
//! `N > 1` a shard's manifest of such a dataset is *staged*
//! (`…/dt=D/_staged/<stage>/shard-I-of-N.json`, see [`crate::partition::Partition::staged_key`]):
//! the next stage's shard `I` reads it, and no reader of the published partition sees it until
//! `commit` merges the `N` staged manifests into the one it publishes. With `N = 1` a shard is the
//! whole date and publishes as an unsharded task does.

use std::fmt;
use std::str::FromStr;

use crate::cli::LakeArgs;
use crate::error::{LakeError, Result};
use crate::partition::DatasetId;

/// The most shards a day may be split into.
pub const MAX_SHARDS: u32 = 64;

/// Shard `index` of `count` (`0 ≤ index < count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// The whole date as one shard.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Whether the transaction `id` is this shard's. Copies of a transaction share their id, so
    /// they meet in one shard (which keeps one of them).
    pub fn owns(&self, id: &str) -> bool {
        self.count <= 1 || mercado_core::keys::key_hash(id) % self.count == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let usage = || {
            format!("expected a shard as I/N with 0 <= I < N <= {MAX_SHARDS} (e.g. 2/4), got {s:?}")
        };
        let (i, n) = s.trim().split_once('/').ok_or_else(usage)?;
        let index: u32 = i.trim().parse().map_err(|_| usage())?;
        let count: u32 = n.trim().parse().map_err(|_| usage())?;
        if count == 0 || count > MAX_SHARDS || index >= count {
            return Err(usage());
        }
        Ok(Shard { index, count })
    }
}

/// The flags of a task that can run one shard of the date.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ShardArgs {
    /// Do only shard I of N of the date's transactions (those whose id hashes to I). With N > 1
    /// the outputs are staged under --stage-id until `commit --shards N` publishes all N together.
    /// Unset: the whole date, published at once.
    #[arg(long, env = "MERCADO_SHARD", value_name = "I/N")]
    pub shard: Option<Shard>,

    /// The run whose shards belong together (Airflow passes its run id): where the shards'
    /// outputs wait for `commit`. Required with --shard I/N when N > 1.
    #[arg(long, env = "MERCADO_STAGE_ID", value_name = "ID")]
    pub stage_id: Option<String>,
}

impl ShardArgs {
    /// Where this task's sharded outputs go: staged under the stage when split, else published.
    pub fn staging(&self) -> Result<Option<Staging>> {
        match self.shard {
            None | Some(Shard { count: 1, .. }) => Ok(None),
            Some(shard) => Ok(Some(Staging::new(shard, self.stage_id.as_deref())?)),
        }
    }
}

/// A shard whose outputs wait, staged under its run's stage, for `commit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staging {
    pub shard: Shard,
    /// Key-safe (see [`stage_key`]).
    pub stage: String,
}

impl Staging {
    pub fn new(shard: Shard, stage_id: Option<&str>) -> Result<Self> {
        let stage = stage_key(stage_id.unwrap_or_default()).ok_or_else(|| {
            LakeError::Config(format!(
                "--shard {shard} needs --stage-id (MERCADO_STAGE_ID): the id every shard of the run and its `commit` share"
            ))
        })?;
        Ok(Self { shard, stage })
    }

    /// Whether this shard's manifest of `dataset` is staged rather than published.
    pub fn stages(&self, dataset: DatasetId) -> bool {
        crate::contracts::SHARDED.iter().any(|c| c.id == dataset)
    }
}

/// A stage id as it appears in object keys: letters, digits, `.`, `_` and `-` kept, anything else
/// (an Airflow run id's `:` and `+`) becomes `_`. `None` for an empty id.
pub fn stage_key(id: &str) -> Option<String> {
    let id = id.trim();
    if id.is_empty() || id.len() > 200 {
        return None;
    }
    Some(
        id.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect(),
    )
}

/// The flags of a sharded task (`clean`, `enrich`, `gold`): every task's, and the shard's.
#[derive(Debug, Clone, clap::Args)]
pub struct ShardedArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub shard: ShardArgs,
}

impl ShardedArgs {
    /// The whole date (what a task run by hand without `--shard` does).
    pub fn whole(lake: LakeArgs) -> Self {
        Self {
            lake,
            shard: ShardArgs::default(),
        }
    }

    /// Shard `shard` of the run `stage`.
    pub fn of(lake: LakeArgs, shard: Shard, stage: &str) -> Self {
        Self {
            lake,
            shard: ShardArgs {
                shard: Some(shard),
                stage_id: Some(stage.to_string()),
            },
        }
    }
}

impl crate::entry::TaskArgs for ShardedArgs {
    fn lake(&self) -> &LakeArgs {
        &self.lake
    }
    fn lake_mut(&mut self) -> &mut LakeArgs {
        &mut self.lake
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_shards() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        assert_eq!(" 0 / 1 ".parse::<Shard>(), Ok(Shard::WHOLE));
        for bad in ["4/4", "1/0", "-1/4", "2", "a/b", "0/65"] {
            let e = bad.parse::<Shard>().expect_err(bad);
            assert!(e.contains("I/N"), "{e}");
        }
    }

    #[test]
    fn every_id_is_in_exactly_one_shard() {
        for count in [1, 2, 3, 4, 16] {
            let mut per_shard = vec![0u32; count as usize];
            for n in 0..2000 {
                let id = format!("0190{n:028x}");
                let owners: Vec<u32> = (0..count)
                    .filter(|&index| Shard { index, count }.owns(&id))
                    .collect();
                assert_eq!(owners.len(), 1, "{id} in {owners:?} of {count}");
                per_shard[owners[0] as usize] += 1;
            }
            // Spread: no shard gets less than half its fair share.
            assert!(
                per_shard.iter().all(|&k| k >= 1000 / count),
                "{per_shard:?}"
            );
        }
    }

    #[test]
    fn stage_ids_become_key_safe() {
        assert_eq!(
            stage_key("scheduled__2025-03-17T00:00:00+00:00").as_deref(),
            Some("scheduled__2025-03-17T00_00_00_00_00")
        );
        assert_eq!(stage_key("  "), None);
        let shard = Shard { index: 1, count: 4 };
        assert!(matches!(
            Staging::new(shard, None),
            Err(LakeError::Config(_))
        ));
        let args = ShardArgs {
            shard: Some(Shard::WHOLE),
            stage_id: None,
        };
        assert_eq!(args.staging().expect("one shard needs no stage"), None);
    }
}
