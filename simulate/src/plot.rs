//! SVG line charts of simulation results: each series' mean as a line over the shaded band
//! where the central 95 % of runs lie, with a legend, axis labels and ticks.
//!
//! Drawn with plotters' SVG backend and no font feature: plotters then measures text with
//! a crude built-in estimate and the SVG holds `<text>` elements for the viewer to render,
//! so no font file is read at run time. The output depends only on the input (no
//! timestamps, no random ids) and is written atomically.

use crate::table::{AtomicFile, Band};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// One line of a chart: a label for the legend and its points, as [`crate::table::bands`]
/// makes them.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend's text for this series.
    pub label: String,
    /// The points; drawn in order of `x`.
    pub bands: Vec<Band>,
}

/// What went wrong drawing or writing a chart.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// A band has a NaN or infinite `x`, `mean`, `lo` or `hi`, which cannot be placed on
    /// an axis.
    #[error("chart {}: series `{label}` has a non-finite value at x = {x}", .path.display())]
    NonFinite {
        /// The chart's path.
        path: PathBuf,
        /// The series' label.
        label: String,
        /// The offending band's `x`.
        x: f64,
    },
    /// The values span more than an `f64` holds (say from -1e308 to 1e308), which no axis
    /// can show.
    #[error("chart {}: series values from {lo:e} to {hi:e} span too wide a range to plot", .path.display())]
    Range {
        /// The chart's path.
        path: PathBuf,
        /// The smallest value.
        lo: f64,
        /// The largest value.
        hi: f64,
    },
    /// plotters failed to lay out or draw the chart.
    #[error("failed to draw chart {}: {message}", .path.display())]
    Draw {
        /// The chart's path.
        path: PathBuf,
        /// plotters' description of the failure.
        message: String,
    },
    /// Writing the SVG file failed.
    #[error("failed to write chart {}: {source}", .path.display())]
    Io {
        /// The chart's path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// Chart size in pixels.
const SIZE: (u32, u32) = (960, 560);
/// The series' colours in order, cycling past the end: the Okabe–Ito palette, which stays
/// distinguishable under the common colour-vision deficiencies (its yellow is left out, it
/// is unreadable on white).
const PALETTE: [RGBColor; 7] = [
    RGBColor(0x00, 0x72, 0xB2), // blue
    RGBColor(0xD5, 0x5E, 0x00), // vermillion
    RGBColor(0x00, 0x9E, 0x73), // bluish green
    RGBColor(0xCC, 0x79, 0xA7), // reddish purple
    RGBColor(0xE6, 0x9F, 0x00), // orange
    RGBColor(0x56, 0xB4, 0xE9), // sky blue
    RGBColor(0x00, 0x00, 0x00), // black
];
/// The band's opacity over the white background.
const BAND_OPACITY: f64 = 0.2;
const FONT: &str = "sans-serif";

/// Draws `series` as one SVG line chart at `path`: per series, in the palette's colour, the
/// mean as a line, the band between `lo` and `hi` as a translucent area, and a legend entry
/// (marked "(no data)" for a series without points). With no series, or none with points,
/// the chart shows its title and "no data". A constant chart gets a y range around its
/// value, a single epoch an x range around it.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<(), PlotError> {
    for s in series {
        if let Some(b) = s.bands.iter().find(|b| !finite(b)) {
            return Err(PlotError::NonFinite {
                path: path.to_path_buf(),
                label: s.label.clone(),
                x: b.x,
            });
        }
    }
    let extent = extent(series);
    if let Some((x, y)) = extent {
        // plotters loops forever laying out an axis of infinite span: refuse it here.
        if let Some((lo, hi)) = [x, y].into_iter().find(|(lo, hi)| !(hi - lo).is_finite()) {
            return Err(PlotError::Range {
                path: path.to_path_buf(),
                lo,
                hi,
            });
        }
    }
    let svg =
        render(title, x_label, y_label, series, extent).map_err(|message| PlotError::Draw {
            path: path.to_path_buf(),
            message,
        })?;
    let io_err = |source| PlotError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut out = AtomicFile::create(path).map_err(io_err)?;
    out.file().write_all(svg.as_bytes()).map_err(io_err)?;
    out.commit().map_err(io_err)
}

fn finite(b: &Band) -> bool {
    [b.x, b.mean, b.lo, b.hi].iter().all(|v| v.is_finite())
}

