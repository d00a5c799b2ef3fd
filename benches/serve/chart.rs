//! The SVG chart of a serving run: every figure as the ratio graceful ÷
//! hand-written (1.0 = the same), one panel per kind of figure.

use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const BETTER: RGBColor = RGBColor(31, 119, 180);
const WORSE: RGBColor = RGBColor(214, 39, 40);
const PARITY: RGBColor = RGBColor(90, 90, 90);

/// One panel: its title, whether higher is better, and its bars.
pub struct Panel {
    pub title: String,
    pub higher_is_better: bool,
    pub bars: Vec<(String, f64)>,
}

/// Draws `panels` (two per row) into `path`.
pub fn render(panels: &[Panel], path: &Path) {
    let rows = panels.len().div_ceil(2) as u32;
    let root = SVGBackend::new(path, (1200, 330 * rows)).into_drawing_area();
    root.fill(&WHITE).expect("chart background");
    for (area, panel) in root.split_evenly((rows as usize, 2)).iter().zip(panels) {
        draw_panel(area, panel).expect("chart panel");
    }
    root.present().expect("write the chart");
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let top = panel.bars.iter().map(|b| b.1).fold(1.0, f64::max) * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(44)
        // 0..n-1: plotters' integer ranges include their end.
        .build_cartesian_2d((0..panel.bars.len() - 1).into_segmented(), 0.0..top)?;
    let label = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) => panel.bars.get(*i).map_or(String::new(), |b| b.0.clone()),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .y_label_formatter(&|y| format!("{y:.1}"))
        .x_labels(panel.bars.len())
        .x_label_formatter(&label)
        .x_label_style(("sans-serif", 11))
        .y_desc("graceful ÷ hand")
        .draw()?;
    chart.draw_series(panel.bars.iter().enumerate().map(|(i, (_, ratio))| {
        let better = if panel.higher_is_better {
            *ratio >= 1.0
        } else {
            *ratio <= 1.0
        };
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), *ratio),
            ],
            if better { BETTER } else { WORSE }.filled(),
        );
        bar.set_margin(0, 0, 8, 8);
        bar
    }))?;
    // Parity.
    chart.draw_series(std::iter::once(PathElement::new(
        vec![
            (SegmentValue::Exact(0), 1.0),
            (SegmentValue::Exact(panel.bars.len()), 1.0),
        ],
        PARITY.stroke_width(1),
    )))?;
    let style =
        TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    chart.draw_series(panel.bars.iter().enumerate().map(|(i, (_, ratio))| {
        Text::new(
            format!("{ratio:.2}"),
            (SegmentValue::CenterOf(i), *ratio),
            style.clone(),
        )
    }))?;
    Ok(())
}
