//! `report --date D`: the day's KPI report, one self-contained HTML file (inline SVG charts drawn
//! here with `plotters`, inline CSS, no script, font or image fetched from anywhere), each chart
//! beside a table of its numbers. It reads only the warehouse marts: D and the 30 loaded days up to
//! D. Written to `<out-dir>/mercado-report-<D>.html` (a temporary file renamed into place) and
//! published to the lake at `reports/mercado/kpi/dt=<D>/report.html`; the summary's figures name
//! both (`report_path`, `report_uri`).

//!
//! Here: the flags and the run. `queries.rs`: the marts' rows; `html.rs`: the page and its tables;
//! `charts.rs`: the SVG charts.

mod charts;
mod html;
mod queries;

use std::path::{Path, PathBuf};

use crate::cli::LakeArgs;
use crate::error::{LakeError, Result};
use crate::lake::Lake;
use crate::partition::{DatasetId, Zone};
use crate::summary::{DatasetCounts, Summary};
use crate::warehouse::WarehouseArgs;
pub use html::{esc, percent, render};
pub use queries::{Category, Day, Flagged, Funnel, ReportData, Vendor};

pub const TASK: &str = "report";

/// How many loaded days the trend covers (D and the loaded days before it).
pub const TREND_DAYS: i64 = 30;
/// Vendors in the ranking.
pub const TOP_VENDORS: usize = 10;
/// Flagged transactions listed (all are counted in the chart).
pub const FLAGGED_LISTED: usize = 200;

#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub lake: LakeArgs,

    #[command(flatten)]
    pub warehouse: WarehouseArgs,

    /// Folder the HTML report is written to, as `mercado-report-<D>.html`.
    #[arg(
        long,
        env = "MERCADO_REPORT_DIR",
        value_name = "DIR",
        default_value = ".local/reports"
    )]
    pub out_dir: PathBuf,
}

/// This task's flags.
pub type Args = ReportArgs;

impl crate::entry::TaskArgs for ReportArgs {
    fn lake(&self) -> &LakeArgs {
        &self.lake
    }
    fn lake_mut(&mut self) -> &mut LakeArgs {
        &mut self.lake
    }
    fn audit_warehouse(&self) -> Option<WarehouseArgs> {
        self.warehouse.configured()
    }
}

/// Where the reports go in the lake: `reports/mercado/kpi/dt=<D>/`.
pub const REPORTS: DatasetId = DatasetId::new(Zone::Reports, "mercado", "kpi");

/// The report's file name in its partition.
pub const LAKE_FILE: &str = "report.html";

/// The lake key of D's report.
pub fn lake_key(date: chrono::NaiveDate) -> String {
    REPORTS.at(date).key(LAKE_FILE)
}

/// The local file name of D's report.
pub fn file_name(date: chrono::NaiveDate) -> String {
    format!("mercado-report-{}.html", date.format("%Y-%m-%d"))
}

pub async fn run(args: &ReportArgs) -> Result<Summary> {
    let started = std::time::Instant::now();
    let date = args.lake.date;
    let mut summary = Summary::new(TASK, date, &args.lake.run_id());
    let (client, conn) = args.warehouse.connect(&args.lake.waits).await?;
    let data = queries::read(&client, date).await;
    drop(client);
    conn.abort();
    let data = data?;
    for (mart, n) in [
        ("marts.daily_sales", data.days.len()),
        ("marts.vendor_daily_sales", data.vendors.len()),
        ("marts.category_sales", data.categories.len()),
        ("marts.cart_abandonment", usize::from(data.funnel.is_some())),
        ("marts.flagged_transactions", data.flagged.len()),
    ] {
        summary.add(
            mart,
            DatasetCounts {
                rows_in: n as u64,
                ..Default::default()
            },
        );
    }

    let html = render(&data)?;
    let bytes = html.into_bytes();
    let path = write_atomically(&args.out_dir, &file_name(date), &bytes)?;
    let lake = Lake::connect(&args.lake).await?;
    let key = lake_key(date);
    lake.put_bytes(&key, bytes.clone(), "text/html; charset=utf-8")
        .await?;
    summary.add(
        REPORTS.to_string(),
        DatasetCounts {
            rows_out: 1,
            rows_written: 1,
            bytes: bytes.len() as u64,
            ..Default::default()
        },
    );
    let uri = format!("s3://{}/{key}", lake.bucket());
    summary
        .figures
        .insert("report_path".into(), path.display().to_string());
    summary.figures.insert("report_uri".into(), uri.clone());
    tracing::info!(%date, path = %path.display(), %uri, "report written");
    Ok(summary.finish(started))
}

