//! [`Registration`]: how a service announces itself — a key under a lease, kept alive by a
//! background thread, revoked on drop. If the process dies the keep-alives stop and etcd
//! deletes the key when the lease's TTL runs out; every engine watching drops the node.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use gray_core::{Error, ErrorKind, Result};

use crate::client::Client;
use crate::http::Outcome;
use crate::instance::{Instance, Layout};
use crate::wait;

/// A registered instance; keeps its lease alive until dropped (which revokes it).
///
/// ```no_run
/// use std::time::Duration;
/// use gray_etcd::{Instance, Registration};
///
/// let reg = Registration::start("http://127.0.0.1:2379", "/gray/shop", "canary",
///     Instance::new("10.0.2.10:8080").version("1.1"), Duration::from_secs(10))?;
/// // ... serve; dropping `reg` deregisters at once.
/// # Ok::<(), gray_core::Error>(())
/// ```
pub struct Registration {
    shared: Arc<RegShared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("key", &self.shared.key)
            .field("lease", &self.lease())
            .finish_non_exhaustive()
    }
}

struct RegShared {
    client: Client,
    key: String,
    ttl: i64,
    /// The instance and the lease its key is attached to.
    current: Mutex<(Instance, i64)>,
    stop: AtomicBool,
    revoke: AtomicBool,
    wake: Condvar,
}

fn reg_error(msg: impl std::fmt::Display) -> Error {
    Error::at(ErrorKind::Source, "etcd", msg.to_string())
}

impl Registration {
    /// Grants a lease of `ttl` (whole seconds, at least 1), writes the instance at
    /// `<prefix>/instances/<group>/<address>` under it, and keeps it alive (every third of the
    /// TTL). A lease lost while etcd was away is granted again and the key rewritten.
    pub fn start(
        endpoint: &str,
        prefix: &str,
        group: &str,
        instance: Instance,
        ttl: Duration,
    ) -> Result<Registration> {
        instance.to_node().map_err(reg_error)?;
        if group.is_empty() || group.contains('/') {
            return Err(reg_error(format!("bad group name {group:?}")));
        }
        let layout = Layout::new(prefix).map_err(reg_error)?;
        let client = Client::new(endpoint, Duration::from_secs(2)).map_err(reg_error)?;
        let ttl = i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX);
        let key = layout.instance(group, &instance.address);
        let lease = client.grant(ttl).map_err(reg_error)?;
        client
            .put(&key, &instance.to_json(), lease)
            .map_err(reg_error)?;
        let shared = Arc::new(RegShared {
            client,
            key,
            ttl,
            current: Mutex::new((instance, lease)),
            stop: AtomicBool::new(false),
            revoke: AtomicBool::new(true),
            wake: Condvar::new(),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("gray-etcd-lease".to_string())
            .spawn(move || keep_alive(&s))
            .map_err(|e| reg_error(format!("cannot start the keep-alive thread: {e}")))?;
        Ok(Registration {
            shared,
            thread: Some(thread),
        })
    }

    /// The key written.
    pub fn key(&self) -> &str {
        &self.shared.key
    }

    /// The lease the key is attached to now.
    pub fn lease(&self) -> i64 {
        self.shared.lock().1
    }

    /// Rewrites the instance's metadata (same key, same lease; the address must not change).
    pub fn update(&self, instance: Instance) -> Result<()> {
        instance.to_node().map_err(reg_error)?;
        let mut cur = self.shared.lock();
        if instance.address != cur.0.address {
            return Err(reg_error("a registration's address cannot change"));
        }
        self.shared
            .client
            .put(&self.shared.key, &instance.to_json(), cur.1)
            .map_err(reg_error)?;
        cur.0 = instance;
        Ok(())
    }

    /// Stops the keep-alives without revoking, as a crashed process would: the key disappears
    /// when the lease expires.
    pub fn abandon(mut self) {
        self.shared.revoke.store(false, Ordering::SeqCst);
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // Set under the lock, so that a thread between its check and its wait still wakes.
        {
            let _g = self.shared.lock();
            self.shared.stop.store(true, Ordering::SeqCst);
        }
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if self.shared.revoke.load(Ordering::SeqCst) {
            let lease = self.lease();
            if let Err(e) = self.shared.client.revoke(lease) {
                tracing::debug!(key = %self.shared.key, error = %e, "cannot revoke the lease");
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shutdown();
        }
    }
}

impl RegShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, (Instance, i64)> {
        wait::lock(&self.current)
    }

    fn sleep(&self, d: Duration) {
        wait::sleep(&self.current, &self.wake, &self.stop, d);
    }

    /// One refresh: keep-alive, or a new lease and the key rewritten when the lease is gone.
    fn refresh(&self) -> Outcome<()> {
        let lease = self.lock().1;
        if self.client.keepalive(lease)? > 0 {
            return Ok(());
        }
        tracing::info!(key = %self.key, "lease expired; registering again");
        let lease = self.client.grant(self.ttl)?;
        let mut cur = self.lock();
        self.client.put(&self.key, &cur.0.to_json(), lease)?;
        cur.1 = lease;
        Ok(())
    }
}

fn keep_alive(shared: &RegShared) {
    let period = Duration::from_millis(u64::try_from(shared.ttl).unwrap_or(1) * 1000 / 3);
    let retry = period.min(Duration::from_millis(500));
    while !shared.stop.load(Ordering::SeqCst) {
        match shared.refresh() {
            Ok(()) => shared.sleep(period),
            Err(e) => {
                tracing::debug!(key = %shared.key, error = %e, "keep-alive failed; retrying");
                shared.sleep(retry);
            }
        }
    }
}
