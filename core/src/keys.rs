//! DynamoDB key design: one table, three kinds of item, two global secondary indexes.
//!
//! | item            | pk                    | sk     | gsi1pk (`by_day`)              | gsi2pk (`by_user`) |
//! |-----------------|-----------------------|--------|--------------------------------|--------------------|
//! | cart            | `USER#<user_id>`      | `CART` | `CARTDAY#<YYYY-MM-DD>#<shard>` |                    |
//! | transaction     | `TXN#<transaction_id>`| `TXN`  | `TXNDAY#<YYYY-MM-DD>#<shard>`  | `USER#<user_id>`   |
//! | idempotency key | `IDEM#<user_id>#<key>`| `IDEM` |                                |                    |
//!
//! Index sort keys are `<timestamp RFC 3339>#<id>` (created_at for transactions, updated_at for
//! carts). A day's items are spread over [`DAY_SHARDS`] index partitions so that one busy day
//! does not make one hot partition; the daily extract Queries every shard of the day (in
//! parallel) and never Scans. A cart leaves the index when checkout deletes it, so the carts
//! found under a day are the ones last touched that day and still open.

use chrono::NaiveDate;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const BY_DAY_INDEX: &str = "by_day";
pub const BY_DAY_PK: &str = "gsi1pk";
pub const BY_DAY_SK: &str = "gsi1sk";
pub const BY_USER_INDEX: &str = "by_user";
pub const BY_USER_PK: &str = "gsi2pk";
pub const BY_USER_SK: &str = "gsi2sk";
/// DynamoDB removes expired idempotency records by this attribute (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// Number of index partitions a day's transactions are spread over.
pub const DAY_SHARDS: u32 = 16;

pub const CART_SK: &str = "CART";
pub const TXN_SK: &str = "TXN";
pub const IDEM_SK: &str = "IDEM";

pub fn user_pk(user_id: i64) -> String {
    format!("USER#{user_id}")
}

pub fn txn_pk(transaction_id: &str) -> String {
    format!("TXN#{transaction_id}")
}

pub fn idem_pk(user_id: i64, key: &str) -> String {
    format!("IDEM#{user_id}#{key}")
}

/// What a `by_day` partition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayKind {
    Transactions,
    Carts,
}

/// The `by_day` partition of one shard of one day.
pub fn day_pk(kind: DayKind, day: NaiveDate, shard: u32) -> String {
    let prefix = match kind {
        DayKind::Transactions => "TXNDAY",
        DayKind::Carts => "CARTDAY",
    };
    format!("{prefix}#{}#{shard:02}", day.format("%Y-%m-%d"))
}

/// The shard of an item: a stable hash (FNV-1a) of its id, so rewrites land in the same place.
pub fn shard_of(id: &str) -> u32 {
    key_hash(id) % DAY_SHARDS
}

/// A stable hash (32-bit FNV-1a) of an id: the same on every machine and in every version, so a
/// key always lands in the same shard (of the day index, or of a day's lake work split `N` ways).
pub fn key_hash(id: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Sort key on both indexes: time order, ties broken by id.
pub fn time_sk(at_rfc3339: &str, id: &str) -> String {
    format!("{at_rfc3339}#{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_keys_spread_over_all_shards() {
        let day = NaiveDate::from_ymd_opt(2025, 3, 17).expect("date");
        assert_eq!(
            day_pk(DayKind::Transactions, day, 3),
            "TXNDAY#2025-03-17#03"
        );
        assert_eq!(day_pk(DayKind::Carts, day, 15), "CARTDAY#2025-03-17#15");
        let mut seen = std::collections::HashSet::new();
        for i in 0..1000 {
            seen.insert(shard_of(&format!("0190{i:028x}")));
        }
        assert_eq!(seen.len(), DAY_SHARDS as usize);
    }
}
