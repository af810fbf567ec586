//! The demo's live view: one plain data snapshot (`LiveStats`) rendered either as a full-screen
//! terminal UI (ratatui, when stdout is a terminal) or as one summary line per refresh (when it is
//! not: logs, CI, pipes). Rendering is pure: it takes the snapshot and draws; nothing here
//! touches the monitor.

use std::fmt::Write as _;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};

pub use camwatch_monitor::summary::{LiveStats, OpenOutage, Phase};

fn pct(r: Option<f64>) -> String {
    r.map_or_else(|| "—".into(), |r| format!("{:.3}%", r * 100.0))
}

fn age(sec: i64) -> String {
    let (h, m, s) = (sec / 3600, (sec % 3600) / 60, sec % 60);
    if h > 0 {
        format!("{h}h{m:02}m")
    } else {
        format!("{m}m{s:02}s")
    }
}

/// One line for non-terminal output.
pub fn plain_line(s: &LiveStats) -> String {
    let mut out = String::new();
    let phase = match &s.phase {
        Phase::Importing => "importing".to_string(),
        Phase::FirstSweep { done, total } => format!("first sweep {done}/{total}"),
        Phase::Running => "running".into(),
        Phase::Stopping => "stopping".into(),
    };
    let _ = write!(
        out,
        "[{}] {phase} channels={} online={} degraded={} offline={} unknown={} rate={} probes={} ({:.0}/s, p50 {:.0} ms, p99 {:.0} ms)",
        s.now,
        s.channels,
        s.online,
        s.degraded,
        s.offline,
        s.unknown,
        pct(s.online_rate),
        s.probes_total,
        s.probes_per_sec,
        s.p50_ms,
        s.p99_ms
    );
    if !s.outage_causes.is_empty() {
        let causes: Vec<String> = s
            .outage_causes
            .iter()
            .map(|(c, n)| format!("{c}:{n}"))
            .collect();
        let _ = write!(out, " outages[{}]", causes.join(","));
    }
    if s.onvif_checked > 0 {
        let _ = write!(
            out,
            " onvif[checked={} failing={} clock_off_5min={}]",
            s.onvif_checked, s.onvif_failing, s.clock_drift_over_5min
        );
    }
    if !s.picture_faults.is_empty() {
        let faults: Vec<String> = s
            .picture_faults
            .iter()
            .map(|(c, n)| format!("{c}:{n}"))
            .collect();
        let _ = write!(out, " picture[{}]", faults.join(","));
    }
    out
}

/// Open work orders and how many of them are overdue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkOrderCounts {
    pub open: u64,
    pub overdue: u64,
}

impl WorkOrderCounts {
    pub async fn read(store: &dyn camwatch_store::Store) -> camwatch_core::error::Result<Self> {
        let open = store.open_work_orders().await?;
        Ok(Self {
            open: open.len() as u64,
            overdue: open
                .iter()
                .filter(|o| {
                    o.life.response_overdue_at.is_some() || o.life.repair_overdue_at.is_some()
                })
                .count() as u64,
        })
    }

    /// The plain line's part: ` work_orders[open=N overdue=M]`.
    pub fn plain(&self) -> String {
        format!(" work_orders[open={} overdue={}]", self.open, self.overdue)
    }
}

