//! The report's SVG charts, drawn with `plotters` (no bitmap, no system fonts: text is laid out
//! by estimate).

use plotters::coord::ranged1d::{IntoSegmentedCoord, SegmentValue};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::queries::Day;
use crate::error::{LakeError, Result};

pub(super) const BLUE_: RGBColor = RGBColor(31, 119, 180);
pub(super) const ORANGE_: RGBColor = RGBColor(255, 127, 14);
pub(super) const GREEN_: RGBColor = RGBColor(44, 160, 44);
pub(super) const RED_: RGBColor = RGBColor(214, 39, 40);
pub(super) const GREY_: RGBColor = RGBColor(127, 127, 127);

pub(super) fn chart_error(name: &str, e: impl std::fmt::Display) -> LakeError {
    LakeError::Io(std::io::Error::other(format!("chart {name}: {e}")))
}

/// GMV (line) over orders (bars), one slot per loaded day.
pub(super) fn daily_chart(days: &[Day]) -> Result<String> {
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
pub(super) fn hbar_chart(bars: &[(String, f64, String)], axis: &str, color: RGBColor) -> Result<String> {
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
pub(super) fn funnel_chart(stages: &[(&str, i64, RGBColor)]) -> Result<String> {
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
pub(super) fn number_label(v: f64) -> String {
    if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        String::new()
    }
}

/// An axis maximum a little above `v` (and 1 for an all-zero series).
pub(super) fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        1.0
    } else {
        v * 1.1
    }
}

pub(super) fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}
