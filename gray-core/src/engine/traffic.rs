//! The engine's live windows (see [`crate::traffic`]).

use super::Engine;
use crate::traffic::{
    GroupTraffic, NodeTraffic, RuleTraffic, TrafficReport, TrafficStats, WindowCounts, SLOTS,
    SLOT_MS,
};

impl Engine {
    /// The live windows of every group (the sum of its nodes), node and rule: requests, errors
    /// and latency quantiles over the last two minutes of recorded requests (in 10-second
    /// slots), from [`record`](Self::record) and [`record_timed`](Self::record_timed).
    pub fn traffic(&self) -> TrafficReport {
        let snap = self.snapshot();
        let now = self.sources.now_ms();
        let groups = snap
            .groups
            .iter()
            .map(|g| {
                let mut total = WindowCounts::default();
                let nodes = g
                    .nodes
                    .iter()
                    .map(|n| {
                        let mut c = WindowCounts::default();
                        n.traffic.window_into(now, 0, u64::MAX, &mut c);
                        total.merge(&c);
                        NodeTraffic {
                            address: n.address.to_string(),
                            window: TrafficStats::from(&c),
                        }
                    })
                    .collect();
                GroupTraffic {
                    group: g.name.to_string(),
                    window: TrafficStats::from(&total),
                    nodes,
                }
            })
            .collect();
        let rules = snap
            .rules
            .iter()
            .map(|r| {
                let mut c = WindowCounts::default();
                r.traffic.window_into(now, 0, u64::MAX, &mut c);
                RuleTraffic {
                    rule: r.id.to_string(),
                    window: TrafficStats::from(&c),
                }
            })
            .collect();
        TrafficReport {
            window_seconds: SLOTS as u64 * SLOT_MS / 1000,
            groups,
            rules,
        }
    }
}
