//! What a [`crate::RedisSource`] has done: connection state, the last applied generation, the
//! last rejected change, counters; as a struct and as Prometheus text.

use std::fmt::Write as _;

use gray_core::Error;

/// Where the rules an engine serves came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Read from Redis.
    Redis,
    /// Read from the last-known-good dump (Redis was unreachable or had no usable spec).
    Dump,
    /// The spec the engine was created with (no Redis state applied yet).
    Initial,
}

impl Origin {
    /// `redis`, `dump` or `initial`.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Redis => "redis",
            Origin::Dump => "dump",
            Origin::Initial => "initial",
        }
    }
}

/// A point-in-time copy of a source's state.
#[derive(Debug, Clone)]
pub struct SourceStatus {
    /// The namespace followed.
    pub namespace: String,
    /// Whether the source is connected to Redis now.
    pub connected: bool,
    /// Whether the engine serves the current Redis state (connected, and the last change
    /// applied; false while a rejected change is pending).
    pub in_sync: bool,
    /// Where the rules being served came from.
    pub origin: Origin,
    /// The engine generation the source last installed.
    pub last_applied_generation: Option<u64>,
    /// Unix milliseconds of that install.
    pub last_applied_unix_ms: Option<u64>,
    /// The last problem: a rejected spec, an unreachable Redis, a dump that could not be
    /// written. Cleared when a change from Redis is applied.
    pub last_error: Option<Error>,
    /// Unix milliseconds of `last_error`.
    pub last_error_unix_ms: Option<u64>,
    /// The last change-log entry applied.
    pub log_id: String,
    /// Snapshots installed from Redis.
    pub applied_total: u64,
    /// Redis states rejected by validation.
    pub rejected_total: u64,
    /// Successful (re)connections.
    pub connects_total: u64,
    /// Complete reads of the namespace (start, reconnect, log gap, periodic resync).
    pub full_syncs_total: u64,
    /// Change-log entries processed.
    pub log_entries_total: u64,
    /// Dumps written.
    pub dumps_total: u64,
    /// IP set members held in memory.
    pub ip_set_members: usize,
    /// Whether keyspace notifications reach the source now, so that keys edited behind the
    /// change log are applied within a second (see [`crate::SourceConfig::keyspace_notifications`]).
    pub keyspace_notifications: bool,
    /// Why the server does not send them, when it refused (`CONFIG` disabled or denied).
    pub keyspace_unavailable: Option<String>,
    /// Keys re-read because a keyspace notification reported an edit behind the change log.
    pub keyspace_rereads_total: u64,
}

impl SourceStatus {
    pub(crate) fn new(namespace: &str, origin: Origin) -> SourceStatus {
        SourceStatus {
            namespace: namespace.to_string(),
            connected: false,
            in_sync: false,
            origin,
            last_applied_generation: None,
            last_applied_unix_ms: None,
            last_error: None,
            last_error_unix_ms: None,
            log_id: crate::fetch::LOG_START.to_string(),
            applied_total: 0,
            rejected_total: 0,
            connects_total: 0,
            full_syncs_total: 0,
            log_entries_total: 0,
            dumps_total: 0,
            ip_set_members: 0,
            keyspace_notifications: false,
            keyspace_unavailable: None,
            keyspace_rereads_total: 0,
        }
    }

    pub(crate) fn set_error(&mut self, e: Error) {
        self.last_error = Some(e);
        self.last_error_unix_ms = Some(unix_ms());
    }

    /// Prometheus text exposition (`gray_redis_*` metrics, labelled with the namespace).
    ///
    /// ```
    /// # use gray_redis::{Origin, SourceStatus};
    /// # fn show(status: &SourceStatus) {
    /// print!("{}", status.metrics());
    /// # }
    /// ```
    pub fn metrics(&self) -> String {
        let ns = &self.namespace;
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, kind: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name}{{namespace=\"{ns}\"}} {v}");
        };
        gauge(
            "gray_redis_connected",
            "1 when connected to Redis.",
            "gauge",
            u64::from(self.connected),
        );
        gauge(
            "gray_redis_in_sync",
            "1 when the engine serves the current Redis state.",
            "gauge",
            u64::from(self.in_sync),
        );
        gauge(
            "gray_redis_last_applied_generation",
            "Engine generation last installed from Redis.",
            "gauge",
            self.last_applied_generation.unwrap_or(0),
        );
        gauge(
            "gray_redis_applied_total",
            "Snapshots installed from Redis.",
            "counter",
            self.applied_total,
        );
        gauge(
            "gray_redis_rejected_total",
            "Redis states rejected by validation.",
            "counter",
            self.rejected_total,
        );
        gauge(
            "gray_redis_connects_total",
            "Successful connections to Redis.",
            "counter",
            self.connects_total,
        );
        gauge(
            "gray_redis_full_syncs_total",
            "Complete reads of the namespace.",
            "counter",
            self.full_syncs_total,
        );
        gauge(
            "gray_redis_log_entries_total",
            "Change-log entries processed.",
            "counter",
            self.log_entries_total,
        );
        gauge(
            "gray_redis_keyspace_notifications",
            "1 when keyspace notifications reach the source (edits behind the change log apply at once).",
            "gauge",
            u64::from(self.keyspace_notifications),
        );
        gauge(
            "gray_redis_keyspace_rereads_total",
            "Keys re-read after a keyspace notification of an edit behind the change log.",
            "counter",
            self.keyspace_rereads_total,
        );
        gauge(
            "gray_redis_ip_set_members",
            "IP set members held in memory.",
            "gauge",
            self.ip_set_members as u64,
        );
        let _ = writeln!(
            out,
            "# HELP gray_redis_origin Where the served rules came from.\n# TYPE gray_redis_origin gauge"
        );
        for o in [Origin::Redis, Origin::Dump, Origin::Initial] {
            let _ = writeln!(
                out,
                "gray_redis_origin{{namespace=\"{ns}\",origin=\"{}\"}} {}",
                o.as_str(),
                u64::from(self.origin == o)
            );
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
        let mut s = SourceStatus::new("prod", Origin::Dump);
        s.connected = true;
        s.rejected_total = 2;
        s.last_applied_generation = Some(7);
        let m = s.metrics();
        assert!(m.contains("gray_redis_connected{namespace=\"prod\"} 1\n"));
        assert!(m.contains("gray_redis_rejected_total{namespace=\"prod\"} 2\n"));
        assert!(m.contains("gray_redis_last_applied_generation{namespace=\"prod\"} 7\n"));
        assert!(m.contains("gray_redis_origin{namespace=\"prod\",origin=\"dump\"} 1\n"));
        assert!(m.contains("gray_redis_origin{namespace=\"prod\",origin=\"redis\"} 0\n"));
        assert!(m.contains("# TYPE gray_redis_applied_total counter\n"));
    }
}
