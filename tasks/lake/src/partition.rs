//! The one place that names lake paths: `<zone>/<source>/<dataset>/dt=YYYY-MM-DD/` (the data
//! zones' partitions and their manifests, and the reports' documents).

use std::fmt;

use chrono::NaiveDate;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Zone {
    Raw,
    Cleaned,
    Quarantine,
    Work,
    Gold,
    /// Documents for people (the `report` task's HTML): objects put whole, no manifest.
    Reports,
}

impl Zone {
    pub fn as_str(self) -> &'static str {
        match self {
            Zone::Raw => "raw",
            Zone::Cleaned => "cleaned",
            Zone::Quarantine => "quarantine",
            Zone::Work => "work",
            Zone::Gold => "gold",
            Zone::Reports => "reports",
        }
    }
}

impl Zone {
    /// The task that publishes this zone's partitions.
    pub fn written_by(self) -> &'static str {
        match self {
            Zone::Raw => "extract",
            Zone::Cleaned | Zone::Quarantine => "clean",
            Zone::Work => "enrich",
            Zone::Gold => "gold",
            Zone::Reports => "report",
        }
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A dataset in a zone: everything of a partition but its date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DatasetId {
    pub zone: Zone,
    pub source: &'static str,
    pub name: &'static str,
}

impl DatasetId {
    pub const fn new(zone: Zone, source: &'static str, name: &'static str) -> Self {
        Self { zone, source, name }
    }

    /// `<zone>/<source>/<dataset>/`
    pub fn prefix(&self) -> String {
        format!("{}/{}/{}/", self.zone, self.source, self.name)
    }

    pub fn at(self, date: NaiveDate) -> Partition {
        Partition {
            dataset: self,
            date,
        }
    }
}

impl fmt::Display for DatasetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.zone, self.source, self.name)
    }
}

/// One date of one dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Partition {
    pub dataset: DatasetId,
    pub date: NaiveDate,
}

pub const MANIFEST_FILE: &str = "_manifest.json";

impl Partition {
    /// `<zone>/<source>/<dataset>/dt=YYYY-MM-DD/`
    pub fn prefix(&self) -> String {
        format!(
            "{}dt={}/",
            self.dataset.prefix(),
            self.date.format("%Y-%m-%d")
        )
    }

    pub fn manifest_key(&self) -> String {
        self.key(MANIFEST_FILE)
    }

    /// The key of a file directly in the partition: `…/dt=D/<file>`.
    pub fn key(&self, file: &str) -> String {
        format!("{}{file}", self.prefix())
    }

    /// Where one run writes its files before publishing: `…/dt=D/run=<run_id>/`.
    pub fn run_prefix(&self, run_id: &str) -> String {
        format!("{}run={run_id}/", self.prefix())
    }

    /// Where a shard of a split day leaves its manifest of this partition for `commit`:
    /// `…/dt=D/_staged/<stage>/shard-I-of-N.json` (never read as the partition's manifest).
    pub fn staged_key(&self, stage: &str, shard: crate::shard::Shard) -> String {
        format!(
            "{}_staged/{stage}/shard-{}-of-{}.json",
            self.prefix(),
            shard.index,
            shard.count
        )
    }

    /// The date of a partition prefix found by listing, e.g. `raw/x/y/dt=2025-03-17/`.
    pub fn date_of(prefix: &str) -> Option<NaiveDate> {
        let dt = prefix
            .trim_end_matches('/')
            .rsplit('/')
            .next()?
            .strip_prefix("dt=")?;
        NaiveDate::parse_from_str(dt, "%Y-%m-%d").ok()
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.prefix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let d = NaiveDate::from_ymd_opt(2025, 3, 7).expect("date");
        let p = DatasetId::new(Zone::Raw, "postgres", "customers").at(d);
        assert_eq!(p.prefix(), "raw/postgres/customers/dt=2025-03-07/");
        assert_eq!(
            p.manifest_key(),
            "raw/postgres/customers/dt=2025-03-07/_manifest.json"
        );
        assert_eq!(
            p.run_prefix("r1"),
            "raw/postgres/customers/dt=2025-03-07/run=r1/"
        );
        assert_eq!(Partition::date_of(&p.prefix()), Some(d));
        assert_eq!(
            p.staged_key("run_1", crate::shard::Shard { index: 2, count: 4 }),
            "raw/postgres/customers/dt=2025-03-07/_staged/run_1/shard-2-of-4.json"
        );
        let report = DatasetId::new(Zone::Reports, "mercado", "kpi").at(d);
        assert_eq!(
            report.key("report.html"),
            "reports/mercado/kpi/dt=2025-03-07/report.html"
        );
    }
}
