//! The one-line JSON summary every task prints last on stdout (Airflow keeps it as XCom).

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DatasetCounts {
    /// Records read.
    pub rows_in: u64,
    /// Records accepted (for clean: rows_in = rows_out + quarantined + duplicates).
    pub rows_out: u64,
    /// Rows in the output partition (more than rows_out where records are exploded into lines).
    pub rows_written: u64,
    pub quarantined: u64,
    pub duplicates: u64,
    pub bytes: u64,
    /// Wall time spent on this dataset.
    pub seconds: f64,
    /// Partitions the work was split into to keep to `--memory-limit` (absent when it fit).
    #[serde(skip_serializing_if = "is_zero")]
    pub spilled_partitions: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub task: String,
    pub date: String,
    pub status: &'static str,
    pub run_id: String,
    pub rows_in: u64,
    pub rows_out: u64,
    pub quarantined: u64,
    pub duplicates: u64,
    pub bytes: u64,
    pub seconds: f64,
    /// Peak resident memory of the process, MiB (Linux; absent elsewhere).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_mib: Option<u64>,
    pub datasets: BTreeMap<String, DatasetCounts>,
    /// Figures a task reports beyond row counts (the marts task's KPIs).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub figures: BTreeMap<String, String>,
    /// What the audit row of a successful run says beyond its counts (extract: how the date's
    /// snapshot was had).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// When the previous dataset was added: datasets are processed one after another, so the
    /// time between two `add`s is the later one's.
    #[serde(skip)]
    mark: Instant,
}

impl Summary {
    pub fn new(task: &str, date: chrono::NaiveDate, run_id: &str) -> Self {
        Self {
            task: task.to_string(),
            date: date.format("%Y-%m-%d").to_string(),
            status: "ok",
            run_id: run_id.to_string(),
            rows_in: 0,
            rows_out: 0,
            quarantined: 0,
            duplicates: 0,
            bytes: 0,
            seconds: 0.0,
            peak_rss_mib: None,
            datasets: BTreeMap::new(),
            figures: BTreeMap::new(),
            note: None,
            mark: Instant::now(),
        }
    }

    /// Records one dataset's counts and adds them to the totals.
    pub fn add(&mut self, dataset: impl Into<String>, c: DatasetCounts) {
        let took = self.mark.elapsed();
        self.add_timed(dataset, c, took);
    }

    /// [`Self::add`] for a dataset whose work did not happen between this `add` and the one
    /// before (it was interleaved with other datasets'): its own time is given.
    pub fn add_timed(
        &mut self,
        dataset: impl Into<String>,
        mut c: DatasetCounts,
        took: std::time::Duration,
    ) {
        c.seconds = (took.as_secs_f64() * 1000.0).round() / 1000.0;
        self.mark = Instant::now();
        self.rows_in += c.rows_in;
        self.rows_out += c.rows_out;
        self.quarantined += c.quarantined;
        self.duplicates += c.duplicates;
        self.bytes += c.bytes;
        self.datasets.insert(dataset.into(), c);
    }

    pub fn finish(mut self, started: Instant) -> Self {
        self.seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
        self.peak_rss_mib = peak_rss_mib();
        self
    }

    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(
                r#"{{"task":"{}","status":"error","error":"{e}"}}"#,
                self.task
            )
        })
    }
}

/// VmHWM from /proc/self/status: the most memory this process has held at once.
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}
