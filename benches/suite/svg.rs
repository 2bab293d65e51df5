//! A small SVG line-chart writer: side-by-side panels sharing one y scale, a log₂ x axis of
//! message sizes, one polyline per series, a legend underneath.

use std::fmt::Write as _;

pub struct Series {
    pub label: String,
    pub color: &'static str,
    pub dashed: bool,
    /// (message bytes, value)
    pub points: Vec<(f64, f64)>,
}

pub struct Panel {
    pub title: String,
    pub series: Vec<Series>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" upper bound for the axis and its tick step.
fn nice_axis(max: f64) -> (f64, f64) {
    if !(max.is_finite() && max > 0.0) {
        return (1.0, 0.25);
    }
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    ((max / step).ceil() * step, step)
}

fn size_label(bytes: f64) -> String {
    let b = bytes as u64;
    if b >= 1 << 20 {
        format!("{} MiB", b >> 20)
    } else if b >= 1 << 10 {
        format!("{} KiB", b >> 10)
    } else {
        format!("{b} B")
    }
}

/// The chart as an SVG document.
pub fn chart(title: &str, x_label: &str, y_label: &str, panels: &[Panel]) -> String {
    const PANEL_W: f64 = 300.0;
    const PANEL_H: f64 = 240.0;
    const LEFT: f64 = 64.0;
    const GAP: f64 = 36.0;
    const TOP: f64 = 56.0;
    const LEGEND_ROW: f64 = 20.0;

    let xs: Vec<f64> = panels
        .iter()
        .flat_map(|p| p.series.iter())
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    let x_min = xs.iter().copied().fold(f64::INFINITY, f64::min).max(1.0);
    let x_max = xs.iter().copied().fold(0.0, f64::max).max(x_min * 2.0);
    let y_max_data = panels
        .iter()
        .flat_map(|p| p.series.iter())
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let (y_max, y_step) = nice_axis(y_max_data);
    let (lx_min, lx_max) = (x_min.log2(), x_max.log2());
    let mut ticks = xs.clone();
    ticks.sort_by(f64::total_cmp);
    ticks.dedup();

    // Legend entries: every label once, in order of appearance.
    let mut legend: Vec<(&str, &str, bool)> = Vec::new();
    for s in panels.iter().flat_map(|p| p.series.iter()) {
        if !legend.iter().any(|l| l.0 == s.label) {
            legend.push((&s.label, s.color, s.dashed));
        }
    }
    let per_row = 3usize;
    let rows = legend.len().div_ceil(per_row);
    let width = LEFT + panels.len() as f64 * (PANEL_W + GAP);
    let height = TOP + PANEL_H + 56.0 + rows as f64 * LEGEND_ROW + 12.0;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{:.0}" y="22" font-size="15" text-anchor="middle" font-weight="bold">{}</text>"#,
        width / 2.0,
        escape(title)
    );
    for (i, panel) in panels.iter().enumerate() {
        let x0 = LEFT + i as f64 * (PANEL_W + GAP);
        let y0 = TOP;
        let px = |x: f64| {
            let t = if lx_max > lx_min {
                (x.log2() - lx_min) / (lx_max - lx_min)
            } else {
                0.5
            };
            x0 + 10.0 + t * (PANEL_W - 20.0)
        };
        let py = |y: f64| y0 + PANEL_H - (y / y_max) * PANEL_H;
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">{}</text>"#,
            x0 + PANEL_W / 2.0,
            y0 - 8.0,
            escape(&panel.title)
        );
        // Grid and y ticks.
        let mut y = 0.0;
        while y <= y_max + y_step / 2.0 {
            let yy = py(y);
            let _ = writeln!(
                out,
                r##"<line x1="{x0:.1}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#e0e0e0"/>"##,
                x0 + PANEL_W
            );
            if i == 0 {
                let _ = writeln!(
                    out,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                    x0 - 6.0,
                    yy + 4.0,
                    y
                );
            }
            y += y_step;
        }
        // X ticks at each size measured in any panel.
        for &t in &ticks {
            let xx = px(t);
            let _ = writeln!(
                out,
                r##"<line x1="{xx:.1}" y1="{y0:.1}" x2="{xx:.1}" y2="{:.1}" stroke="#f0f0f0"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                y0 + PANEL_H,
                y0 + PANEL_H + 16.0,
                size_label(t)
            );
        }
        let _ = writeln!(
            out,
            r##"<rect x="{x0:.1}" y="{y0:.1}" width="{PANEL_W:.1}" height="{PANEL_H:.1}" fill="none" stroke="#404040"/>"##
        );
        for s in &panel.series {
            let mut points = s.points.clone();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            let path: Vec<String> = points
                .iter()
                .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
                .collect();
            let dash = if s.dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            };
            let _ = writeln!(
                out,
                r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}><title>{}</title></polyline>"#,
                path.join(" "),
                s.color,
                escape(&s.label)
            );
            for (x, y) in &points {
                let _ = writeln!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}"><title>{}: {} {:.1}</title></circle>"#,
                    px(*x),
                    py(*y),
                    s.color,
                    escape(&s.label),
                    size_label(*x),
                    y
                );
            }
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x0 + PANEL_W / 2.0,
            y0 + PANEL_H + 34.0,
            escape(x_label)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">{}</text>"#,
        TOP + PANEL_H / 2.0,
        TOP + PANEL_H / 2.0,
        escape(y_label)
    );
    let legend_top = TOP + PANEL_H + 52.0;
    let column = (width - LEFT) / per_row as f64;
    for (i, (label, color, dashed)) in legend.iter().enumerate() {
        let x = LEFT + (i % per_row) as f64 * column;
        let y = legend_top + (i / per_row) as f64 * LEGEND_ROW;
        let dash = if *dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = writeln!(
            out,
            r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{color}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"#,
            x + 28.0,
            x + 34.0,
            y + 4.0,
            escape(label)
        );
    }
    out.push_str("</svg>\n");
    out
}
