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

impl Manifest {
    /// One manifest of a split day's partition from its shards' (in shard order): their files,
    /// rows and counts added up, the latest watermark. Every part must be of the same dataset,
    /// date and schema.
    pub fn merge(
        parts: &[Manifest],
        run_id: &str,
        published_at: String,
    ) -> Result<Manifest, String> {
        let first = parts.first().ok_or("no shard to merge")?;
        let mut merged = Manifest {
            dataset: first.dataset.clone(),
            date: first.date.clone(),
            run_id: run_id.to_string(),
            task: first.task.clone(),
            files: Vec::new(),
            rows: 0,
            schema_fingerprint: first.schema_fingerprint.clone(),
            watermark: None,
            counts: BTreeMap::new(),
            published_at,
            snapshot: None,
        };
        for (i, part) in parts.iter().enumerate() {
            if (&part.dataset, &part.date, &part.schema_fingerprint)
                != (&first.dataset, &first.date, &first.schema_fingerprint)
            {
                return Err(format!(
                    "shard {i} is {} of {} under schema {}, shard 0 {} of {} under schema {}: re-run the shards of one run",
                    part.dataset, part.date, part.schema_fingerprint,
                    first.dataset, first.date, first.schema_fingerprint
                ));
            }
            if part.rows != part.files.iter().map(|f| f.rows).sum::<u64>() {
                return Err(format!(
                    "shard {i}'s rows ({}) are not its files' sum",
                    part.rows
                ));
            }
            merged.files.extend(part.files.iter().cloned());
            merged.rows += part.rows;
            for (k, v) in &part.counts {
                *merged.counts.entry(k.clone()).or_default() += v;
            }
            merged.watermark = merged.watermark.max(part.watermark.clone());
        }
        Ok(merged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(rows: u64, key: &str, watermark: Option<&str>) -> Manifest {
        Manifest {
            dataset: "work/mercado/sales_lines".into(),
            date: "2025-03-17".into(),
            run_id: key.into(),
            task: "enrich".into(),
            files: vec![FileEntry {
                key: key.into(),
                rows,
                bytes: 10 * rows,
                sha256: "ab".into(),
            }],
            rows,
            schema_fingerprint: "f1".into(),
            watermark: watermark.map(str::to_string),
            counts: BTreeMap::from([("rows_in".to_string(), rows)]),
            published_at: "t".into(),
            snapshot: None,
        }
    }

    #[test]
    fn merges_shards_and_refuses_strangers() {
        let m = Manifest::merge(
            &[
                part(3, "a", Some("2025-03-17T10:00:00Z")),
                part(0, "b", None),
                part(4, "c", Some("2025-03-17T09:00:00Z")),
            ],
            "stage",
            "now".into(),
        )
        .expect("merge");
        assert_eq!(
            (m.rows, m.counts["rows_in"], m.run_id.as_str()),
            (7, 7, "stage")
        );
        assert_eq!(
            m.files.iter().map(|f| f.key.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!(m.watermark.as_deref(), Some("2025-03-17T10:00:00Z"));
        let mut other = part(1, "d", None);
        other.schema_fingerprint = "f2".into();
        let e =
            Manifest::merge(&[part(1, "a", None), other], "s", "now".into()).expect_err("schema");
        assert!(e.contains("shard 1") && e.contains("f2"), "{e}");
        assert!(Manifest::merge(&[], "s", "now".into()).is_err());
    }
}