/// Writes `name` in `dir` through a temporary file in the same folder, renamed into place: a
/// reader sees the old report or the new one, never half of one. Returns the absolute path.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)?;
    let dir = std::fs::canonicalize(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".mercado-report-")
        .suffix(".tmp")
        .tempfile_in(&dir)?;
    tmp.write_all(bytes)?;
    // Readable like any other file the user writes (a temporary file starts as owner-only).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.as_file().sync_all()?;
    let path = dir.join(name);
    tmp.persist(&path).map_err(|e| LakeError::Io(e.error))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(flagged: bool) -> ReportData {
        ReportData {
            date: chrono::NaiveDate::from_ymd_opt(2025, 3, 18).expect("date"),
            days: vec![
                Day {
                    date: "2025-03-17".into(),
                    gmv: "55.00".into(),
                    gmv_f: 55.0,
                    orders: 1,
                    aov: "55.00".into(),
                },
                Day {
                    date: "2025-03-18".into(),
                    gmv: "74.00".into(),
                    gmv_f: 74.0,
                    orders: 2,
                    aov: "37.00".into(),
                },
            ],
            vendors: vec![Vendor {
                vendor_id: 1,
                name: "Loja <Porto> & Co".into(),
                region: "PT".into(),
                gmv: "74.00".into(),
                gmv_f: 74.0,
                orders: 2,
                items: 3,
            }],
            categories: vec![Category {
                name: "Home & Kitchen".into(),
                gmv: "74.00".into(),
                items: 3,
                share: 1.0,
            }],
            funnel: Some(Funnel {
                open_carts: 1,
                checkouts: 2,
                open_value: "14.00".into(),
                abandonment: Some(1.0 / 3.0),
            }),
            flagged: if flagged {
                vec![Flagged {
                    transaction_id: "t9".into(),
                    customer_id: 2,
                    created_at: "2025-03-18 10:00:00".into(),
                    total: "1200.00".into(),
                    rule: "new_account_high_value".into(),
                    detail: "account created …".into(),
                }]
            } else {
                vec![]
            },
        }
    }

    #[test]
    fn every_chart_is_an_svg_with_marks_and_escaped_text() {
        let html = render(&data(true)).expect("render");
        for name in ["daily", "vendors", "categories", "funnel", "flagged"] {
            let start = html
                .find(&format!("<svg data-chart=\"{name}\""))
                .unwrap_or_else(|| panic!("no chart {name}"));
            let end = start + html[start..].find("</svg>").expect("closed");
            let svg = &html[start..end];
            assert!(
                svg.matches("<rect").count() >= 2 || svg.contains("<polyline"),
                "{name}: {svg}"
            );
        }
        assert!(html.contains("Loja &lt;Porto&gt; &amp; Co"));
        assert!(html.contains("Home &amp; Kitchen"));
        assert!(html.contains("33.3%"));
        for outside in ["src=", "<link", "<script", "url(", "@import"] {
            assert!(!html.contains(outside), "{outside}");
        }
    }

    #[test]
    fn one_day_and_one_bar_still_draw() {
        let mut one = data(true);
        one.days.remove(0);
        let html = render(&one).expect("render");
        for name in ["daily", "vendors", "categories", "flagged"] {
            let start = html
                .find(&format!("<svg data-chart=\"{name}\""))
                .unwrap_or_else(|| panic!("no chart {name}"));
            let end = start + html[start..].find("</svg>").expect("closed");
            let svg = &html[start..end];
            // Background plus a bar; the one day's GMV point.
            assert!(svg.matches("<rect").count() >= 2, "{name}");
            assert!(name != "daily" || svg.contains("<circle"), "{name}");
        }
    }

    #[test]
    fn an_empty_dataset_is_a_note_not_an_empty_chart() {
        let html = render(&data(false)).expect("render");
        assert!(!html.contains("data-chart=\"flagged\""));
        assert!(html.contains("no data for flagged transactions"));
    }
}