/// Full-screen view.
/// `console`: where the web console is and how to sign in (the footer line).
pub fn draw(f: &mut Frame, s: &LiveStats, wo: &WorkOrderCounts, console: &str) {
    let [head, counts, body, foot] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(5),
        Constraint::Min(5),
        Constraint::Length(1),
    ])
    .areas(f.area());

    let phase = match &s.phase {
        Phase::Importing => "importing the register…".to_string(),
        Phase::FirstSweep { done, total } => format!("first sweep: {done} / {total} probed"),
        Phase::Running => "monitoring".into(),
        Phase::Stopping => "stopping, writing the report…".into(),
    };
    let title = Line::from(vec![
        Span::styled(
            "camwatch demo",
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            "  ·  {}  ·  {} elapsed (×{})  ·  {phase}",
            s.now,
            age(s.elapsed_sec),
            s.time_scale
        )),
    ]);
    f.render_widget(
        Paragraph::new(title).block(Block::default().borders(Borders::ALL)),
        head,
    );

    let count = |label: &str, n: u64, color: Color| {
        vec![
            Span::styled(format!(" {label} "), Style::default().fg(color)),
            Span::styled(
                format!("{n:<8}"),
                Style::default().add_modifier(Modifier::BOLD),
            ),
        ]
    };
    let mut l1 = vec![Span::raw(format!(" channels {:<8}", s.channels))];
    l1.extend(count("online", s.online, Color::Green));
    l1.extend(count("degraded", s.degraded, Color::Yellow));
    l1.extend(count("offline", s.offline, Color::Red));
    l1.extend(count("unknown", s.unknown, Color::Gray));
    let l2 = Line::from(format!(
        " online rate since start {}   probes {} ({:.0}/s, p50 {:.0} ms, p99 {:.0} ms)",
        pct(s.online_rate),
        s.probes_total,
        s.probes_per_sec,
        s.p50_ms,
        s.p99_ms
    ));
    let mut l3 = vec![Span::raw(format!(" work orders open {:<6}", wo.open))];
    l3.extend(count(
        "overdue",
        wo.overdue,
        if wo.overdue > 0 {
            Color::Red
        } else {
            Color::Gray
        },
    ));
    f.render_widget(
        Paragraph::new(vec![Line::from(l1), l2, Line::from(l3)])
            .block(Block::default().borders(Borders::ALL).title("fleet")),
        counts,
    );

    let [left, right] =
        Layout::horizontal([Constraint::Percentage(68), Constraint::Percentage(32)]).areas(body);
    let rows = s.outages.iter().map(|o| {
        Row::new(vec![
            o.code.to_string(),
            o.name.clone(),
            o.cause
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            age(o.age_sec),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(21),
            Constraint::Min(10),
            Constraint::Length(26),
            Constraint::Length(8),
        ],
    )
    .header(
        Row::new(vec!["code", "name", "cause", "age"])
            .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .block(
        Block::default()
            .borders(Borders::ALL)
            .title(format!("outages in progress ({})", s.outages_total)),
    );
    f.render_widget(table, left);

    let mut lines: Vec<Line> = vec![Line::styled(
        "by cause",
        Style::default().add_modifier(Modifier::BOLD),
    )];
    lines.extend(
        s.outage_causes
            .iter()
            .map(|(c, n)| Line::from(format!(" {c:<22}{n:>6}"))),
    );
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "picture faults",
        Style::default().add_modifier(Modifier::BOLD),
    ));
    lines.extend(
        s.picture_faults
            .iter()
            .map(|(c, n)| Line::from(format!(" {c:<22}{n:>6}"))),
    );
    if s.onvif_checked > 0 {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            "onvif",
            Style::default().add_modifier(Modifier::BOLD),
        ));
        lines.push(Line::from(format!(
            " {:<22}{:>6}",
            "checked", s.onvif_checked
        )));
        lines.push(Line::from(format!(
            " {:<22}{:>6}",
            "failing", s.onvif_failing
        )));
        lines.push(Line::from(format!(
            " {:<22}{:>6}",
            "clock off > 5 min", s.clock_drift_over_5min
        )));
    }
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title("why")),
        right,
    );
    f.render_widget(
        Paragraph::new(format!(" {console}  ·  Ctrl-C: stop and write the report")),
        foot,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn sample() -> LiveStats {
        LiveStats {
            phase: Phase::Running,
            now: "2026-11-01T08:00:00+08:00".into(),
            elapsed_sec: 3723,
            time_scale: 60.0,
            channels: 2000,
            online: 1950,
            degraded: 12,
            offline: 30,
            unknown: 8,
            online_rate: Some(0.98123),
            outages: vec![OpenOutage {
                code: "34020000001320000001".parse().unwrap(),
                name: "Gate 1".into(),
                cause: Some(camwatch_core::cause::Cause::Failure(
                    camwatch_core::outcome::FailureKind::ConnectionRefused,
                )),
                age_sec: 620,
            }],
            outages_total: 30,
            outage_causes: vec![("connection_refused", 20), ("parent_down", 10)],
            picture_faults: vec![("blur", 7)],
            onvif_checked: 100,
            onvif_failing: 2,
            clock_drift_over_5min: 3,
            probes_total: 12345,
            probes_per_sec: 410.0,
            p50_ms: 3.0,
            p99_ms: 40.0,
        }
    }

    #[test]
    fn plain_line_carries_the_numbers() {
        let l = plain_line(&sample());
        for want in [
            "online=1950",
            "offline=30",
            "rate=98.123%",
            "connection_refused:20",
            "blur:7",
        ] {
            assert!(l.contains(want), "{want} missing from {l}");
        }
    }

    #[test]
    fn terminal_view_renders() {
        let mut t = Terminal::new(TestBackend::new(120, 30)).unwrap();
        let wo = WorkOrderCounts {
            open: 12,
            overdue: 3,
        };
        t.draw(|f| draw(f, &sample(), &wo, "console http://127.0.0.1:8080/"))
            .unwrap();
        let text: String = t
            .backend()
            .buffer()
            .content()
            .iter()
            .map(|c| c.symbol())
            .collect();
        assert!(text.contains("outages in progress (30)"));
        assert!(text.contains("Gate 1"));
        assert!(text.contains("98.123%"));
        assert!(text.contains("work orders open 12"), "{text}");
        assert!(text.contains("overdue 3"));
        assert!(text.contains("console http://127.0.0.1:8080/"), "{text}");
    }
}
