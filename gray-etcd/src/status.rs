//! What an [`crate::EtcdSource`] has done, as a struct and as Prometheus text.

use std::fmt::Write as _;

use gray_core::Error;

/// A point-in-time copy of a source's state.
#[derive(Debug, Clone)]
pub struct EtcdStatus {
    /// The prefix followed.
    pub prefix: String,
    /// Whether the watch is connected now.
    pub connected: bool,
    /// Whether the engine serves the current etcd state (false while disconnected or while a
    /// rejected spec is pending).
    pub in_sync: bool,
    /// The etcd revision the engine's state reflects.
    pub revision: i64,
    /// The engine generation the source last installed.
    pub last_applied_generation: Option<u64>,
    /// Unix milliseconds of that install.
    pub last_applied_unix_ms: Option<u64>,
    /// The last problem (a rejected spec, a lost connection); cleared by a clean apply.
    pub last_error: Option<Error>,
    /// Unix milliseconds of `last_error`.
    pub last_error_unix_ms: Option<u64>,
    /// Instances applied to groups.
    pub instances: usize,
    /// Instances of groups the rules do not declare (ignored).
    pub undeclared_instances: usize,
    /// Values under `instances/` that are not valid instances (ignored), as `key: why`.
    pub bad_instances: Vec<String>,
    /// Whether the spec in etcd is rejected (the previous rules serve, with current nodes).
    pub spec_rejected: bool,
    /// Snapshots installed.
    pub applied_total: u64,
    /// States rejected by validation.
    pub rejected_total: u64,
    /// Successful (re)connections.
    pub connects_total: u64,
    /// Complete reads of the prefix (start, reconnect, compaction).
    pub full_syncs_total: u64,
    /// Watch events processed.
    pub events_total: u64,
    /// Watches restarted because their revision was compacted.
    pub compactions_total: u64,
}

impl EtcdStatus {
    pub(crate) fn new(prefix: &str) -> EtcdStatus {
        EtcdStatus {
            prefix: prefix.to_string(),
            connected: false,
            in_sync: false,
            revision: 0,
            last_applied_generation: None,
            last_applied_unix_ms: None,
            last_error: None,
            last_error_unix_ms: None,
            instances: 0,
            undeclared_instances: 0,
            bad_instances: Vec::new(),
            spec_rejected: false,
            applied_total: 0,
            rejected_total: 0,
            connects_total: 0,
            full_syncs_total: 0,
            events_total: 0,
            compactions_total: 0,
        }
    }

    pub(crate) fn set_error(&mut self, e: Error) {
        self.last_error = Some(e);
        self.last_error_unix_ms = Some(unix_ms());
    }

    /// Prometheus text exposition (`gray_etcd_*`, labelled with the prefix).
    pub fn metrics(&self) -> String {
        let p = &self.prefix;
        let mut out = String::new();
        let mut metric = |name: &str, help: &str, kind: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name}{{prefix=\"{p}\"}} {v}");
        };
        let rows: [(&str, &str, &str, u64); 14] = [
            (
                "gray_etcd_connected",
                "1 when the etcd watch is connected.",
                "gauge",
                u64::from(self.connected),
            ),
            (
                "gray_etcd_in_sync",
                "1 when the engine serves the current etcd state.",
                "gauge",
                u64::from(self.in_sync),
            ),
            (
                "gray_etcd_revision",
                "etcd revision the served state reflects.",
                "gauge",
                u64::try_from(self.revision).unwrap_or(0),
            ),
            (
                "gray_etcd_last_applied_generation",
                "Engine generation last installed from etcd.",
                "gauge",
                self.last_applied_generation.unwrap_or(0),
            ),
            (
                "gray_etcd_instances",
                "Registered instances applied to groups.",
                "gauge",
                self.instances as u64,
            ),
            (
                "gray_etcd_undeclared_instances",
                "Registered instances of groups the rules do not declare.",
                "gauge",
                self.undeclared_instances as u64,
            ),
            (
                "gray_etcd_bad_instances",
                "Values under instances/ that are not valid instances.",
                "gauge",
                self.bad_instances.len() as u64,
            ),
            (
                "gray_etcd_spec_rejected",
                "1 while the spec in etcd is rejected (previous rules serve).",
                "gauge",
                u64::from(self.spec_rejected),
            ),
            (
                "gray_etcd_applied_total",
                "Snapshots installed from etcd.",
                "counter",
                self.applied_total,
            ),
            (
                "gray_etcd_rejected_total",
                "etcd states rejected by validation.",
                "counter",
                self.rejected_total,
            ),
            (
                "gray_etcd_connects_total",
                "Successful connections to etcd.",
                "counter",
                self.connects_total,
            ),
            (
                "gray_etcd_full_syncs_total",
                "Complete reads of the prefix.",
                "counter",
                self.full_syncs_total,
            ),
            (
                "gray_etcd_events_total",
                "Watch events processed.",
                "counter",
                self.events_total,
            ),
            (
                "gray_etcd_compactions_total",
                "Watches restarted after a compaction.",
                "counter",
                self.compactions_total,
            ),
        ];
        for (name, help, kind, v) in rows {
            metric(name, help, kind, v);
        }
        out
    }
}

pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_show_state() {
        let mut s = EtcdStatus::new("/gray/shop");
        s.connected = true;
        s.revision = 42;
        s.rejected_total = 2;
        let m = s.metrics();
        assert!(
            m.contains("gray_etcd_connected{prefix=\"/gray/shop\"} 1\n"),
            "{m}"
        );
        assert!(m.contains("gray_etcd_revision{prefix=\"/gray/shop\"} 42\n"));
        assert!(m.contains("gray_etcd_rejected_total{prefix=\"/gray/shop\"} 2\n"));
        assert!(m.contains("# TYPE gray_etcd_events_total counter\n"));
    }
}
