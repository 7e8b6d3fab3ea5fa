//! Line charts as inline SVG, drawn on the server side: they show without JavaScript, fetch
//! nothing, and their size grows with the number of points (bounded by the timeline), not with
//! the length of the test. Every text in them is escaped here, since templates insert them as-is.
//! The x axis is either the time of a test or a number (a swept parameter, an arrival rate).

use std::fmt::Write as _;

/// Width and height of the drawing (the SVG scales to its container).
const W: f64 = 640.0;
const H: f64 = 210.0;
/// Plot area margins: left (y labels), right, top, bottom (x labels).
const ML: f64 = 52.0;
const MR: f64 = 12.0;
const MT: f64 = 8.0;
const MB: f64 = 22.0;

/// What the y axis counts, for its labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YUnit {
    /// Times in seconds, labelled `ms` or `s`.
    Seconds,
    /// Counts or rates, labelled with `k`/`M` suffixes.
    Number,
    /// Percentages, labelled `5%`.
    Percent,
}

/// What the x axis counts.
#[derive(Clone, Debug, PartialEq)]
pub enum XAxis {
    /// Seconds since the load started, from 0 to this end, labelled `m:ss`.
    Time(f64),
    /// A number from `min` to `max` (widened to round ticks), labelled like [`YUnit::Number`];
    /// `name` is what it counts (`achieved rps`), for the hover read-out.
    Number {
        /// What the axis counts.
        name: String,
        /// Lowest value to show.
        min: f64,
        /// Highest value to show.
        max: f64,
    },
    /// The values a parameter took (a matrix's `vus: [1, 2, 4, 8]`), each a tick; on a log scale
    /// when they span a factor of [`LOG_SPAN`] or more (doublings then sit evenly apart).
    Values {
        /// What the axis counts.
        name: String,
        /// The values, ascending.
        values: Vec<f64>,
    },
}

/// A positive parameter whose largest value is this many times its smallest gets a log axis.
pub const LOG_SPAN: f64 = 32.0;

/// Where an axis starts and ends, whether it is logarithmic, and its ticks.
struct Scale {
    lo: f64,
    hi: f64,
    log: bool,
    ticks: Vec<f64>,
}

