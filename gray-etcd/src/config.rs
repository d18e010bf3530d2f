//! [`EtcdConfig`]: where an [`crate::EtcdSource`] reads and how it retries.

use std::time::Duration;

use gray_core::Spec;

/// Settings of an [`crate::EtcdSource`].
///
/// ```
/// use std::time::Duration;
/// use gray_etcd::EtcdConfig;
///
/// let c = EtcdConfig::new("http://127.0.0.1:2379", "/gray/shop")
///     .probe_interval(Duration::from_secs(2));
/// assert_eq!(c.prefix, "/gray/shop");
/// ```
#[derive(Debug, Clone)]
pub struct EtcdConfig {
    /// `http://host:port` of an etcd member (its v3 JSON gateway, served on the client port).
    pub endpoint: String,
    /// The key prefix, e.g. `/gray/shop` (see [`crate::Layout`]).
    pub prefix: String,
    /// The rules used while etcd holds none at `<prefix>/spec` (for [`crate::EtcdSource::start`];
    /// [`crate::EtcdSource::attach`] uses the engine's spec).
    pub rules: Option<Spec>,
    /// Connect and request timeout. Default 2 s.
    pub timeout: Duration,
    /// After this long without a watch message, etcd is probed; a failed probe counts as a
    /// lost connection (a partition that sends no reset). Default 5 s.
    pub probe_interval: Duration,
    /// First reconnect delay. Default 200 ms.
    pub backoff_initial: Duration,
    /// Largest reconnect delay. Default 30 s.
    pub backoff_max: Duration,
}

impl EtcdConfig {
    /// Defaults for `endpoint` and `prefix`.
    pub fn new(endpoint: &str, prefix: &str) -> EtcdConfig {
        EtcdConfig {
            endpoint: endpoint.to_string(),
            prefix: prefix.to_string(),
            rules: None,
            timeout: Duration::from_secs(2),
            probe_interval: Duration::from_secs(5),
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
        }
    }

    /// Rules to use while etcd has none.
    pub fn rules(mut self, spec: Spec) -> EtcdConfig {
        self.rules = Some(spec);
        self
    }

    /// Connect and request timeout.
    pub fn timeout(mut self, d: Duration) -> EtcdConfig {
        self.timeout = d;
        self
    }

    /// Silence after which etcd is probed.
    pub fn probe_interval(mut self, d: Duration) -> EtcdConfig {
        self.probe_interval = d;
        self
    }

    /// Reconnect delays (first, largest).
    pub fn backoff(mut self, initial: Duration, max: Duration) -> EtcdConfig {
        self.backoff_initial = initial;
        self.backoff_max = max;
        self
    }
}
