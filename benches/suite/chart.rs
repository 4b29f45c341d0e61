//! The latency chart: p50 and p99 against concurrency for the API, the raw
//! Temporal update and plain PostgreSQL, as SVG.

use plotters::prelude::*;

use crate::{API, HOT, POSTGRES, RAW, measure::Row};

/// Draws `rows` of the hot-auction scenario into `path`.
pub fn latency(rows: &[Row], path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let hot: Vec<&Row> = rows.iter().filter(|r| r.scenario == HOT).collect();
    let systems = [API, RAW, POSTGRES];
    let colors = [
        RGBColor(0xd9, 0x48, 0x1c),
        RGBColor(0x1f, 0x6f, 0xb4),
        RGBColor(0x33, 0x99, 0x33),
    ];
    let top = hot.iter().map(|r| r.p99_ms).fold(1.0_f64, f64::max) * 1.1;
    let root = SVGBackend::new(path, (760, 440)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Bid latency on one hot auction (solid p50, dashed p99)",
            ("sans-serif", 18),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d((1_f64..64_f64).log_scale(), 0_f64..top)?;
    chart
        .configure_mesh()
        .x_desc("concurrent bidders")
        .y_desc("ms")
        .x_labels(7)
        .draw()?;
    for (system, color) in systems.iter().zip(colors) {
        let mut points: Vec<(f64, f64, f64)> = hot
            .iter()
            .filter(|r| r.system == *system)
            .map(|r| (r.concurrency as f64, r.p50_ms, r.p99_ms))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.0, p.1)),
                color.stroke_width(2),
            ))?
            .label(*system)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart.draw_series(DashedLineSeries::new(
            points.iter().map(|p| (p.0, p.2)),
            6,
            4,
            color.stroke_width(1),
        ))?;
        chart.draw_series(
            points
                .iter()
                .map(|p| Circle::new((p.0, p.1), 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()?;
    root.present()?;
    Ok(())
}
