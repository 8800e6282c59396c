//! The report's HTML: inline CSS, each section a chart (or a note when there is no data) beside
//! a table of its numbers; text escaped here.

use std::fmt::Write as _;

use super::charts::{
    chart_error, daily_chart, funnel_chart, hbar_chart, BLUE_, GREEN_, ORANGE_, RED_,
};
use super::queries::{Funnel, ReportData, Vendor};
use super::{FLAGGED_LISTED, TOP_VENDORS};
use crate::error::Result;

pub(super) const STYLE: &str = "\
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

pub(super) enum Cell {
    Text(String),
    Num(String),
}

pub(super) fn table(head: &[&str], rows: Vec<Vec<Cell>>) -> String {
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
pub(super) fn section(
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


/// A ratio as a percentage with one decimal: 0.3333 → "33.3%".
pub fn percent(r: f64) -> String {
    format!("{:.1}%", r * 100.0)
}

pub(super) fn or_na(s: &str) -> &str {
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