impl Scale {
    /// Where `x` is along the axis, from 0 to 1 (clamped).
    fn at(&self, x: f64) -> f64 {
        let f = if self.log {
            (x.max(self.lo).ln() - self.lo.ln()) / (self.hi.ln() - self.lo.ln())
        } else {
            (x - self.lo) / (self.hi - self.lo)
        };
        if f.is_finite() {
            f.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

impl XAxis {
    fn scale(&self) -> Scale {
        let stepped = |lo: f64, hi: f64, step: f64| {
            // Counted, not summed, so a fractional step does not drift past the end.
            let n = ((hi - lo) / step + 1e-9).floor() as u64;
            (0..=n).map(|i| lo + i as f64 * step).collect()
        };
        match self {
            XAxis::Time(end) => {
                let end = if *end > 0.0 { *end } else { 1.0 };
                Scale { lo: 0.0, hi: end, log: false, ticks: stepped(0.0, end, time_step(end)) }
            }
            XAxis::Number { min, max, .. } => {
                let (min, max) = if min.is_finite() && max.is_finite() { (*min, *max) } else { (0.0, 1.0) };
                let step = nice_step(if max > min { (max - min) / 6.0 } else { min.abs().max(1.0) / 4.0 });
                let lo = (min / step).floor() * step;
                let hi = ((max / step).ceil() * step).max(lo + step);
                Scale { lo, hi, log: false, ticks: stepped(lo, hi, step) }
            }
            XAxis::Values { values, .. } => {
                let values: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
                let (lo, hi) = match (values.first(), values.last()) {
                    (Some(&lo), Some(&hi)) if hi > lo => (lo, hi),
                    (Some(&v), _) => (v - 1.0, v + 1.0),
                    _ => (0.0, 1.0),
                };
                Scale { lo, hi, log: lo > 0.0 && hi / lo >= LOG_SPAN, ticks: values }
            }
        }
    }

    /// A tick's label.
    fn label(&self, v: f64) -> String {
        match self {
            XAxis::Time(_) => clock(v),
            XAxis::Number { .. } | XAxis::Values { .. } => y_label(v, YUnit::Number),
        }
    }

    /// What a numeric axis counts.
    pub fn name(&self) -> Option<&str> {
        match self {
            XAxis::Time(_) => None,
            XAxis::Number { name, .. } | XAxis::Values { name, .. } => Some(name),
        }
    }
}

/// One line.
#[derive(Clone, Debug)]
pub struct Line {
    /// Legend text.
    pub name: String,
    /// Stroke colour (`#rrggbb`).
    pub color: &'static str,
    /// `(x seconds, y)`; `None` breaks the line (no data there).
    pub points: Vec<(f64, Option<f64>)>,
    /// Drawn thicker (the overall figures).
    pub bold: bool,
    /// Drawn dashed (a secondary figure such as the maximum).
    pub dashed: bool,
}

impl Line {
    /// A plain line: neither bold nor dashed.
    pub fn new(name: impl Into<String>, color: &'static str, points: Vec<(f64, Option<f64>)>) -> Self {
        Line { name: name.into(), color, points, bold: false, dashed: false }
    }
}

/// A shaded range behind a line: the lowest and highest single second of each thinned point.
#[derive(Clone, Debug)]
pub struct Band {
    /// What it is, for its tooltip.
    pub name: String,
    /// Fill colour.
    pub color: &'static str,
    /// `(x seconds, low, high)`.
    pub points: Vec<(f64, f64, f64)>,
}

/// A level that holds for the whole chart (a baseline): a line at `value`, drawn over a shaded
/// `range` (the lowest and highest of the runs it comes from) when there is one.
#[derive(Clone, Debug)]
pub struct Reference {
    /// Legend text.
    pub name: String,
    /// What it says, for its tooltip (values in their unit).
    pub detail: String,
    /// Line and fill colour (the colour of the line it belongs to).
    pub color: &'static str,
    /// In the chart's unit.
    pub value: Option<f64>,
    /// `(low, high)`, in the chart's unit.
    pub range: Option<(f64, f64)>,
}

/// A vertical mark at a moment (a criterion triggering) or a value (the knee of a capacity search).
#[derive(Clone, Debug)]
pub struct Marker {
    /// Where, in the x axis's unit.
    pub x: f64,
    /// What happened, for its tooltip.
    pub text: String,
    /// Its CSS class: `marker` (a criterion, red) or `knee`.
    pub class: &'static str,
}

/// One measured point marked on its own: filled when it passed, a cross when it failed.
#[derive(Clone, Debug)]
pub struct Dot {
    /// Where, in the axes' units.
    pub x: f64,
    pub y: f64,
    /// Fill or stroke colour.
    pub color: &'static str,
    /// Whether the point passed (a filled circle) or failed (a cross).
    pub passed: bool,
    /// What it is, for its tooltip.
    pub text: String,
}

/// A chart: over the time of one test, or over a number.
#[derive(Clone, Debug)]
pub struct Chart {
    /// Accessible name of the drawing.
    pub title: String,
    /// Unit of the y axis.
    pub unit: YUnit,
    /// Lines, drawn in order.
    pub lines: Vec<Line>,
    /// Ranges, drawn under the lines.
    pub bands: Vec<Band>,
    /// Levels across the whole chart (baselines), drawn under the lines.
    pub references: Vec<Reference>,
    /// Moments or values to mark with a vertical line.
    pub markers: Vec<Marker>,
    /// Points marked one by one, drawn over the lines.
    pub dots: Vec<Dot>,
    /// The x axis.
    pub x: XAxis,
}

impl Chart {
    /// Whether any line has a value to draw.
    pub fn has_data(&self) -> bool {
        self.lines.iter().any(|l| l.points.iter().any(|(_, y)| y.is_some()))
    }
}

/// Escapes text for SVG/HTML content and attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A step of 1, 2, 2.5 or 5 times a power of ten, about `raw` in size.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 2.5 {
        2.5
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// A time step for the x axis with at most about eight ticks.
fn time_step(x_max: f64) -> f64 {
    const STEPS: [f64; 16] =
        [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0];
    STEPS.iter().copied().find(|s| x_max / s <= 8.0).unwrap_or(86400.0)
}

/// `m:ss`, or `h:mm:ss` for long tests.
pub fn clock(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// A y-axis value as a short label.
pub fn y_label(v: f64, unit: YUnit) -> String {
    match unit {
        YUnit::Seconds if v == 0.0 => "0".into(),
        YUnit::Seconds if v < 1e-3 => format!("{}µs", trim(v * 1e6)),
        YUnit::Seconds if v < 1.0 => format!("{}ms", trim(v * 1e3)),
        YUnit::Seconds => format!("{}s", trim(v)),
        YUnit::Percent => format!("{}%", trim(v)),
        YUnit::Number => {
            let a = v.abs();
            if a >= 1e9 {
                format!("{}G", trim(v / 1e9))
            } else if a >= 1e6 {
                format!("{}M", trim(v / 1e6))
            } else if a >= 1e4 {
                format!("{}k", trim(v / 1e3))
            } else {
                trim(v)
            }
        }
    }
}

/// Up to three decimals, trailing zeros dropped.
fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// Draws the chart.
pub fn svg(chart: &Chart) -> String {
    let pw = W - ML - MR;
    let ph = H - MT - MB;
    let scale = chart.x.scale();
    let y_top = y_top(chart);
    let step = nice_step(if y_top > 0.0 { y_top / 4.0 } else { 0.25 });
    let y_max = (y_top / step).ceil().max(1.0) * step;
    let sx = |x: f64| ML + scale.at(x) * pw;
    let sy = |y: f64| MT + ph - (y / y_max).clamp(0.0, 1.0) * ph;

    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{}" data-x-min="{}" data-x-max="{}"{} data-plot="{ML} {MT} {pw} {ph}"><title>{}</title>"#,
        esc(&chart.title),
        scale.lo,
        scale.hi,
        if scale.log { r#" data-x-log="1""# } else { "" },
        esc(&chart.title)
    );
    // Grid and axis labels.
    out.push_str(r#"<g class="grid">"#);
    let mut v = 0.0;
    while v <= y_max + step / 2.0 {
        let y = sy(v);
        let _ = write!(
            out,
            r#"<line x1="{ML}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text class="yl" x="{:.1}" y="{:.1}">{}</text>"#,
            ML + pw,
            ML - 5.0,
            y + 3.5,
            esc(&y_label(v, chart.unit))
        );
        v += step;
    }
    // A label too close to the last one drawn is left out (its grid line stays).
    let mut last_label = f64::NEG_INFINITY;
    for &t in &scale.ticks {
        let x = sx(t);
        let _ = write!(out, r#"<line class="xt" x1="{x:.1}" x2="{x:.1}" y1="{MT}" y2="{:.1}"/>"#, MT + ph);
        if x - last_label >= 28.0 {
            // The label at the right edge ends there, so a long one is not cut off.
            let class = if x > W - MR - 1.0 { "xl end" } else { "xl" };
            let _ =
                write!(out, r#"<text class="{class}" x="{x:.1}" y="{:.1}">{}</text>"#, H - 6.0, esc(&chart.x.label(t)));
            last_label = x;
        }
    }
    out.push_str("</g>");
    for band in &chart.bands {
        if band.points.is_empty() {
            continue;
        }
        let mut d = String::new();
        for (i, (x, _, hi)) in band.points.iter().enumerate() {
            let _ = write!(d, "{}{:.1},{:.1}", if i == 0 { "M" } else { "L" }, sx(*x), sy(*hi));
        }
        for (x, lo, _) in band.points.iter().rev() {
            let _ = write!(d, "L{:.1},{:.1}", sx(*x), sy(*lo));
        }
        d.push('Z');
        let _ = write!(
            out,
            r#"<path class="band" d="{d}" fill="{}"><title>{}</title></path>"#,
            band.color,
            esc(&band.name)
        );
    }
    for r in &chart.references {
        draw_reference(&mut out, r, (ML, ML + pw), &sy);
    }
    for line in &chart.lines {
        draw_line(&mut out, line, &sx, &sy);
    }
    for m in &chart.markers {
        let x = sx(m.x);
        let _ = write!(
            out,
            r#"<line class="{}" x1="{x:.1}" x2="{x:.1}" y1="{MT}" y2="{:.1}"><title>{}</title></line>"#,
            m.class,
            MT + ph,
            esc(&m.text)
        );
    }
    for d in chart.dots.iter().filter(|d| d.x.is_finite() && d.y.is_finite()) {
        let (x, y) = (sx(d.x), sy(d.y));
        if d.passed {
            let _ = write!(
                out,
                r#"<circle class="dot pass" cx="{x:.1}" cy="{y:.1}" r="3" fill="{}"><title>{}</title></circle>"#,
                d.color,
                esc(&d.text)
            );
        } else {
            let _ = write!(
                out,
                r#"<path class="dot fail" d="M{:.1},{:.1}l7,7m0,-7l-7,7" stroke="{}"><title>{}</title></path>"#,
                x - 3.5,
                y - 3.5,
                d.color,
                esc(&d.text)
            );
        }
    }
    // The hover cursor of the page's script; hidden until the pointer is over the chart.
    let _ = write!(out, r#"<line class="cursor" x1="0" x2="0" y1="{MT}" y2="{:.1}" style="display:none"/>"#, MT + ph);
    out.push_str("</svg>");
    out
}

/// The highest value drawn (0 without any).
fn y_top(chart: &Chart) -> f64 {
    let lines = chart.lines.iter().flat_map(|l| l.points.iter().filter_map(|(_, y)| *y));
    let bands = chart.bands.iter().flat_map(|b| b.points.iter().map(|(_, _, hi)| *hi));
    let references = chart.references.iter().flat_map(|r| r.value.into_iter().chain(r.range.map(|(_, hi)| hi)));
    let dots = chart.dots.iter().map(|d| d.y);
    lines.chain(bands).chain(references).chain(dots).filter(|y| y.is_finite()).fold(0.0, f64::max)
}

/// Draws a level across the plot: its range as a shaded strip, its value as a dashed line.
fn draw_reference(out: &mut String, r: &Reference, (x0, x1): (f64, f64), sy: &impl Fn(f64) -> f64) {
    let _ = write!(out, r#"<g class="baseline"><title>{}</title>"#, esc(&r.detail));
    if let Some((lo, hi)) = r.range.filter(|(lo, hi)| lo.is_finite() && hi.is_finite()) {
        let (top, bottom) = (sy(hi.max(lo)), sy(lo.min(hi)));
        // At least a pixel high, so a range of equal runs still shows.
        let height = (bottom - top).max(1.0);
        let _ = write!(
            out,
            r#"<rect class="baseline-band" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{height:.1}" fill="{}"/>"#,
            top.min(bottom - height / 2.0),
            x1 - x0,
            r.color
        );
    }
    if let Some(v) = r.value.filter(|v| v.is_finite()) {
        let y = sy(v);
        let _ = write!(
            out,
            r#"<line class="baseline-line" x1="{x0:.1}" x2="{x1:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{}"/>"#,
            r.color
        );
    }
    out.push_str("</g>");
}

/// Draws one line; `None` values break it, and a point with no neighbour gets a dot.
fn draw_line(out: &mut String, line: &Line, sx: &impl Fn(f64) -> f64, sy: &impl Fn(f64) -> f64) {
    let mut d = String::new();
    let mut pen_down = false;
    let mut single = Vec::new();
    for (i, (x, y)) in line.points.iter().enumerate() {
        match y.filter(|y| y.is_finite()) {
            Some(y) => {
                let _ = write!(d, "{}{:.1},{:.1}", if pen_down { "L" } else { "M" }, sx(*x), sy(y));
                // A point with no neighbour would be invisible as a path: mark it with a dot.
                let prev = i > 0 && line.points[i - 1].1.is_some();
                let next = line.points.get(i + 1).is_some_and(|p| p.1.is_some());
                if !prev && !next {
                    single.push((sx(*x), sy(y)));
                }
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    if d.is_empty() {
        return;
    }
    let class = match (line.bold, line.dashed) {
        (true, _) => "line bold",
        (false, true) => "line dashed",
        _ => "line",
    };
    let _ = write!(
        out,
        r#"<path class="{class}" d="{d}" stroke="{}"><title>{}</title></path>"#,
        line.color,
        esc(&line.name)
    );
    for (x, y) in single {
        let _ = write!(out, r#"<circle cx="{x:.1}" cy="{y:.1}" r="2.5" fill="{}"/>"#, line.color);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_labels() {
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(nice_step(0.0021), 0.0025);
        assert_eq!(time_step(30.0), 5.0);
        assert_eq!(time_step(3600.0), 600.0);
        assert_eq!(y_label(0.0025, YUnit::Seconds), "2.5ms");
        assert_eq!(y_label(1.5, YUnit::Seconds), "1.5s");
        assert_eq!(y_label(25_000.0, YUnit::Number), "25k");
        assert_eq!(clock(3725.0), "1:02:05");
        assert_eq!(clock(65.0), "1:05");
    }

    #[test]
    fn text_is_escaped_and_gaps_break_lines() {
        let chart = Chart {
            title: "<b>".into(),
            unit: YUnit::Number,
            lines: vec![Line::new(
                "<script>x</script>",
                "#000000",
                vec![(0.0, Some(1.0)), (1.0, Some(2.0)), (2.0, None), (3.0, Some(1.0))],
            )],
            bands: vec![],
            references: vec![],
            markers: vec![Marker { x: 1.0, text: "a\"b".into(), class: "marker" }],
            dots: vec![],
            x: XAxis::Time(4.0),
        };
        let s = svg(&chart);
        assert!(!s.contains("<script>") && !s.contains("<b>"), "{s}");
        assert!(s.contains("&lt;script&gt;") && s.contains("a&quot;b"));
        // Two pieces: the first with a line, the lone last point as a dot.
        let d = s.split(r#"<path class="line" d=""#).nth(1).and_then(|rest| rest.split('"').next()).unwrap();
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert!(s.contains("<circle"));
    }

    #[test]
    fn a_reference_is_a_strip_and_a_line_across_the_plot_that_the_scale_includes() {
        let reference = Reference {
            name: "baseline p95 (5 runs)".into(),
            detail: "baseline <p95>".into(),
            color: "#0072B2",
            value: Some(3.0),
            range: Some((2.0, 4.0)),
        };
        let chart = Chart {
            title: "t".into(),
            unit: YUnit::Number,
            lines: vec![Line::new("a", "#000000", vec![(0.0, Some(1.0)), (1.0, Some(1.0))])],
            bands: vec![],
            references: vec![reference],
            markers: vec![],
            dots: vec![],
            x: XAxis::Time(1.0),
        };
        let s = svg(&chart);
        assert!(
            s.contains(r#"<g class="baseline"><title>baseline &lt;p95&gt;</title><rect class="baseline-band""#),
            "{s}"
        );
        assert!(s.contains(r#"<line class="baseline-line" x1="52.0" x2="628.0""#), "{s}");
        // The axis reaches the top of the strip (4), not only the line's 1.
        assert!(s.contains(">4</text>"), "{s}");
    }

    #[test]
    fn a_parameter_axis_ticks_its_values_and_goes_log_over_a_wide_span() {
        let chart = |values: Vec<f64>| Chart {
            title: "p95 by vus".into(),
            unit: YUnit::Seconds,
            lines: vec![Line::new("a", "#000000", values.iter().map(|&x| (x, Some(0.01))).collect())],
            bands: vec![],
            references: vec![],
            markers: vec![Marker { x: 4.0, text: "knee".into(), class: "knee" }],
            dots: vec![Dot { x: 4.0, y: 0.02, color: "#000000", passed: false, text: "<x>".into() }],
            x: XAxis::Values { name: "vus".into(), values },
        };
        let s = svg(&chart(vec![1.0, 2.0, 4.0, 8.0]));
        assert!(s.contains(r#"data-x-min="1" data-x-max="8" data-plot"#), "{s}");
        let labels: Vec<&str> = s
            .split(r#"<text class="xl"#)
            .skip(1)
            .map(|t| t.split('>').nth(1).unwrap().split('<').next().unwrap())
            .collect();
        assert_eq!(labels, ["1", "2", "4", "8"]);
        assert!(s.contains(r#"<line class="knee" x1="298.9""#), "linear: 4 is 3/7 of the way: {s}");
        assert!(s.contains(r#"<path class="dot fail" d="#) && s.contains("<title>&lt;x&gt;</title>"));
        // The dot is in the y scale: 20 ms tops the axis.
        assert!(s.contains(">20ms</text>"), "{s}");

        let s = svg(&chart(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]));
        assert!(s.contains(r#"data-x-log="1""#));
        // Doublings are evenly apart: 4 is a third of the way.
        assert!(s.contains(r#"<line class="knee" x1="244.0""#), "{s}");
    }

    #[test]
    fn close_tick_labels_are_thinned() {
        let chart = Chart {
            title: "t".into(),
            unit: YUnit::Number,
            lines: vec![],
            bands: vec![],
            references: vec![],
            markers: vec![],
            dots: vec![],
            x: XAxis::Values { name: "n".into(), values: vec![1.0, 2.0, 3.0, 30.0] },
        };
        let s = svg(&chart);
        assert_eq!(s.matches(r#"<line class="xt""#).count(), 4);
        assert_eq!(s.matches(r#"<text class="xl"#).count(), 3, "2 is 20 px from 1: {s}");
        assert!(s.contains(r#"<text class="xl end" x="628.0" y="204.0">30</text>"#), "{s}");
    }
}
