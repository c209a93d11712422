//! Drawing the charts chosen by `plots.rs` on plotters backends: line charts with ±stdev
//! error bars on a log2 x axis, and stacked phase-share bars with a legend column.
//!
//! Text is laid out with DejaVu Sans embedded through the `dejavu` crate and plotters'
//! `ab_glyph` feature, so no system font is needed. PNGs are rendered into an RGB buffer and
//! encoded with the `png` crate (no `image` dependency).

use crate::model::size_label;
use crate::plots::{Chart, Series, XKind};
use plotters::prelude::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Once;

/// Plot size in pixels (PNG) / user units (SVG).
pub const SIZE: (u32, u32) = (1024, 640);

static FONT: Once = Once::new();

/// Registers the embedded DejaVu Sans as plotters' `sans-serif`.
fn register_font() {
    FONT.call_once(|| {
        // The font is a valid TTF shipped by the dejavu crate; failure would be a build problem.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

fn x_label(x: XKind, v: u64) -> String {
    match x {
        XKind::FolioSize | XKind::VictimSize => size_label(v),
        _ => v.to_string(),
    }
}

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("plot: {e:?}")
}

/// Tableau-10 colours: distinct on white, in print and for most colour-blind readers.
const LINE_COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

const PHASE_COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

/// Draws `chart` on any plotters backend.
pub fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    chart: &Chart,
) -> Result<(), String> {
    register_font();
    root.fill(&WHITE).map_err(err)?;
    match chart {
        Chart::Line {
            title,
            x,
            y_desc,
            series,
        } => draw_lines(root, title, *x, y_desc, series),
        Chart::Phases { title, bars } => draw_phases(root, title, bars),
    }
}

fn draw_lines<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    x: XKind,
    y_desc: &str,
    series: &[Series],
) -> Result<(), String> {
    let xs: BTreeSet<u64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    // plotters formats f64 axes itself, so the log2 axis is an integer axis in 1/100ths.
    let lx = |v: u64| ((v as f64).log2() * 100.0).round() as i32;
    let (lo, hi) = match (xs.first(), xs.last()) {
        (Some(&a), Some(&b)) => (lx(a) - 50, lx(b) + 50),
        _ => (0, 100),
    };
    let ymax = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1 + p.2))
        .fold(0.0f64, f64::max);
    let ymax = if ymax > 0.0 { ymax * 1.15 } else { 1.0 };
    let keys: Vec<i32> = xs.iter().map(|&v| lx(v)).collect();
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d((lo..hi).with_key_points(keys), 0.0..ymax)
        .map_err(err)?;
    let xdesc = match x {
        XKind::FolioSize => "folio size (log2 scale)",
        XKind::FolioCount => "folio count (log2 scale)",
        XKind::Threads => "threads (log2 scale)",
        XKind::PerBatch => "folios per batch (log2 scale)",
        XKind::VictimSize => "victim working set (log2 scale)",
        XKind::Streams => "concurrent streams (log2 scale)",
    };
    chart
        .configure_mesh()
        .x_desc(xdesc)
        .y_desc(y_desc)
        .x_label_formatter(&|v| x_label(x, (*v as f64 / 100.0).exp2().round() as u64))
        .y_label_formatter(&|v| format!("{v:.2}"))
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()
        .map_err(err)?;
    for (i, s) in series.iter().enumerate() {
        let color = LINE_COLORS[i % LINE_COLORS.len()];
        let pts: Vec<(i32, f64)> = s.points.iter().map(|p| (lx(p.0), p.1)).collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(s.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                pts.iter()
                    .map(|&(x, y)| Circle::new((x, y), 4, color.filled())),
            )
            .map_err(err)?;
        chart
            .draw_series(s.points.iter().filter(|p| p.2 > 0.0).map(|p| {
                let lo = (p.1 - p.2).max(0.0);
                ErrorBar::new_vertical(lx(p.0), lo, p.1, p.1 + p.2, color.stroke_width(1), 10)
            }))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .draw()
        .map_err(err)?;
    Ok(())
}

fn draw_phases<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    bars: &[(u64, [f64; 4])],
) -> Result<(), String> {
    // Bar i is centred at x = 100 * i (an integer axis: plotters formats f64 axes itself).
    let n = bars.len().max(1) as i32;
    let keys: Vec<i32> = (0..n).map(|i| i * 100).collect();
    let labels: Vec<String> = bars.iter().map(|b| size_label(b.0)).collect();
    // The plot on the left, the legend in a column of its own on the right (the bars fill
    // the plot to 100%, so an inner legend would cover them).
    let (w, _) = root.dim_in_pixel();
    let (left, right) = root.split_horizontally(w.saturating_sub(150));
    let mut chart = ChartBuilder::on(&left)
        .caption(title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d((-50..n * 100 - 50).with_key_points(keys), 0.0..100.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("folio size")
        .y_desc("share of per-repetition time (%)")
        .x_label_formatter(&|v| {
            usize::try_from(*v / 100)
                .ok()
                .and_then(|i| labels.get(i).cloned())
                .unwrap_or_default()
        })
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()
        .map_err(err)?;
    let names = ["prepare", "unmap", "copy", "remap"];
    for k in 0..names.len() {
        let color = PHASE_COLORS[k];
        let rects = bars.iter().enumerate().map(|(i, (_, share))| {
            let base: f64 = share[..k].iter().sum();
            let x = i as i32 * 100;
            Rectangle::new([(x - 35, base), (x + 35, base + share[k])], color.filled())
        });
        chart.draw_series(rects).map_err(err)?;
    }
    // Legend, top phase first so it reads like the stack.
    for (row, k) in (0..names.len()).rev().enumerate() {
        let y = 80 + 30 * row as i32;
        let color = PHASE_COLORS[k];
        right
            .draw(&Rectangle::new([(10, y), (28, y + 18)], color.filled()))
            .map_err(err)?;
        right
            .draw(&Text::new(names[k], (36, y), ("sans-serif", 18)))
            .map_err(err)?;
    }
    Ok(())
}

/// Writes `chart` as an SVG file.
pub fn write_svg(chart: &Chart, path: &Path) -> Result<(), String> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    draw(&root, chart)?;
    root.present().map_err(err)
}

/// Renders `chart` to PNG bytes.
pub fn render_png(chart: &Chart) -> Result<Vec<u8>, String> {
    let (w, h) = SIZE;
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, SIZE).into_drawing_area();
        draw(&root, chart)?;
        root.present().map_err(err)?;
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(err)?;
    writer.write_image_data(&buf).map_err(err)?;
    writer.finish().map_err(err)?;
    Ok(out)
}
