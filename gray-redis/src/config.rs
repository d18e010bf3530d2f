//! Settings of a [`crate::RedisSource`].

use std::path::PathBuf;
use std::time::Duration;

/// Where to find the namespace and how to follow it.
///
/// ```
/// use std::time::Duration;
/// use gray_redis::SourceConfig;
///
/// let config = SourceConfig::new("redis://127.0.0.1:6379/0", "prod")
///     .dump("/var/lib/gray/prod.json")
///     .resync_interval(Duration::from_secs(30));
/// assert_eq!(config.namespace, "prod");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceConfig {
    /// Redis URL, `redis://[user:password@]host:port/db` (or `unix:///path.sock`).
    pub url: String,
    /// The namespace (see [`crate::Keys`]).
    pub namespace: String,
    /// The last-known-good dump file; `None` keeps no dump.
    pub dump: Option<PathBuf>,
    /// Connect timeout (default 2 s). Start-up waits at most this long for Redis before it
    /// falls back to the dump.
    pub connect_timeout: Duration,
    /// How long one change-log read waits for news (default 1 s); also bounds how long
    /// stopping the source takes.
    pub block: Duration,
    /// First reconnect delay (default 200 ms); doubles per failure, with jitter.
    pub backoff_initial: Duration,
    /// Longest reconnect delay (default 30 s).
    pub backoff_max: Duration,
    /// How often the whole namespace is re-read even without log entries (default 60 s). This
    /// picks up keys changed behind the change log's back, e.g. by a hand-typed `SADD`.
    pub resync_interval: Duration,
    /// Follow keyspace notifications (default `true`): keys edited behind the change log (a
    /// hand-typed `SADD`) are applied within about a second instead of at the next resync. The
    /// source adds the classes it needs to the server's `notify-keyspace-events` (`K$sg`,
    /// keeping what is set); where `CONFIG` is refused it reports that in
    /// [`crate::SourceStatus::keyspace_unavailable`] and relies on the resync.
    pub keyspace_notifications: bool,
}

impl SourceConfig {
    /// Defaults for `url` and `namespace`.
    pub fn new(url: impl Into<String>, namespace: impl Into<String>) -> SourceConfig {
        SourceConfig {
            url: url.into(),
            namespace: namespace.into(),
            dump: None,
            connect_timeout: Duration::from_secs(2),
            block: Duration::from_secs(1),
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
            resync_interval: Duration::from_secs(60),
            keyspace_notifications: true,
        }
    }

    /// Keeps the last-known-good dump at `path`.
    pub fn dump(mut self, path: impl Into<PathBuf>) -> Self {
        self.dump = Some(path.into());
        self
    }

    /// Sets [`SourceConfig::connect_timeout`].
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Sets [`SourceConfig::block`].
    pub fn block(mut self, d: Duration) -> Self {
        self.block = d;
        self
    }

    /// Sets [`SourceConfig::backoff_initial`] and [`SourceConfig::backoff_max`].
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max;
        self
    }

    /// Sets [`SourceConfig::keyspace_notifications`].
    pub fn keyspace_notifications(mut self, on: bool) -> Self {
        self.keyspace_notifications = on;
        self
    }

    /// Sets [`SourceConfig::resync_interval`].
    pub fn resync_interval(mut self, d: Duration) -> Self {
        self.resync_interval = d;
        self
    }

    /// The URL with any password replaced by `***`, for logs and errors.
    ///
    /// ```
    /// let c = gray_redis::SourceConfig::new("redis://app:s3cret@10.0.0.5:6379/0", "x");
    /// assert_eq!(c.redacted_url(), "redis://***@10.0.0.5:6379/0");
    /// ```
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }
}

/// Replaces the user-info part of a URL by `***`.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s + 3 => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redaction() {
        assert_eq!(super::redact("redis://h:1/0"), "redis://h:1/0");
        assert_eq!(super::redact("rediss://:pw@h:1"), "rediss://***@h:1");
        assert_eq!(super::redact("unix:///tmp/r.sock"), "unix:///tmp/r.sock");
    }
}
