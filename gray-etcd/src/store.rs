//! [`Store`]: writes to a prefix — the rules, validated before they are written, and raw keys
//! for tools and tests.

use std::time::Duration;

use gray_core::{Engine, Error, ErrorKind, Result};

use crate::client::Client;
use crate::instance::Layout;

/// Writes to an etcd prefix.
///
/// ```no_run
/// use gray_etcd::Store;
///
/// let store = Store::connect("http://127.0.0.1:2379", "/gray/shop")?;
/// store.publish_spec("version: 1\ngroups: { stable: {}, canary: {} }\ndefault: stable\n")?;
/// # Ok::<(), gray_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    layout: Layout,
}

fn store_error(msg: impl std::fmt::Display) -> Error {
    Error::at(ErrorKind::Source, "etcd", msg.to_string())
}

impl Store {
    /// A store for `prefix` at `endpoint` (`http://host:port`). Does not connect yet.
    pub fn connect(endpoint: &str, prefix: &str) -> Result<Store> {
        Ok(Store {
            client: Client::new(endpoint, Duration::from_secs(5)).map_err(store_error)?,
            layout: Layout::new(prefix).map_err(store_error)?,
        })
    }

    /// The key layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Validates the rules (YAML or JSON) exactly as every engine will — parsed like the Redis
    /// source's spec and compiled — and writes them to `<prefix>/spec`. Returns the revision.
    pub fn publish_spec(&self, text: &str) -> Result<i64> {
        let spec = gray_redis::parse_spec_text(text)?;
        Engine::new(spec)?;
        self.put(&self.layout.spec(), text)
    }

    /// Writes any key, unchecked. Returns the revision.
    pub fn put(&self, key: &str, value: &str) -> Result<i64> {
        self.client.put(key, value, 0).map_err(store_error)
    }

    /// Writes several keys in one transaction: engines see them in one watch message and
    /// apply them as one update. Returns the revision.
    pub fn put_all(&self, pairs: &[(&str, &str)]) -> Result<i64> {
        self.client.put_all(pairs).map_err(store_error)
    }

    /// Deletes a key. Returns the revision.
    pub fn delete(&self, key: &str) -> Result<i64> {
        self.client.delete(key).map_err(store_error)
    }
}
