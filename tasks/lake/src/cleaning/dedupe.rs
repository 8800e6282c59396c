//! Bounded dedupe of the day's transactions: which ids repeat (in as many passes over the day's
//! ids as keep their digests within a share of `--memory-limit`) and which copy of each to keep.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::transactions::{parse_time, trimmed_id, RawTexts, RAW_TXN_COLUMNS};
use super::{text, text_column};
use crate::error::Result;
use crate::parquet_io::LocalPartition;
use crate::shard::Shard;

/// Which copy of a transaction survives when its id appears more than once: the earliest
/// `created_at` (an unreadable one ranks last), then the smallest digest of the record's cells (any fixed tie-break would do).
/// The rule depends on the copies only, never on the order the shards' queries returned them,
/// so a re-extract keeps the same copy.
pub(super) type CopyRank = (i64, u128);

pub(super) fn copy_rank(texts: &RawTexts<'_>, i: usize) -> CopyRank {
    let created = parse_time(text(texts.columns[4], i)).map_or(i64::MAX, |t| t.timestamp_micros());
    let mut record = Vec::new();
    for c in texts.columns {
        match text(c, i) {
            None => record.push(0u8),
            Some(t) => {
                record.push(1);
                record.extend((t.len() as u64).to_le_bytes());
                record.extend(t.as_bytes());
            }
        }
    }
    (created, crate::rows::digest_bytes(&record))
}

/// The repeated transaction ids of the day (as digests) and the rank of the copy of each to
/// keep (first passes over the day's raw transactions).
pub(super) struct Copies {
    pub(super) keep: HashMap<u128, CopyRank>,
    /// Passes the search for repeats took to keep to the memory limit.
    pub(super) passes: usize,
}

/// The share of `--memory-limit` the ids' digests may take while repeats are found: a day with
/// more ids than fit is searched in passes, each over the ids of one hash partition, so memory
/// stays flat however many lines the day has.
pub(super) const DIGESTS_SHARE_OF_LIMIT: u64 = 8;

/// At most this many passes, each a read of the day's ids, however small the limit.
pub(super) const MAX_ID_PASSES: usize = 64;

impl Copies {
    pub(super) fn count(
        local: &LocalPartition,
        memory_limit: Option<u64>,
        shard: Shard,
    ) -> Result<Self> {
        // A shard reads its own ids only (about its share of the day's).
        let ids = (local.manifest.rows / u64::from(shard.count.max(1))) as usize;
        let digest_bytes = std::mem::size_of::<u128>() as u64;
        let passes = memory_limit.map_or(1, |limit| {
            ((ids as u64 * digest_bytes).div_ceil((limit / DIGESTS_SHARE_OF_LIMIT).max(1)) as usize)
                .clamp(1, MAX_ID_PASSES)
        });
        // Sorted digests, not a map of counts: 16 bytes an id, sized once, no rehash peaks.
        let mut digests: Vec<u128> = Vec::with_capacity(ids / passes + ids / passes / 16 + 16);
        let mut repeated: HashSet<u128> = HashSet::default();
        for pass in 0..passes {
            digests.clear();
            for batch in super::shard_batches(local, &RAW_TXN_COLUMNS[..1], shard) {
                let batch = batch?;
                let column = text_column(&batch, RAW_TXN_COLUMNS[0])?;
                for i in 0..batch.num_rows() {
                    if let Some(id) = trimmed_id(column, i) {
                        let d = crate::rows::digest(id);
                        if passes == 1 || (d % passes as u128) as usize == pass {
                            digests.push(d);
                        }
                    }
                }
            }
            digests.sort_unstable();
            repeated.extend(digests.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]));
        }
        drop(digests);
        if passes > 1 {
            tracing::info!(
                passes,
                ids,
                "repeated transaction ids found in passes under the memory limit"
            );
        }
        // Only repeated ids are remembered, with the rank of the copy to keep: worked out in a
        // second read that a day without repeats never needs.
        let mut keep: HashMap<u128, CopyRank> = HashMap::default();
        if !repeated.is_empty() {
            for batch in super::shard_batches(local, &RAW_TXN_COLUMNS, shard) {
                let batch = batch?;
                let texts = RawTexts::of(&batch)?;
                for i in 0..batch.num_rows() {
                    let Some(d) = texts.id(i).map(crate::rows::digest) else {
                        continue;
                    };
                    if repeated.contains(&d) {
                        let rank = copy_rank(&texts, i);
                        keep.entry(d)
                            .and_modify(|r| *r = (*r).min(rank))
                            .or_insert(rank);
                    }
                }
            }
        }
        Ok(Self { keep, passes })
    }

    /// Whether this copy of transaction `id` (of rank `rank`) is the one to keep: an id seen
    /// once is; of a repeated id, the first copy of the best rank (exact copies tie).
    pub(super) fn is_kept(
        &self,
        id: &str,
        rank: impl FnOnce() -> CopyRank,
        kept: &mut HashSet<u128>,
    ) -> bool {
        if self.keep.is_empty() {
            return true;
        }
        let d = crate::rows::digest(id);
        match self.keep.get(&d) {
            None => true,
            Some(best) => *best == rank() && kept.insert(d),
        }
    }
}
