//! `report --date D`: the day's KPI report, one self-contained HTML file (inline SVG charts drawn
//! here with `plotters`, inline CSS, no script, font or image fetched from anywhere), each chart
//! beside a table of its numbers. It reads only the warehouse marts: D and the 30 loaded days up to
//! D. Written to `<out-dir>/mercado-report-<D>.html` (a temporary file renamed into place) and
//! published to the lake at `reports/mercado/kpi/dt=<D>/report.html`; the summary's figures name
//! both (`report_path`, `report_uri`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::{IntoSegmentedCoord, SegmentValue};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use tokio_postgres::Client;

use crate::cli::LakeArgs;
use crate::error::{LakeError, Result};
use crate::lake::Lake;
use crate::summary::{DatasetCounts, Summary};
use crate::warehouse::WarehouseArgs;
use mercado_core::calendar::date_id;

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

/// The lake key of D's report.
pub fn lake_key(date: chrono::NaiveDate) -> String {
    format!("reports/mercado/kpi/dt={}/report.html", date.format("%Y-%m-%d"))
}

/// The local file name of D's report.
pub fn file_name(date: chrono::NaiveDate) -> String {
    format!("mercado-report-{}.html", date.format("%Y-%m-%d"))
}

pub async fn run(args: &ReportArgs) -> Result<Summary> {
    let started = std::time::Instant::now();
    let date = args.lake.date;
    let mut summary = Summary::new(TASK, date, &args.lake.run_id());
    let (client, conn) = args.warehouse.connect().await?;
    let data = read(&client, date).await;
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
        "reports/mercado/kpi",
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

// ---------------------------------------------------------------------------------------------
// The marts' rows. Numbers are read twice: as the warehouse prints them (text, for the tables)
// and as floats (for the charts' geometry only).

#[derive(Debug, Clone)]
pub struct Day {
    pub date: String,
    pub gmv: String,
    pub gmv_f: f64,
    pub orders: i64,
    pub aov: String,
}

#[derive(Debug, Clone)]
pub struct Vendor {
    pub vendor_id: i64,
    pub name: String,
    pub region: String,
    pub gmv: String,
    pub gmv_f: f64,
    pub orders: i64,
    pub items: i64,
}

#[derive(Debug, Clone)]
pub struct Category {
    pub name: String,
    pub gmv: String,
    pub items: i64,
    pub share: f64,
}

#[derive(Debug, Clone)]
pub struct Funnel {
    pub open_carts: i64,
    pub checkouts: i64,
    pub open_value: String,
    pub abandonment: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Flagged {
    pub transaction_id: String,
    pub customer_id: i64,
    pub created_at: String,
    pub total: String,
    pub rule: String,
    pub detail: String,
}

#[derive(Debug, Clone)]
pub struct ReportData {
    pub date: chrono::NaiveDate,
    /// Oldest first, D last.
    pub days: Vec<Day>,
    /// By GMV, highest first.
    pub vendors: Vec<Vendor>,
    pub categories: Vec<Category>,
    pub funnel: Option<Funnel>,
    pub flagged: Vec<Flagged>,
}

fn not_loaded(date: chrono::NaiveDate) -> LakeError {
    LakeError::MissingInput(format!(
        "{date} is not loaded into the warehouse; run `load_redshift --date {date}` first"
    ))
}

async fn read(client: &Client, date: chrono::NaiveDate) -> Result<ReportData> {
    let day = date_id(date);
    let days: Vec<(i32, Day)> = client
        .query(
            "SELECT date_id, date::text, gmv::text, gmv::float8, orders::bigint, \
                    COALESCE(aov::text, '') \
             FROM marts.daily_sales s WHERE s.date_id <= $1 ORDER BY s.date_id DESC LIMIT $2",
            &[&day, &TREND_DAYS],
        )
        .await
        .map_err(|e| {
            if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) {
                not_loaded(date)
            } else {
                e.into()
            }
        })?
        .iter()
        .map(|r| {
            (
                r.get::<_, i32>(0),
                Day {
                    date: r.get(1),
                    gmv: r.get(2),
                    gmv_f: r.get(3),
                    orders: r.get(4),
                    aov: r.get(5),
                },
            )
        })
        .collect::<Vec<_>>();
    // Newest first: the first row is D's, if D is loaded.
    if days.first().map(|(id, _)| *id) != Some(day) {
        return Err(not_loaded(date));
    }
    let days: Vec<Day> = days.into_iter().rev().map(|(_, d)| d).collect();

    let vendors = client
        .query(
            "SELECT vendor_id::bigint, COALESCE(vendor_name, ''), COALESCE(region, ''), \
                    gmv::text, gmv::float8, orders::bigint, items_sold::bigint \
             FROM marts.vendor_daily_sales v WHERE v.date_id = $1 ORDER BY v.gmv DESC, v.vendor_id",
            &[&day],
        )
        .await?
        .iter()
        .map(|r| Vendor {
            vendor_id: r.get(0),
            name: r.get(1),
            region: r.get(2),
            gmv: r.get(3),
            gmv_f: r.get(4),
            orders: r.get(5),
            items: r.get(6),
        })
        .collect();

    let categories = client
        .query(
            "SELECT COALESCE(category_name, ''), gmv::text, items_sold::bigint, \
                    COALESCE(share_of_gmv, 0)::float8 \
             FROM marts.category_sales c WHERE c.date_id = $1 ORDER BY c.gmv DESC, c.category_id",
            &[&day],
        )
        .await?
        .iter()
        .map(|r| Category {
            name: r.get(0),
            gmv: r.get(1),
            items: r.get(2),
            share: r.get(3),
        })
        .collect();

    let funnel = client
        .query_opt(
            "SELECT open_carts::bigint, checkouts::bigint, open_cart_value::text, \
                    abandonment_rate::float8 \
             FROM marts.cart_abandonment WHERE date_id = $1",
            &[&day],
        )
        .await?
        .map(|r| Funnel {
            open_carts: r.get(0),
            checkouts: r.get(1),
            open_value: r.get(2),
            abandonment: r.get(3),
        });

    let flagged = client
        .query(
            "SELECT transaction_id::text, customer_id::bigint, \
                    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), \
                    total_price::text, rule::text, COALESCE(detail::text, '') \
             FROM marts.flagged_transactions f WHERE f.date_id = $1 \
             ORDER BY f.created_at, f.transaction_id, f.rule",
            &[&day],
        )
        .await?
        .iter()
        .map(|r| Flagged {
            transaction_id: r.get(0),
            customer_id: r.get(1),
            created_at: r.get(2),
            total: r.get(3),
            rule: r.get(4),
            detail: r.get(5),
        })
        .collect();

    Ok(ReportData {
        date,
        days,
        vendors,
        categories,
        funnel,
        flagged,
    })
}

// ---------------------------------------------------------------------------------------------
// HTML.

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:24px;color:#1f2933;background:#fff}\
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d9e2ec;padding-bottom:4px}\
p.meta{color:#52606d;margin:0 0 16px}\
.row{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}\
figure{margin:0}\
table{border-collapse:collapse;font-size:13px}\
th,td{border:1px solid #d9e2ec;padding:3px 8px;text-align:left}\
td.n{text-align:right;font-variant-numeric:tabular-nums}\
th{background:#f0f4f8}\
.empty{padding:24px;border:1px dashed #9fb3c8;color:#52606d;background:#f8fafc}\
.kpis{display:flex;gap:16px;flex-wrap:wrap}\
.kpi{border:1px solid #d9e2ec;border-radius:6px;padding:8px 14px}\
.kpi b{display:block;font-size:20px}";

const BLUE_: RGBColor = RGBColor(31, 119, 180);
const ORANGE_: RGBColor = RGBColor(255, 127, 14);
const GREEN_: RGBColor = RGBColor(44, 160, 44);
const RED_: RGBColor = RGBColor(214, 39, 40);
const GREY_: RGBColor = RGBColor(127, 127, 127);

/// The report's HTML.
pub fn render(data: &ReportData) -> Result<String> {
    let d = data.date.format("%Y-%m-%d").to_string();
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Mercado KPI report {d}</title><style>{STYLE}</style></head><body>\n\
         <h1>Mercado KPI report for {d}</h1>\n\
         <p class=\"meta\">From the warehouse marts: {d} and the {} loaded day(s) up to it.</p>\n",
        data.days.len()
    );
    // A transaction may break more than one rule: one row (flag) per rule.
    let flagged_txns = data
        .flagged
        .iter()
        .map(|f| f.transaction_id.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if let Some(today) = data.days.last() {
        let rate = data
            .funnel
            .as_ref()
            .and_then(|f| f.abandonment)
            .map_or_else(|| "n/a".to_string(), percent);
        let _ = writeln!(
            html,
            "<div class=\"kpis\"><div class=\"kpi\">GMV<b>{}</b></div>\
             <div class=\"kpi\">Orders<b>{}</b></div><div class=\"kpi\">AOV<b>{}</b></div>\
             <div class=\"kpi\">Cart abandonment<b>{}</b></div>\
             <div class=\"kpi\">Flagged transactions<b>{}</b></div></div>",
            esc(&today.gmv),
            today.orders,
            esc(or_na(&today.aov)),
            esc(&rate),
            flagged_txns
        );
    }
    section(
        &mut html,
        "GMV and orders, last loaded days",
        "daily",
        &format!("no data for GMV and orders: no sales in the loaded days up to {d}"),
        data.days.iter().any(|x| x.orders > 0),
        || daily_chart(&data.days),
        &table(
            &["date", "GMV", "orders", "AOV"],
            data.days
                .iter()
                .map(|x| {
                    vec![
                        Cell::Text(x.date.clone()),
                        Cell::Num(x.gmv.clone()),
                        Cell::Num(x.orders.to_string()),
                        Cell::Num(or_na(&x.aov).to_string()),
                    ]
                })
                .collect(),
        ),
    )?;
    let top: Vec<&Vendor> = data.vendors.iter().take(TOP_VENDORS).collect();
    section(
        &mut html,
        &format!(
            "Vendor ranking by GMV, top {} of {} vendor(s)",
            top.len(),
            data.vendors.len()
        ),
        "vendors",
        &format!("no data for the vendor ranking: no vendor sold on {d}"),
        !top.is_empty(),
        || {
            hbar_chart(
                &top.iter()
                    .map(|v| (v.name.clone(), v.gmv_f, v.gmv.clone()))
                    .collect::<Vec<_>>(),
                "GMV",
                BLUE_,
            )
        },
        &table(
            &["rank", "vendor", "id", "region", "GMV", "orders", "items"],
            top.iter()
                .enumerate()
                .map(|(i, v)| {
                    vec![
                        Cell::Num((i + 1).to_string()),
                        Cell::Text(v.name.clone()),
                        Cell::Num(v.vendor_id.to_string()),
                        Cell::Text(v.region.clone()),
                        Cell::Num(v.gmv.clone()),
                        Cell::Num(v.orders.to_string()),
                        Cell::Num(v.items.to_string()),
                    ]
                })
                .collect(),
        ),
    )?;
    section(
        &mut html,
        "Category mix (share of GMV)",
        "categories",
        &format!("no data for the category mix: no sales on {d}"),
        !data.categories.is_empty(),
        || {
            hbar_chart(
                &data
                    .categories
                    .iter()
                    .map(|c| (c.name.clone(), c.share * 100.0, percent(c.share)))
                    .collect::<Vec<_>>(),
                "share of GMV, %",
                GREEN_,
            )
        },
        &table(
            &["category", "GMV", "items", "share of GMV"],
            data.categories
                .iter()
                .map(|c| {
                    vec![
                        Cell::Text(c.name.clone()),
                        Cell::Num(c.gmv.clone()),
                        Cell::Num(c.items.to_string()),
                        Cell::Num(percent(c.share)),
                    ]
                })
                .collect(),
        ),
    )?;
    let funnel = data.funnel.clone().unwrap_or(Funnel {
        open_carts: 0,
        checkouts: 0,
        open_value: "0.00".into(),
        abandonment: None,
    });
    let carts = funnel.open_carts + funnel.checkouts;
    let stages = [
        ("carts at end of day", carts, BLUE_),
        ("checked out", funnel.checkouts, GREEN_),
        ("left open (abandoned)", funnel.open_carts, ORANGE_),
    ];
    section(
        &mut html,
        "Cart funnel and abandonment",
        "funnel",
        &format!("no data for the cart funnel: no carts or checkouts on {d}"),
        carts > 0,
        || funnel_chart(&stages),
        &table(
            &["stage", "carts"],
            stages
                .iter()
                .map(|(name, n, _)| vec![Cell::Text((*name).into()), Cell::Num(n.to_string())])
                .chain([
                    vec![
                        Cell::Text("value of open carts".into()),
                        Cell::Num(funnel.open_value.clone()),
                    ],
                    vec![
                        Cell::Text("abandonment rate".into()),
                        Cell::Num(funnel.abandonment.map_or_else(|| "n/a".into(), percent)),
                    ],
                ])
                .collect(),
        ),
    )?;
    let mut rules: Vec<(String, f64, String)> = Vec::new();
    for f in &data.flagged {
        match rules.iter_mut().find(|r| r.0 == f.rule) {
            Some(r) => {
                r.1 += 1.0;
                r.2 = (r.1 as i64).to_string();
            }
            None => rules.push((f.rule.clone(), 1.0, "1".into())),
        }
    }
    let mut flagged_rows: Vec<Vec<Cell>> = data
        .flagged
        .iter()
        .take(FLAGGED_LISTED)
        .map(|f| {
            vec![
                Cell::Text(f.transaction_id.clone()),
                Cell::Num(f.customer_id.to_string()),
                Cell::Text(f.created_at.clone()),
                Cell::Num(f.total.clone()),
                Cell::Text(f.rule.clone()),
                Cell::Text(f.detail.clone()),
            ]
        })
        .collect();
    if data.flagged.len() > FLAGGED_LISTED {
        flagged_rows.push(vec![Cell::Text(format!(
            "… and {} more",
            data.flagged.len() - FLAGGED_LISTED
        ))]);
    }
    let rule_table = table(
        &["rule", "flags"],
        rules
            .iter()
            .map(|r| vec![Cell::Text(r.0.clone()), Cell::Num(r.2.clone())])
            .collect(),
    );
    section(
        &mut html,
        &format!(
            "Flagged transactions: {flagged_txns} ({} flag(s))",
            data.flagged.len()
        ),
        "flagged",
        &format!("no data for flagged transactions: no rule fired on {d}"),
        !rules.is_empty(),
        || hbar_chart(&rules, "flags", RED_),
        &if data.flagged.is_empty() {
            String::new()
        } else {
            format!(
            "{rule_table}{}",
            table(
                &[
                    "transaction",
                    "customer",
                    "created at (UTC)",
                    "total",
                    "rule",
                    "detail"
                ],
                flagged_rows,
            )
        )
        },
    )?;
    html.push_str("</body></html>\n");
    Ok(html)
}

enum Cell {
    Text(String),
    Num(String),
}

fn table(head: &[&str], rows: Vec<Vec<Cell>>) -> String {
    let mut t = String::from("<table><thead><tr>");
    for h in head {
        let _ = write!(t, "<th>{}</th>", esc(h));
    }
    t.push_str("</tr></thead><tbody>");
    for row in rows {
        t.push_str("<tr>");
        let span = head.len().saturating_sub(row.len()) + 1;
        let n = row.len();
        for (i, cell) in row.into_iter().enumerate() {
            let colspan = if i + 1 == n && span > 1 {
                format!(" colspan=\"{span}\"")
            } else {
                String::new()
            };
            match cell {
                Cell::Text(s) => {
                    let _ = write!(t, "<td{colspan}>{}</td>", esc(&s));
                }
                Cell::Num(s) => {
                    let _ = write!(t, "<td class=\"n\"{colspan}>{}</td>", esc(&s));
                }
            }
        }
        t.push_str("</tr>");
    }
    t.push_str("</tbody></table>");
    t
}

/// One section: its title, then the chart (or, with no data, a note saying so) beside its table.
fn section(
    html: &mut String,
    title: &str,
    name: &str,
    empty_note: &str,
    has_data: bool,
    chart: impl FnOnce() -> Result<String>,
    table: &str,
) -> Result<()> {
    let figure = if has_data {
        let svg = chart()?;
        let start = svg.find("<svg").ok_or_else(|| chart_error(name, "no <svg> drawn"))?;
        format!(
            "<svg data-chart=\"{name}\" role=\"img\" aria-label=\"{}\" {}",
            esc(title),
            &svg[start + "<svg".len()..].trim_start()
        )
    } else {
        format!(
            "<p class=\"empty\" data-empty-chart=\"{name}\">{}</p>",
            esc(empty_note)
        )
    };
    let _ = writeln!(
        html,
        "<section id=\"{name}\"><h2>{}</h2><div class=\"row\"><figure>{figure}</figure>{table}</div></section>",
        esc(title)
    );
    Ok(())
}

fn chart_error(name: &str, e: impl std::fmt::Display) -> LakeError {
    LakeError::Io(std::io::Error::other(format!("chart {name}: {e}")))
}

/// GMV (line) over orders (bars), one slot per loaded day.
fn daily_chart(days: &[Day]) -> Result<String> {
    let err = |e: &dyn std::fmt::Display| chart_error("daily", e);
    let labels: Vec<String> = days
        .iter()
        .map(|d| d.date.get(5..).unwrap_or(&d.date).to_string())
        .collect();
    // One slot per day: 0..=n-1 (plotters' integer ranges are inclusive as discrete ranges).
    let n = days.len() as u32;
    let slots = 0..n.saturating_sub(1);
    let every = days.len().div_ceil(10).max(1);
    let x_label = |v: &SegmentValue<u32>| match v {
        SegmentValue::CenterOf(i) if *i as usize % every == 0 || *i + 1 == n => {
            labels.get(*i as usize).cloned().unwrap_or_default()
        }
        _ => String::new(),
    };
    let right_of = |i: u32| {
        if i + 1 < n {
            SegmentValue::Exact(i + 1)
        } else {
            SegmentValue::Last
        }
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 440)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let (top, bottom) = root.split_vertically(230);
        let max_gmv = days.iter().map(|d| d.gmv_f).fold(0.0, f64::max);
        let mut gmv = ChartBuilder::on(&top)
            .caption("GMV", ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(70)
            .build_cartesian_2d(slots.clone().into_segmented(), 0.0..nice_max(max_gmv))
            .map_err(|e| err(&e))?;
        gmv.configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .label_style(("sans-serif", 12))
            .x_labels(days.len())
            .x_label_formatter(&x_label)
            .y_labels(6)
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(|e| err(&e))?;
        let points: Vec<(SegmentValue<u32>, f64)> = (0..n)
            .zip(days)
            .map(|(i, d)| (SegmentValue::CenterOf(i), d.gmv_f))
            .collect();
        gmv.draw_series(LineSeries::new(
            points.clone(),
            BLUE_.stroke_width(2),
        ))
        .map_err(|e| err(&e))?;
        gmv.draw_series(points.into_iter().map(|p| Circle::new(p, 4, BLUE_.filled())))
            .map_err(|e| err(&e))?;

        let max_orders = days.iter().map(|d| d.orders).max().unwrap_or(0) as f64;
        let mut orders = ChartBuilder::on(&bottom)
            .caption("Orders", ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(70)
            .build_cartesian_2d(slots.clone().into_segmented(), 0.0..nice_max(max_orders))
            .map_err(|e| err(&e))?;
        orders
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .label_style(("sans-serif", 12))
            .x_labels(days.len())
            .x_label_formatter(&x_label)
            .y_labels(6)
            .y_label_formatter(&|v| number_label(*v))
            .draw()
            .map_err(|e| err(&e))?;
        orders
            .draw_series((0..n).zip(days).map(|(i, d)| {
                let mut bar = Rectangle::new(
                    [(SegmentValue::Exact(i), 0.0), (right_of(i), d.orders as f64)],
                    ORANGE_.filled(),
                );
                bar.set_margin(0, 0, 3, 3);
                bar
            }))
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(svg)
}

/// Horizontal bars, the first at the top: (label, length, the number written at the bar's end).
fn hbar_chart(bars: &[(String, f64, String)], axis: &str, color: RGBColor) -> Result<String> {
    let err = |e: &dyn std::fmt::Display| chart_error(axis, e);
    let n = bars.len();
    let height = 70 + 36 * n as u32;
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max);
    // Bar k (0 = first) in the band [n-1-k, n-k] of the y axis, which runs upward.
    let band = |k: usize| (n - 1 - k) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (600, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(170)
            .build_cartesian_2d(0.0..nice_max(max) * 1.2, 0.0..n as f64)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_labels(6)
            .light_line_style(WHITE)
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 13))
            .x_label_formatter(&|v| number_label(*v))
            .x_desc(axis)
            .draw()
            .map_err(|e| err(&e))?;
        chart
            .draw_series(bars.iter().enumerate().map(|(k, bar)| {
                Rectangle::new(
                    [(0.0, band(k) + 0.18), (bar.1, band(k) + 0.82)],
                    color.filled(),
                )
            }))
            .map_err(|e| err(&e))?;
        let right = Pos::new(HPos::Right, VPos::Center);
        let left = Pos::new(HPos::Left, VPos::Center);
        for (k, bar) in bars.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(0.0, band(k) + 0.5));
            root.draw(&Text::new(
                short(&bar.0, 24),
                (x - 8, y),
                ("sans-serif", 13).into_font().color(&BLACK).pos(right),
            ))
            .map_err(|e| err(&e))?;
            let (x, y) = chart.backend_coord(&(bar.1, band(k) + 0.5));
            root.draw(&Text::new(
                bar.2.clone(),
                (x + 6, y),
                ("sans-serif", 13).into_font().color(&GREY_).pos(left),
            ))
            .map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(svg)
}

/// The funnel: one bar per stage, widest first, centred, its label on the left.
fn funnel_chart(stages: &[(&str, i64, RGBColor)]) -> Result<String> {
    let err = |e: &dyn std::fmt::Display| chart_error("funnel", e);
    let max = stages.iter().map(|s| s.1).max().unwrap_or(0).max(1) as f64;
    let (width, row, labels) = (600i32, 50i32, 190i32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width as u32, (row * stages.len() as i32 + 20) as u32))
            .into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let usable = f64::from(width - labels - 20);
        let centre = labels + (width - labels - 20) / 2;
        for (k, (name, n, color)) in stages.iter().enumerate() {
            let w = ((*n as f64 / max) * usable).round().max(2.0) as i32;
            let y0 = 10 + k as i32 * row;
            let h = row - 12;
            root.draw(&Rectangle::new(
                [(centre - w / 2, y0), (centre - w / 2 + w, y0 + h)],
                color.filled(),
            ))
            .map_err(|e| err(&e))?;
            root.draw(&Text::new(
                format!("{name}: {n}"),
                (labels - 10, y0 + h / 2),
                ("sans-serif", 14)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Right, VPos::Center)),
            ))
            .map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(svg)
}

/// An axis label: whole numbers only (no "0, 0, 1, 1, 2" on an axis of small counts).
fn number_label(v: f64) -> String {
    if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        String::new()
    }
}

/// An axis maximum a little above `v` (and 1 for an all-zero series).
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        1.0
    } else {
        v * 1.1
    }
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// A ratio as a percentage with one decimal: 0.3333 → "33.3%".
pub fn percent(r: f64) -> String {
    format!("{:.1}%", r * 100.0)
}

fn or_na(s: &str) -> &str {
    if s.is_empty() {
        "n/a"
    } else {
        s
    }
}

/// HTML-escapes text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
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
