//! How long a connection may take and how many may be open (nginx's `client_header_timeout`,
//! `keepalive_timeout`, `worker_connections`).

use std::time::Duration;

/// Connection limits and timeouts of a listener; see the [server docs](super).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Time a new connection has to send its first request head.
    pub header_timeout: Duration,
    /// Time an idle connection (no request in flight, no bytes moving) is kept open.
    pub keepalive_timeout: Duration,
    /// Open client connections at most; at the cap the listener stops accepting.
    pub max_connections: usize,
    /// How long [`super::ServerHandle::stop`] lets open connections finish before it cuts them.
    pub shutdown_timeout: Duration,
}

impl Default for ServerLimits {
    /// 30 s header timeout, 75 s keep-alive timeout, [`default_max_connections`], 30 s
    /// shutdown timeout.
    fn default() -> Self {
        ServerLimits {
            header_timeout: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(75),
            max_connections: default_max_connections(),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

impl ServerLimits {
    /// Limits for the admin listener: the proxy's timeouts, at most 64 connections (an
    /// operator's browser and scripts, never the traffic).
    pub fn admin(proxy: &ServerLimits) -> ServerLimits {
        ServerLimits {
            max_connections: 64,
            ..*proxy
        }
    }
}

/// The open-file limit of this process (soft), read from `/proc/self/limits`; 1024 where that
/// cannot be read.
pub fn open_file_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|soft| match soft {
                    "unlimited" => Some(u64::MAX),
                    n => n.parse().ok(),
                })
        })
        .unwrap_or(1024)
}

/// The default connection cap: half of what the open-file limit leaves after 128 descriptors
/// kept for the admin listener, upstream pools and files (each proxied client connection may
/// hold one upstream connection), between 16 and 65 536.
pub fn default_max_connections() -> usize {
    let spare = open_file_limit().saturating_sub(128) / 2;
    usize::try_from(spare.clamp(16, 65_536)).unwrap_or(65_536)
}
