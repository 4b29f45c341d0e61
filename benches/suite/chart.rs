//! The charts, as SVG: p50 and p99 against concurrency on the hot auction
//! for Gavel and its baselines, and the long run's p99 window by window.

use plotters::prelude::*;

use crate::{API, AXUM, BARE, HOT, POSTGRES, RAW, measure::Row, report::LongRun};

/// Draws `rows` of the hot-auction scenario into `path`.
pub fn latency(rows: &[Row], path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let hot: Vec<&Row> = rows.iter().filter(|r| r.scenario == HOT).collect();
    let systems = [API, RAW, BARE, POSTGRES, AXUM];
    let colors = [
        RGBColor(0xd9, 0x48, 0x1c),
        RGBColor(0x1f, 0x6f, 0xb4),
        RGBColor(0x88, 0x55, 0xaa),
        RGBColor(0x33, 0x99, 0x33),
        RGBColor(0x99, 0x77, 0x22),
    ];
    let top = hot.iter().map(|r| r.p99_ms.median).fold(1.0_f64, f64::max) * 1.1;
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
            .map(|r| (r.concurrency as f64, r.p50_ms.median, r.p99_ms.median))
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

/// Draws the long run's p50 and p99 per window into `path`, with the
/// 100 ms target as a line.
pub fn over_time(long: &LongRun, path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let end = long.windows.len() as f64 * long.window_secs;
    let top = long
        .windows
        .iter()
        .map(|w| w.p99_ms)
        .fold(100.0_f64, f64::max)
        * 1.15;
    let root = SVGBackend::new(path, (760, 400)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "One hot auction, 32 bidders: latency per {:.0} s window",
                long.window_secs
            ),
            ("sans-serif", 18),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0_f64..end.max(1.0), 0_f64..top)?;
    chart
        .configure_mesh()
        .x_desc("seconds into the run (window start)")
        .y_desc("ms")
        .draw()?;
    let series = [
        ("p99", RGBColor(0xd9, 0x48, 0x1c), 2, true),
        ("p50", RGBColor(0x1f, 0x6f, 0xb4), 2, false),
    ];
    for (label, color, width, p99) in series {
        let points: Vec<(f64, f64)> = long
            .windows
            .iter()
            .map(|w| (w.from_secs, if p99 { w.p99_ms } else { w.p50_ms }))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(width)))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(width))
            });
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
    }
    chart
        .draw_series(DashedLineSeries::new(
            [(0.0, 100.0), (end, 100.0)],
            6,
            4,
            BLACK.stroke_width(1),
        ))?
        .label("target p99 100 ms")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(1)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()?;
    root.present()?;
    Ok(())
}
