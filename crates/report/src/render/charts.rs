//! The printable report's charts as inline SVG: no script, no external resource, so the page
//! still prints and archives as one file. Pure text in, text out; every label is escaped.
//!
//! - [`daily`]: the fleet's online and intact rate on each day of the period, with the
//!   contract's threshold as a line;
//! - [`bars`]: a ranking (regions or contractors by online rate, lowest first; outage causes by
//!   hours), one horizontal bar per row.

use std::fmt::Write;

/// Escapes text for HTML and SVG (XML) content and attribute values: the printable page and
/// its charts use this one.
pub(super) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const W: f64 = 960.0;
const FONT: &str = "font-family=\"sans-serif\" font-size=\"11\"";
const RED: &str = "#c0392b";
const BLUE: &str = "#2467b3";
const GREEN: &str = "#2e8b57";
const GREY: &str = "#999";

/// The lower end of the rate axis (percent): a whole step below the lowest value shown and the
/// threshold, so the interesting band fills the chart; 0 when rates go that low.
pub(super) fn rate_floor(values: impl Iterator<Item = f64>) -> f64 {
    let lowest = values.fold(100.0_f64, f64::min);
    let steps = [99.0, 98.0, 95.0, 90.0, 80.0, 60.0, 0.0];
    steps
        .into_iter()
        .find(|s| *s <= lowest - 0.5 || *s == 0.0)
        .unwrap_or(0.0)
}

/// One series of the daily chart.
pub struct Line<'a> {
    pub label: &'a str,
    /// Percent per day; `None` (nothing observed that day) breaks the line.
    pub values: &'a [Option<f64>],
    pub colour: Colour,
    pub dashed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Blue,
    Green,
}

impl Colour {
    fn css(self) -> &'static str {
        match self {
            Self::Blue => BLUE,
            Self::Green => GREEN,
        }
    }
}

/// A line chart of rates (percent) over the period's days (`days`: the x labels, e.g. the day
/// of the month), with the threshold (percent) as a red dashed line when there is one.
pub fn daily(days: &[String], lines: &[Line<'_>], threshold: Option<(f64, &str)>) -> String {
    let (h, left, right, top, bottom) = (280.0, 48.0, 16.0, 24.0, 36.0);
    let plot_w = W - left - right;
    let plot_h = h - top - bottom;
    let n = days.len().max(1);
    let lo = rate_floor(
        lines
            .iter()
            .flat_map(|l| l.values.iter().flatten().copied())
            .chain(threshold.map(|t| t.0)),
    );
    let x = |i: usize| left + plot_w * (i as f64 + 0.5) / n as f64;
    let y = |v: f64| top + plot_h * (100.0 - v.clamp(lo, 100.0)) / (100.0 - lo);
    let mut o = String::new();
    let _ = write!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {W} {h}\" width=\"100%\" role=\"img\">"
    );
    // Grid and the rate axis: five steps from the floor to 100 %.
    for k in 0..=5 {
        let v = lo + (100.0 - lo) * k as f64 / 5.0;
        let yy = y(v);
        let _ = write!(
            o,
            "<line x1=\"{left}\" y1=\"{yy:.1}\" x2=\"{:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\" stroke-width=\"0.5\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" {FONT}>{}%</text>",
            W - right,
            left - 4.0,
            yy + 4.0,
            trim(v)
        );
    }
    // Day labels: every day when they fit, else every few.
    let every = n.div_ceil(31).max(1);
    for (i, d) in days.iter().enumerate().filter(|(i, _)| i % every == 0) {
        let _ = write!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" {FONT}>{}</text>",
            x(i),
            h - bottom + 14.0,
            esc(d)
        );
    }
    if let Some((t, label)) = threshold {
        let yy = y(t);
        let _ = write!(
            o,
            "<line x1=\"{left}\" y1=\"{yy:.1}\" x2=\"{:.1}\" y2=\"{yy:.1}\" stroke=\"{RED}\" stroke-width=\"1.2\" stroke-dasharray=\"6 4\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"{RED}\" {FONT}>{} {}%</text>",
            W - right,
            W - right,
            yy - 4.0,
            esc(label),
            trim(t)
        );
    }
    for line in lines {
        let dash = if line.dashed {
            " stroke-dasharray=\"3 3\""
        } else {
            ""
        };
        // One polyline per run of days with a value.
        let mut run: Vec<(f64, f64)> = Vec::new();
        let flush = |run: &mut Vec<(f64, f64)>, o: &mut String| {
            match run.as_slice() {
                [] => {}
                [(cx, cy)] => {
                    let _ = write!(
                        o,
                        "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"2\" fill=\"{}\"/>",
                        line.colour.css()
                    );
                }
                points => {
                    let _ = write!(
                        o,
                        "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.6\"{dash} points=\"",
                        line.colour.css()
                    );
                    for (k, (px, py)) in points.iter().enumerate() {
                        let sep = if k == 0 { "" } else { " " };
                        let _ = write!(o, "{sep}{px:.1},{py:.1}");
                    }
                    o.push_str("\"/>");
                }
            }
            run.clear();
        };
        for (i, v) in line.values.iter().enumerate() {
            match v {
                Some(v) => run.push((x(i), y(*v))),
                None => flush(&mut run, &mut o),
            }
        }
        flush(&mut run, &mut o);
    }
    // Legend.
    let mut lx = left;
    for line in lines {
        let _ = write!(
            o,
            "<rect x=\"{lx:.1}\" y=\"6\" width=\"14\" height=\"3\" fill=\"{}\"/><text x=\"{:.1}\" y=\"12\" {FONT}>{}</text>",
            line.colour.css(),
            lx + 18.0,
            esc(line.label)
        );
        lx += 30.0 + 7.0 * line.label.chars().count() as f64;
    }
    o.push_str("</svg>");
    o
}

