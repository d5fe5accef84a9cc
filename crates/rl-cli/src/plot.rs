//! The lesson's two plots, as PNG and SVG: (a) return per episode of every learner for
//! one seed, (b) mean ± std across seeds. Both with a 100-episode moving average, against
//! the episode, or against environment steps when a learner's budget is in steps.
//!
//! The font is DejaVu Sans, embedded in the binary (`assets/`), so the plots render on
//! a machine without any system font.

use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::{Context, Result, anyhow};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::stats::{Axis, Run, bands, moving_average};

const FONT: &str = "sans-serif";
const SIZE: (u32, u32) = (1100, 650);
const WINDOW: usize = 100;
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/DejaVuSans.ttf");
        // The bundled font is known-good; failing to parse it would be a build defect.
        plotters::style::register_font(FONT, FontStyle::Normal, bytes)
            .map_err(|_| ())
            .expect("the bundled font parses");
    });
}

/// One learner's runs, sorted by seed.
#[derive(Debug, Clone)]
pub struct Series {
    /// The learner's name.
    pub algo: String,
    /// One per seed.
    pub runs: Vec<Run>,
}

/// What the plots need.
#[derive(Debug, Clone)]
pub struct PlotData {
    /// The environment's id, for the titles.
    pub env: String,
    /// What the curves are plotted against.
    pub axis: Axis,
    /// One entry per learner.
    pub series: Vec<Series>,
}

fn y_range(data: &PlotData) -> std::ops::Range<f64> {
    let all = data
        .series
        .iter()
        .flat_map(|s| s.runs.iter().flat_map(|r| r.returns.iter().copied()));
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let pad = ((hi - lo) * 0.05).max(1.0);
    (lo - pad)..(hi + pad)
}

type Mesh<'a, 'b, DB> = plotters::chart::MeshStyle<
    'a,
    'b,
    plotters::coord::types::RangedCoordf64,
    plotters::coord::types::RangedCoordf64,
    DB,
>;

/// Large fonts, integer ticks, major grid lines only.
fn style_mesh<'a, 'b, 'c, DB: DrawingBackend>(
    m: &'c mut Mesh<'a, 'b, DB>,
) -> &'c mut Mesh<'a, 'b, DB> {
    m.label_style((FONT, 16))
        .axis_desc_style((FONT, 18))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12))
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing failed: {e:?}")
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A white canvas with the title, both axes and their labels, over every episode.
fn frame<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    data: &PlotData,
    title: String,
    y_desc: String,
) -> Result<Chart<'a, DB>> {
    root.fill(&WHITE).map_err(err)?;
    let end = data
        .series
        .iter()
        .flat_map(|s| s.runs.iter())
        .filter(|r| !r.returns.is_empty())
        .map(|r| data.axis.x(r, r.returns.len() - 1))
        .fold(1.0, f64::max);
    let (start, x_desc) = match data.axis {
        Axis::Episodes => (1.0, "episode"),
        Axis::Steps => (0.0, "environment steps"),
    };
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 26))
        .margin(20)
        // Room for the last x label, centred on the plot's right edge.
        .margin_right(45)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(start..end.max(start + 1.0), y_range(data))
        .map_err(err)?;
    style_mesh(chart.configure_mesh().x_desc(x_desc).y_desc(y_desc))
        .draw()
        .map_err(err)?;
    Ok(chart)
}

/// The legend, then the file is written.
fn finish<'a, DB: DrawingBackend + 'a>(
    mut chart: Chart<'a, DB>,
    root: &DrawingArea<DB, Shift>,
) -> Result<()> {
    chart
        .configure_series_labels()
        .label_font((FONT, 16))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// (a) every learner's return per episode for `seed`, with moving averages.
fn draw_seed<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    data: &PlotData,
    seed: u64,
) -> Result<()> {
    let title = format!("{}: return per episode, seed {seed}", data.env);
    let mut chart = frame(&root, data, title, "return".to_string())?;
    for (k, s) in data.series.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        let Some(run) = s.runs.iter().find(|r| r.seed == seed) else {
            continue;
        };
        let pts = |v: &[f64]| {
            v.iter()
                .enumerate()
                .map(|(i, &y)| (data.axis.x(run, i), y))
                .collect::<Vec<_>>()
        };
        chart
            .draw_series(LineSeries::new(
                pts(&run.returns),
                color.mix(0.35).stroke_width(1),
            ))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                pts(&moving_average(&run.returns, WINDOW)),
                color.stroke_width(3),
            ))
            .map_err(err)?
            .label(format!(
                "{} ({WINDOW}-episode moving average; thin: each episode)",
                s.algo
            ))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
    }
    finish(chart, &root)
}

/// (b) mean ± std across seeds of each seed's 100-episode moving average, per learner.
fn draw_bands<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, data: &PlotData) -> Result<()> {
    let n_seeds = data.series.iter().map(|s| s.runs.len()).max().unwrap_or(0);
    let title = format!("{}: mean ± std over {n_seeds} seeds", data.env);
    let mut chart = frame(
        &root,
        data,
        title,
        format!("return ({WINDOW}-episode moving average)"),
    )?;
    for (k, s) in data.series.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        let stats = bands(&s.runs, data.axis, WINDOW);
        let upper = stats.iter().map(|(x, st)| (*x, st.mean + st.std));
        let lower = stats.iter().rev().map(|(x, st)| (*x, st.mean - st.std));
        let band = Polygon::new(
            upper.chain(lower).collect::<Vec<_>>(),
            color.mix(0.18).filled(),
        );
        chart.draw_series(std::iter::once(band)).map_err(err)?;
        let mean = stats.iter().map(|(x, st)| (*x, st.mean));
        chart
            .draw_series(LineSeries::new(mean, color.stroke_width(3)))
            .map_err(err)?
            .label(format!(
                "{}: mean ± std over {} seeds",
                s.algo,
                s.runs.len()
            ))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
    }
    finish(chart, &root)
}

/// Draws both plots into `dir` as PNG and SVG; returns the files written.
pub fn draw_all(data: &PlotData, dir: &Path) -> Result<Vec<PathBuf>> {
    register_font();
    let seed = data
        .series
        .iter()
        .flat_map(|s| s.runs.iter().map(|r| r.seed))
        .min()
        .context("no run to plot")?;
    let mut written = Vec::new();
    let single = format!("returns_seed{seed}");
    for (name, bands) in [(single.as_str(), false), ("returns_mean_std", true)] {
        let png = dir.join(format!("{name}.png"));
        let svg = dir.join(format!("{name}.svg"));
        let mut rgb = vec![0; SIZE.0 as usize * SIZE.1 as usize * 3];
        let bitmap = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        if bands {
            draw_bands(bitmap, data)?;
            draw_bands(SVGBackend::new(&svg, SIZE).into_drawing_area(), data)?;
        } else {
            draw_seed(bitmap, data, seed)?;
            draw_seed(SVGBackend::new(&svg, SIZE).into_drawing_area(), data, seed)?;
        }
        let bytes = crate::png_file::encode_rgb(&rgb, SIZE.0, SIZE.1)?;
        std::fs::write(&png, bytes).with_context(|| format!("cannot write {}", png.display()))?;
        written.push(png);
        written.push(svg);
    }
    Ok(written)
}
