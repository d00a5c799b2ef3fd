//! The SVG chart: one bar panel per timed scenario, baseline next to the
//! crate.

use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::Figures;

const BARE: RGBColor = RGBColor(150, 150, 150);
const OURS: RGBColor = RGBColor(31, 119, 180);
const OURS_LIGHT: RGBColor = RGBColor(140, 185, 220);

struct Panel {
    title: String,
    unit: &'static str,
    bars: Vec<(String, f64, RGBColor)>,
}

pub fn render(figures: &Figures, path: &Path) {
    let s = figures.summary();
    let panels = [
        Panel {
            title: format!(
                "bulk {} MiB, higher is better",
                figures.plan.bulk_bytes >> 20
            ),
            unit: "MB/s",
            bars: vec![
                ("bare".into(), s.bulk_bare, BARE),
                ("graceful".into(), s.bulk_graceful, OURS),
            ],
        },
        Panel {
            title: "64-byte round trip, lower is better".into(),
            unit: "µs",
            bars: vec![
                ("bare".into(), s.ping_bare, BARE),
                ("graceful".into(), s.ping_graceful, OURS),
            ],
        },
        Panel {
            title: "cancel → peer has close_notify".into(),
            unit: "µs",
            bars: vec![
                ("hand-rolled p50".into(), s.cancel[2], BARE),
                ("graceful p50".into(), s.cancel[0], OURS),
                ("hand-rolled p99".into(), s.cancel[3], BARE),
                ("graceful p99".into(), s.cancel[1], OURS),
            ],
        },
        Panel {
            title: format!(
                "close {} idle connections: every peer saw its end",
                figures.mass.connections
            ),
            unit: "ms",
            bars: vec![
                (
                    format!("bare drop: {} truncated", s.mass_bare_truncated),
                    s.mass_bare_ms,
                    BARE,
                ),
                (
                    format!("graceful: {} truncated", s.mass_graceful_truncated),
                    s.mass_graceful_ms,
                    OURS,
                ),
                (
                    "graceful, peers answer at once".into(),
                    s.mass_answering_ms,
                    OURS_LIGHT,
                ),
            ],
        },
    ];
    let root = SVGBackend::new(path, (1000, 640)).into_drawing_area();
    root.fill(&WHITE).expect("chart background");
    for (area, panel) in root.split_evenly((2, 2)).iter().zip(&panels) {
        draw_panel(area, panel).expect("chart panel");
    }
    root.present().expect("write the chart");
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let top = panel.bars.iter().map(|b| b.1).fold(0.0, f64::max) * 1.2;
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 17))
        .margin(14)
        .x_label_area_size(28)
        .y_label_area_size(56)
        // 0..n-1: plotters' integer ranges include their end.
        .build_cartesian_2d(
            (0..panel.bars.len() - 1).into_segmented(),
            0.0..top.max(1e-9),
        )?;
    let label = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) => panel.bars.get(*i).map_or(String::new(), |b| b.0.clone()),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .x_labels(panel.bars.len())
        .x_label_formatter(&label)
        .y_desc(panel.unit)
        .draw()?;
    chart.draw_series(panel.bars.iter().enumerate().map(|(i, (_, value, color))| {
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), *value),
            ],
            color.filled(),
        );
        bar.set_margin(0, 0, 18, 18);
        bar
    }))?;
    let style =
        TextStyle::from(("sans-serif", 14).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    chart.draw_series(panel.bars.iter().enumerate().map(|(i, (_, value, _))| {
        let text = if *value >= 100.0 {
            format!("{value:.0}")
        } else {
            format!("{value:.1}")
        };
        Text::new(text, (SegmentValue::CenterOf(i), *value), style.clone())
    }))?;
    Ok(())
}