/// The chart as an SVG document, or plotters' error as text.
fn render(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    extent: Option<Extent>,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        match extent {
            None => draw_no_data(&root, title),
            Some(extent) => draw_chart(&root, title, x_label, y_label, series, extent),
        }
        .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

type DrawResult = Result<(), DrawingAreaErrorKind<io::Error>>;

fn draw_no_data(root: &DrawingArea<SVGBackend<'_>, Shift>, title: &str) -> DrawResult {
    // The same top margin as a chart's caption has.
    let area = root.margin(16, 16, 16, 16).titled(title, (FONT, 28))?;
    let (w, h) = area.dim_in_pixel();
    let grey = BLACK.mix(0.6);
    let style = TextStyle::from((FONT, 24))
        .color(&grey)
        .pos(Pos::new(HPos::Center, VPos::Center));
    area.draw(&Text::new("no data", (w as i32 / 2, h as i32 / 2), style))
}

/// The x and y ranges of a chart's axes.
type Extent = ((f64, f64), (f64, f64));

/// The axes' ranges: x from the smallest to the largest `x`, y over every `lo`, `hi` and
/// `mean` with a 5 % margin; `None` when no series has a point.
fn extent(series: &[Series]) -> Option<Extent> {
    let mut bands = series.iter().flat_map(|s| &s.bands);
    let first = bands.next()?;
    let (mut x, mut y) = ((first.x, first.x), (first.lo, first.hi));
    for b in std::iter::once(first).chain(bands) {
        x = (x.0.min(b.x), x.1.max(b.x));
        for v in [b.lo, b.hi, b.mean] {
            y = (y.0.min(v), y.1.max(v));
        }
    }
    Some((widen(x, 0.0), widen(y, 0.05)))
}

/// `(lo, hi)` with `margin` of its span added on each side; a single value (`lo == hi`)
/// becomes a range around it (± a tenth of it, ± 1 around zero) so the axis never
/// collapses.
fn widen((lo, hi): (f64, f64), margin: f64) -> (f64, f64) {
    let span = hi - lo;
    if span > 0.0 {
        (lo - span * margin, hi + span * margin)
    } else {
        let half = if lo == 0.0 { 1.0 } else { lo.abs() / 10.0 };
        (lo - half, lo + half)
    }
}

/// How one axis writes its tick labels.
#[derive(Debug, Clone, Copy)]
struct Ticks {
    /// Decimal places (of the mantissa, in scientific notation) that tell the ticks apart.
    decimals: usize,
    /// Whether labels read `2.5e9` rather than `2500000000`: for axes reaching a million
    /// or staying under a thousandth, where plain labels would be too long to fit.
    scientific: bool,
}

impl Ticks {
    /// The labels for an axis from `lo` to `hi` (finite, `lo < hi`), which plotters fills
    /// with about ten ticks: two digits below the span's order of magnitude.
    fn new(lo: f64, hi: f64) -> Self {
        let top = lo.abs().max(hi.abs());
        let scientific = !(1e-3..1e6).contains(&top);
        let span = if scientific {
            // Relative to the largest value's power of ten, as its mantissa shows it.
            (hi - lo) / 10f64.powf(top.log10().floor())
        } else {
            hi - lo
        };
        let decimals = (2.0 - span.log10().floor()).clamp(0.0, 15.0) as usize;
        Self {
            decimals,
            scientific,
        }
    }

    /// A tick's text, trailing zeros dropped so epochs read `0, 1, 2` and a step of a
    /// fifth `0.2, 0.4`.
    fn label(self, v: f64) -> String {
        let d = self.decimals;
        let s = if self.scientific {
            let s = format!("{v:.d$e}");
            // `{:e}` always writes an exponent: the split cannot fail.
            let (mantissa, exp) = s.split_once('e').expect("exponent present");
            let mantissa = trim_zeros(mantissa);
            if mantissa == "0" || mantissa == "-0" {
                "0".to_owned()
            } else {
                format!("{mantissa}e{exp}")
            }
        } else {
            trim_zeros(&format!("{v:.d$}")).to_owned()
        };
        if s == "-0" { "0".to_owned() } else { s }
    }
}

/// `s` without trailing zeros after a decimal point, nor a bare trailing point.
fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn draw_chart(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    ((x0, x1), (y0, y1)): Extent,
) -> DrawResult {
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 28))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let (x_ticks, y_ticks) = (Ticks::new(x0, x1), Ticks::new(y0, y1));
    let x_tick = move |v: &f64| x_ticks.label(*v);
    let y_tick = move |v: &f64| y_ticks.label(*v);
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 14))
        .x_label_formatter(&x_tick)
        .y_label_formatter(&y_tick)
        // Transparent lines are left out of the SVG: only the labelled grid lines show.
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.15))
        .draw()?;
    let series: Vec<(RGBColor, &str, Vec<Band>)> = series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut bands = s.bands.clone();
            bands.sort_by(|a, b| a.x.total_cmp(&b.x));
            (PALETTE[i % PALETTE.len()], s.label.as_str(), bands)
        })
        .collect();
    // All bands first, so that no band covers another series' line.
    for (color, _, bands) in series.iter().filter(|(_, _, b)| !b.is_empty()) {
        let outline = bands
            .iter()
            .map(|b| (b.x, b.hi))
            .chain(bands.iter().rev().map(|b| (b.x, b.lo)))
            .collect::<Vec<_>>();
        chart.draw_series(std::iter::once(Polygon::new(
            outline,
            color.mix(BAND_OPACITY).filled(),
        )))?;
    }
    for (color, label, bands) in series {
        if let [only] = bands.as_slice() {
            // A one-point line draws nothing: mark the point instead.
            chart.draw_series(std::iter::once(Circle::new(
                (only.x, only.mean),
                4,
                color.filled(),
            )))?;
        }
        let label = if bands.is_empty() {
            format!("{label} (no data)")
        } else {
            label.to_owned()
        };
        chart
            .draw_series(LineSeries::new(
                bands.iter().map(|b| (b.x, b.mean)),
                color.stroke_width(2),
            ))?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn band(x: f64, mean: f64, lo: f64, hi: f64) -> Band {
        Band {
            x,
            mean,
            lo,
            hi,
            runs: 10,
        }
    }

    fn two_series() -> Vec<Series> {
        vec![
            Series {
                label: "supply".into(),
                bands: (0..10)
                    .map(|i| {
                        let m = i as f64 * 3.0;
                        band(i as f64, m, m - 1.0, m + 2.0)
                    })
                    .collect(),
            },
            Series {
                label: "price <usd> & co".into(),
                bands: (0..10).map(|i| band(i as f64, 5.0, 4.0, 6.5)).collect(),
            },
        ]
    }

    fn chart(series: &[Series]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chart.svg");
        line_chart(&path, "Total supply", "epoch", "tokens", series).unwrap();
        std::fs::read_to_string(&path).unwrap()
    }

    #[test]
    fn chart_is_svg_with_title_labels_and_one_line_per_series() {
        let svg = chart(&two_series());
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.trim_end().ends_with("</svg>"));
        for text in [
            "Total supply",
            "epoch",
            "tokens",
            "supply",
            "price &lt;usd&gt; &amp; co",
        ] {
            assert!(
                svg.contains(&format!(">\n{text}\n</text>")),
                "missing text {text:?}"
            );
        }
        // Axes and ticks are black polylines; each series has one line and one band in
        // its palette colour, the band translucent.
        for colour in ["#0072B2", "#D55E00"] {
            let line = format!(r#"<polyline fill="none" opacity="1" stroke="{colour}""#);
            let band = format!(r#"<polygon opacity="0.2" fill="{colour}""#);
            assert_eq!(svg.matches(&line).count(), 1, "one mean line in {colour}");
            assert_eq!(svg.matches(&band).count(), 1, "one band in {colour}");
        }
        assert_eq!(svg.matches("<polygon").count(), 2);
        // Ticks: epochs read as integers, y ticks too.
        for tick in ["0", "1", "9", "30"] {
            assert!(
                svg.contains(&format!(">\n{tick}\n</text>")),
                "missing tick {tick}"
            );
        }
        assert!(!svg.contains(">\n1.0\n</text>"));
    }

    #[test]
    fn identical_input_gives_identical_bytes() {
        assert_eq!(chart(&two_series()), chart(&two_series()));
    }

    #[test]
    fn no_series_draws_a_no_data_chart() {
        let svg = chart(&[]);
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("Total supply"));
        assert!(svg.contains(">\nno data\n</text>"));
        assert_eq!(svg.matches("<polyline").count(), 0);
    }

    #[test]
    fn series_without_points_draw_a_no_data_chart() {
        let empty = Series {
            label: "supply".into(),
            bands: vec![],
        };
        let svg = chart(&[empty.clone(), empty]);
        assert!(svg.contains(">\nno data\n</text>"));
    }

    #[test]
    fn an_empty_series_beside_others_is_marked_in_the_legend() {
        let mut series = two_series();
        series.push(Series {
            label: "burned".into(),
            bands: vec![],
        });
        let svg = chart(&series);
        assert!(svg.contains(">\nburned (no data)\n</text>"), "{svg}");
        assert!(!svg.contains(">\nno data\n</text>"));
    }

    #[test]
    fn constant_series_gets_a_range_around_its_value() {
        for v in [0.0, 7.0, -3e9, 1e-300] {
            let s = Series {
                label: "flat".into(),
                bands: (0..5).map(|i| band(i as f64, v, v, v)).collect(),
            };
            let svg = chart(&[s]);
            assert_eq!(svg.matches(r##"stroke="#0072B2""##).count(), 1);
            let (lo, hi) = widen((v, v), 0.05);
            assert!(lo < v && v < hi, "{lo} < {v} < {hi}");
        }
    }

    #[test]
    fn a_single_epoch_gets_an_x_range_around_it() {
        let s = Series {
            label: "one".into(),
            bands: vec![band(3.0, 1.0, 0.0, 2.0)],
        };
        let svg = chart(&[s]);
        assert!(svg.contains(">\n3\n</text>"), "{svg}");
    }

    #[test]
    fn tick_labels_drop_trailing_zeros() {
        let label = |lo, hi, v| Ticks::new(lo, hi).label(v);
        assert_eq!(label(0.0, 9.0, 2.0), "2");
        assert_eq!(label(0.0, 2.0, 0.6000000000000001), "0.6");
        assert_eq!(label(-15.0, 15.0, -0.0001), "0");
        assert_eq!(label(0.0, 999_999.0, 12345.0), "12345");
    }

    #[test]
    fn tick_labels_of_large_and_tiny_axes_are_scientific() {
        let label = |lo, hi, v| Ticks::new(lo, hi).label(v);
        assert_eq!(label(-3.2e9, 1.1e9, -2.5e9), "-2.5e9");
        assert_eq!(label(-3.2e9, 1.1e9, 5e8), "5e8");
        assert_eq!(label(-3.2e9, 1.1e9, 0.0), "0");
        assert_eq!(label(0.0, 4e-6, 1.5e-6), "1.5e-6");
        assert_eq!(label(2.99e9, 3.01e9, 3.005e9), "3.005e9");
    }

    #[test]
    fn single_point_is_marked() {
        let s = Series {
            label: "one".into(),
            bands: vec![band(3.0, 1.0, 1.0, 1.0)],
        };
        let svg = chart(&[s]);
        assert_eq!(svg.matches("<circle").count(), 1);
    }

    #[test]
    fn unsorted_points_are_drawn_in_x_order() {
        let mut shuffled = two_series();
        shuffled[0].bands.reverse();
        shuffled[1].bands.swap(0, 5);
        assert_eq!(chart(&shuffled), chart(&two_series()));
    }

    #[test]
    fn non_finite_band_is_an_error_naming_the_series() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chart.svg");
        let s = Series {
            label: "supply".into(),
            bands: vec![band(0.0, 1.0, 0.0, 2.0), band(1.0, f64::NAN, 0.0, 2.0)],
        };
        let err = line_chart(&path, "t", "x", "y", &[s]).unwrap_err();
        assert!(matches!(err, PlotError::NonFinite { .. }));
        assert!(
            err.to_string()
                .ends_with("series `supply` has a non-finite value at x = 1")
        );
        assert!(!path.exists());
    }

    #[test]
    fn values_spanning_more_than_an_f64_are_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chart.svg");
        let s = Series {
            label: "wide".into(),
            bands: vec![band(0.0, 0.0, -1e308, 1e308), band(1.0, 0.0, -1e308, 1e308)],
        };
        let err = line_chart(&path, "t", "x", "y", &[s]).unwrap_err();
        assert!(matches!(err, PlotError::Range { .. }), "{err}");
        assert!(!path.exists());
    }

    #[test]
    fn huge_and_tiny_finite_ranges_draw() {
        for (lo, hi) in [(-1e307, 1e307), (1e15, 1e15 + 0.125), (5e-324, 1e-323)] {
            let s = Series {
                label: "edge".into(),
                bands: vec![band(0.0, lo, lo, hi), band(1.0, hi, lo, hi)],
            };
            assert!(chart(&[s]).starts_with("<svg"), "{lo}..{hi}");
        }
    }
}
