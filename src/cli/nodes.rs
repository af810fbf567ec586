//! `camwatch nodes`: the nodes sharing this database (docs/nodes.md): each one's state, the
//! shards it holds, its last heartbeat and how long ago that was (its lag).

use std::process::ExitCode;

use clap::Args;

use super::context::GlobalArgs;
use camwatch_core::error::Result;
use camwatch_core::nodes::{Liveness, NodeId, NodeSeen, liveness};
use camwatch_store::{NodesView, StopKind};

#[derive(Debug, Args)]
pub struct NodesArgs {
    /// Also list nodes stopped within this many hours.
    #[arg(long, default_value_t = 24)]
    pub stopped_hours: u64,
}

pub async fn run(g: &GlobalArgs, a: &NodesArgs) -> Result<ExitCode> {
    let ctx = g.context().await?;
    let now = jiff::Timestamp::now().as_second();
    let since = now - a.stopped_hours.min(1 << 20) as i64 * 3600;
    let view = ctx.store.nodes_view(since).await?;
    print!(
        "{}",
        render(&view, now, ctx.config.node.lease_ttl_sec as i64)
    );
    Ok(ExitCode::SUCCESS)
}

/// The table, one line per instance; a summary of unheld shards last.
fn render(view: &NodesView, now: i64, ttl_sec: i64) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>6}  {:<16} {:<20} {:>8}  {:<9} {:>6}  {:<20} {:>8}",
        "id", "name", "host", "pid", "state", "shards", "last heartbeat", "lag"
    );
    for n in &view.nodes {
        let i = &n.instance;
        let seen = NodeSeen {
            id: NodeId(i.id.0),
            heartbeat_at: i.heartbeat_at,
            stopped: n.stopped_at.is_some(),
        };
        let state = match (liveness(&seen, now, ttl_sec), n.stop_kind) {
            (Liveness::Live, _) => "running",
            (Liveness::Dead, _) => "silent",
            (Liveness::Stopped, Some(StopKind::Recovered)) => "died",
            (Liveness::Stopped, _) => "stopped",
        };
        let held = view
            .leases
            .iter()
            .filter(|l| l.node.0 == i.id.0 && l.valid_at(now))
            .count();
        let lag = match n.stopped_at {
            Some(_) => "-".to_string(),
            None => format!("{} s", (now - i.heartbeat_at).max(0)),
        };
        let _ = writeln!(
            out,
            "{:>6}  {:<16} {:<20} {:>8}  {:<9} {:>6}  {:<20} {:>8}",
            i.id.0,
            n.name.as_deref().unwrap_or("(single)"),
            i.host,
            i.pid,
            state,
            held,
            camwatch_store::fmt_at(i.heartbeat_at),
            lag
        );
    }
    let held = view.leases.iter().filter(|l| l.valid_at(now)).count();
    let total = usize::from(camwatch_core::nodes::SHARDS);
    let _ = writeln!(out, "shards held: {held} of {total}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use camwatch_core::nodes::{Lease, ShardId};
    use camwatch_store::{InstanceId, MonitorInstance, NodeRecord};

    fn rec(id: i64, name: &str, hb: i64, stopped: Option<(i64, StopKind)>) -> NodeRecord {
        NodeRecord {
            instance: MonitorInstance {
                id: InstanceId(id),
                host: format!("host-{id}"),
                pid: 100 + id as u32,
                started_at: 0,
                heartbeat_at: hb,
            },
            name: Some(name.into()),
            stopped_at: stopped.map(|s| s.0),
            stop_kind: stopped.map(|s| s.1),
        }
    }

    #[test]
    fn states_shards_and_lag() {
        let lease = |s: u16, n: i64, e: i64| Lease {
            shard: ShardId(s),
            node: NodeId(n),
            expires_at: e,
        };
        let view = NodesView {
            nodes: vec![
                rec(1, "a", 995, None),
                rec(2, "b", 960, None),
                rec(3, "c", 900, Some((900, StopKind::Recovered))),
                rec(4, "d", 990, Some((990, StopKind::Graceful))),
            ],
            leases: vec![lease(0, 1, 1020), lease(1, 1, 1020), lease(2, 2, 990)],
        };
        let text = render(&view, 1000, 30);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        let cols = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(
            cols(lines[1]),
            [
                "1",
                "a",
                "host-1",
                "101",
                "running",
                "2",
                "1970-01-01T00:16:35Z",
                "5",
                "s"
            ]
        );
        // Silent for 40 s, its lease expired: holds nothing now.
        assert_eq!(&cols(lines[2])[4..6], ["silent", "0"]);
        assert_eq!(
            &cols(lines[3])[4..],
            ["died", "0", "1970-01-01T00:15:00Z", "-"]
        );
        assert_eq!(cols(lines[4])[4], "stopped");
        assert_eq!(lines[5], "shards held: 2 of 256");
    }
}
