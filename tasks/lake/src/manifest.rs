//! `_manifest.json`: the only thing readers trust about a partition.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One published Parquet file: what a reader checks the object against before using it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub key: String,
    pub rows: u64,
    pub bytes: u64,
    /// SHA-256 of the object's bytes, hex. Empty in manifests written before checksums were kept:
    /// readers refuse those (re-run the task that wrote the partition).
    #[serde(default)]
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// `zone/source/dataset`
    pub dataset: String,
    /// YYYY-MM-DD
    pub date: String,
    pub run_id: String,
    /// The task that wrote it.
    pub task: String,
    pub files: Vec<FileEntry>,
    /// Sum of `files[].rows`.
    pub rows: u64,
    pub schema_fingerprint: String,
    /// Source watermark: the largest `updated_at` (or `created_at`) read, RFC 3339; none for an
    /// empty extract.
    pub watermark: Option<String>,
    /// Task-specific counts, e.g. `rows_in`, `duplicates`, `quarantined` for clean.
    #[serde(default)]
    pub counts: BTreeMap<String, u64>,
    pub published_at: String,
    /// Raw partitions from `extract`: when the sources were read, against the date's end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Snapshot>,
}

/// When a raw partition's sources were read. A snapshot taken at or after the date's end is the
/// date's history: `extract` keeps it and reuses it (unless asked to refresh).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// When the sources were read, RFC 3339.
    pub taken_at: String,
    /// The end of the date (midnight UTC after it), RFC 3339.
    pub closes_at: String,
    /// Taken at or after `closes_at`: kept and reused.
    pub closed: bool,
    /// Taken long after the date's end (a first backfill): the entities are those created by
    /// `closes_at`, with their attributes as of `taken_at`; the day's open carts are those still
    /// open at `taken_at`.
    pub late: bool,
}