/// One bar of a ranking.
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// The value as shown at the bar's end.
    pub text: String,
    /// Drawn red (below the threshold).
    pub alarm: bool,
}

/// Horizontal bars, one per row in the given order; `scale`: the value of a full-width bar
/// (`None`: the largest value); `floor`: where bars start (a rate axis may start above 0).
pub fn bars(rows: &[Bar], scale: Option<f64>, floor: f64) -> String {
    let (label_w, text_w, bar_h, gap, top) = (260.0, 90.0, 14.0, 6.0, 4.0);
    let plot_w = W - label_w - text_w;
    let max = scale
        .unwrap_or_else(|| rows.iter().map(|r| r.value).fold(0.0, f64::max))
        .max(floor + f64::EPSILON);
    let h = top * 2.0 + rows.len() as f64 * (bar_h + gap);
    let mut o = String::new();
    let _ = write!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {W} {h:.0}\" width=\"100%\" role=\"img\">"
    );
    for (i, r) in rows.iter().enumerate() {
        let yy = top + i as f64 * (bar_h + gap);
        let len = (plot_w * (r.value - floor).max(0.0) / (max - floor)).min(plot_w);
        let label: String = if r.label.chars().count() > 36 {
            r.label.chars().take(35).chain(['…']).collect()
        } else {
            r.label.clone()
        };
        let _ = write!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" {FONT}>{}</text>\
             <rect x=\"{label_w}\" y=\"{yy:.1}\" width=\"{len:.1}\" height=\"{bar_h}\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" {FONT}>{}</text>",
            label_w - 6.0,
            yy + bar_h - 3.0,
            esc(&label),
            if r.alarm { RED } else { BLUE },
            label_w + len + 4.0,
            yy + bar_h - 3.0,
            esc(&r.text)
        );
    }
    let _ = write!(
        o,
        "<line x1=\"{label_w}\" y1=\"0\" x2=\"{label_w}\" y2=\"{h:.0}\" stroke=\"{GREY}\" stroke-width=\"0.5\"/></svg>"
    );
    o
}

/// A percentage without trailing zeros: `98`, `99.5`.
fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        let svg = bars(
            &[Bar {
                label: "<script>alert(1)</script>".into(),
                value: 1.0,
                text: "\"1\"".into(),
                alarm: false,
            }],
            None,
            0.0,
        );
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("&quot;1&quot;"));
        let d = daily(&["<1>".into()], &[], Some((98.0, "<t>")));
        assert!(!d.contains("<1>") && !d.contains("<t>"));
    }

    #[test]
    fn the_axis_starts_below_the_lowest_value_and_the_threshold() {
        assert_eq!(rate_floor([99.9, 99.7].into_iter()), 99.0);
        assert_eq!(rate_floor([99.9, 98.0].into_iter()), 95.0);
        assert_eq!(rate_floor([97.0].into_iter()), 95.0);
        assert_eq!(rate_floor([40.0].into_iter()), 0.0);
        assert_eq!(rate_floor(std::iter::empty()), 99.0);
    }

    #[test]
    fn a_missing_day_breaks_the_line() {
        let v = [Some(99.0), Some(98.5), None, Some(99.2), Some(99.3)];
        let d = daily(
            &(1..=5).map(|d| d.to_string()).collect::<Vec<_>>(),
            &[Line {
                label: "online",
                values: &v,
                colour: Colour::Blue,
                dashed: false,
            }],
            Some((98.0, "threshold")),
        );
        assert_eq!(d.matches("<polyline").count(), 2);
        assert_eq!(d.matches("stroke-dasharray=\"6 4\"").count(), 1);
        // A lone day is a dot.
        let lone = [None, Some(99.0), None];
        let d = daily(
            &["1".into(), "2".into(), "3".into()],
            &[Line {
                label: "online",
                values: &lone,
                colour: Colour::Blue,
                dashed: false,
            }],
            None,
        );
        assert_eq!(d.matches("<circle").count(), 1);
        assert_eq!(d.matches("<polyline").count(), 0);
    }

    #[test]
    fn bars_are_proportional_above_the_floor() {
        let rows = [(99.0, "a"), (97.0, "b")].map(|(v, l)| Bar {
            label: l.into(),
            value: v,
            text: format!("{v}%"),
            alarm: v < 98.0,
        });
        let svg = bars(&rows, Some(100.0), 95.0);
        let plot = W - 260.0 - 90.0;
        assert!(svg.contains(&format!("width=\"{:.1}\"", plot * 4.0 / 5.0)));
        assert!(svg.contains(&format!("width=\"{:.1}\"", plot * 2.0 / 5.0)));
        assert_eq!(svg.matches(RED).count(), 1);
    }
}
