//! [`EtcdSource`]: a background thread that keeps an [`Engine`] in step with an etcd prefix.
//!
//! The thread reads the whole prefix at one revision (`/v3/kv/range`), then watches it from the
//! next revision (`/v3/watch`). Every watch message — all the events etcd sends together, for
//! example every key of one transaction — is applied to the in-memory copy and becomes one
//! validated [`Engine::reload`] of the rules with every group's registered nodes: a change is
//! applied whole or not at all, and requests never wait on etcd.
//!
//! When the watch breaks (etcd stopped, connection reset) or a probe after
//! [`EtcdConfig::probe_interval`] of silence fails, the engine keeps serving what it has; the
//! thread retries with capped, jittered backoff, re-reads the prefix at a new revision and
//! watches from there, so changes made meanwhile — instances whose lease expired included —
//! are applied as one update. A watch whose revision was compacted away does the same.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gray_core::{Engine, Error, ErrorKind, Result, Spec};
use gray_redis::Backoff;

use crate::client::{watch_message, Client, WatchMessage};
use crate::config::EtcdConfig;
use crate::http::{Failure, Outcome};
use crate::instance::Layout;
use crate::state::Discovery;
use crate::status::{unix_ms, EtcdStatus};
use crate::wait;

/// How long one read of the watch stream waits before the thread looks at its stop flag.
const POLL: Duration = Duration::from_millis(200);

/// Keeps an [`Engine`] in step with an etcd prefix; stops (and joins its thread) on drop.
///
/// ```no_run
/// use gray_etcd::{EtcdConfig, EtcdSource};
///
/// let (engine, source) = EtcdSource::start(EtcdConfig::new("http://127.0.0.1:2379", "/gray/shop"))?;
/// // Hand `engine` to the request path; watch `source.status()` / `source.metrics()`.
/// # let _ = engine;
/// # Ok::<(), gray_core::Error>(())
/// ```
pub struct EtcdSource {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EtcdSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdSource")
            .field("endpoint", &self.shared.config.endpoint)
            .field("prefix", &self.shared.layout.prefix())
            .finish_non_exhaustive()
    }
}

struct Shared {
    engine: Arc<Engine>,
    config: EtcdConfig,
    layout: Layout,
    client: Client,
    /// Rules used while etcd holds no spec (`None`: the last good rules).
    base: Option<Spec>,
    stop: AtomicBool,
    status: Mutex<EtcdStatus>,
    changed: Condvar,
}

/// The thread's copy of etcd and the rules last accepted.
struct Follow {
    state: Discovery,
    good_rules: Spec,
}

fn source_error(msg: impl std::fmt::Display) -> Error {
    Error::at(ErrorKind::Source, "etcd", msg.to_string())
}

fn setup(config: &EtcdConfig) -> Result<(Layout, Client)> {
    let layout =
        Layout::new(&config.prefix).map_err(|e| Error::at(ErrorKind::InvalidValue, "etcd", e))?;
    let client = Client::new(&config.endpoint, config.timeout)
        .map_err(|e| Error::at(ErrorKind::InvalidValue, "etcd", e.message))?;
    Ok((layout, client))
}

impl EtcdSource {
    /// Reads the prefix and creates an engine from its rules (or [`EtcdConfig::rules`] when
    /// etcd holds none) and registered instances, then follows etcd.
    ///
    /// When etcd cannot be reached, the engine starts from [`EtcdConfig::rules`] alone (no
    /// instances yet) and the thread keeps trying; without those rules, start fails.
    pub fn start(config: EtcdConfig) -> Result<(Arc<Engine>, EtcdSource)> {
        let (layout, client) = setup(&config)?;
        let mut status = EtcdStatus::new(layout.prefix());
        let (engine, follow, revision) = match client.range_prefix(&layout.root()) {
            Ok((revision, kvs)) => {
                let state = Discovery::from_kvs(&layout, kvs);
                let rules = match (state.rules(), &config.rules) {
                    (Some(Ok(spec)), _) => spec,
                    (Some(Err(e)), Some(fallback)) => {
                        status.spec_rejected = true;
                        status.set_error(spec_error(&layout, e));
                        fallback.clone()
                    }
                    (Some(Err(e)), None) => return Err(spec_error(&layout, e)),
                    (None, Some(fallback)) => fallback.clone(),
                    (None, None) => {
                        return Err(source_error(format!(
                            "no rules: etcd has no {} and no fallback rules are configured",
                            layout.spec()
                        )))
                    }
                };
                let built = state.build(&rules);
                let engine = Engine::new(built.spec).map_err(|e| {
                    gray_redis::prefix_path(e, &format!("etcd {}", layout.prefix()))
                })?;
                status.in_sync = !status.spec_rejected;
                status.revision = revision;
                status.full_syncs_total = 1;
                status.instances = built.instances;
                status.undeclared_instances = built.undeclared;
                status.bad_instances = state.bad_instances();
                status.last_applied_generation = Some(engine.generation());
                status.last_applied_unix_ms = Some(unix_ms());
                let follow = Follow {
                    state,
                    good_rules: rules,
                };
                (engine, follow, Some(revision))
            }
            Err(e) => {
                let Some(rules) = config.rules.clone() else {
                    return Err(source_error(format!(
                        "cannot read etcd and no fallback rules are configured: {e}"
                    )));
                };
                tracing::warn!(prefix = %layout.prefix(), error = %e,
                    "etcd unreachable at start; serving the configured rules");
                status.set_error(source_error(&e));
                let engine = Engine::new(rules.clone())?;
                let follow = Follow {
                    state: Discovery::default(),
                    good_rules: rules,
                };
                (engine, follow, None)
            }
        };
        let base = config.rules.clone();
        let shared = Shared::new(Arc::new(engine), config, layout, client, base, status);
        let engine = shared.engine.clone();
        Ok((engine, EtcdSource::spawn(shared, follow, revision)))
    }

    /// Follows etcd with an engine that already exists (built from a local file, say): its
    /// current spec is the rules while etcd holds none, and registered instances join its groups.
    pub fn attach(engine: Arc<Engine>, config: EtcdConfig) -> Result<EtcdSource> {
        let (layout, client) = setup(&config)?;
        let rules = engine.snapshot().spec().clone();
        let status = EtcdStatus::new(layout.prefix());
        let follow = Follow {
            state: Discovery::default(),
            good_rules: rules.clone(),
        };
        let shared = Shared::new(engine, config, layout, client, Some(rules), status);
        Ok(EtcdSource::spawn(shared, follow, None))
    }

    fn spawn(shared: Arc<Shared>, follow: Follow, revision: Option<i64>) -> EtcdSource {
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("gray-etcd".to_string())
            .spawn(move || run(&s, follow, revision))
            .ok();
        if thread.is_none() {
            shared.update(|st| st.set_error(source_error("cannot start the source thread")));
        }
        EtcdSource { shared, thread }
    }

    /// The engine this source updates.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.shared.engine
    }

    /// A copy of the current status.
    pub fn status(&self) -> EtcdStatus {
        self.shared.lock().clone()
    }

    /// The status as Prometheus text.
    pub fn metrics(&self) -> String {
        self.status().metrics()
    }

    /// Waits until `pred` holds for the status or `timeout` passes; returns whether it held.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&EtcdStatus) -> bool) -> bool {
        let sh = &self.shared;
        wait::wait_until(&sh.status, &sh.changed, None, timeout, pred)
    }

    /// Stops following etcd (within about 200 ms, or a request timeout). The engine keeps its
    /// current snapshot.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // Set under the lock, so that a thread between its check and its wait still wakes.
        {
            let _g = self.shared.lock();
            self.shared.stop.store(true, Ordering::SeqCst);
        }
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for EtcdSource {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn spec_error(layout: &Layout, e: Error) -> Error {
    gray_redis::prefix_path(e, &format!("etcd {}", layout.spec()))
}

impl Shared {
    fn new(
        engine: Arc<Engine>,
        config: EtcdConfig,
        layout: Layout,
        client: Client,
        base: Option<Spec>,
        status: EtcdStatus,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            engine,
            config,
            layout,
            client,
            base,
            stop: AtomicBool::new(false),
            status: Mutex::new(status),
            changed: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, EtcdStatus> {
        wait::lock(&self.status)
    }

    fn update(&self, f: impl FnOnce(&mut EtcdStatus)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn sleep(&self, d: Duration) {
        wait::sleep(&self.status, &self.changed, &self.stop, d);
    }

    /// Installs the rules with the current instances, as one reload. A spec in etcd that does
    /// not parse or compile is rejected: the last good rules serve, with the current nodes.
    fn apply(&self, f: &mut Follow) {
        let (rules, mut spec_problem) = match f.state.rules() {
            Some(Ok(spec)) => (spec, None),
            Some(Err(e)) => (f.good_rules.clone(), Some(spec_error(&self.layout, e))),
            None => (
                self.base.clone().unwrap_or_else(|| f.good_rules.clone()),
                None,
            ),
        };
        let mut outcome = self.install(&f.state, &rules);
        let mut accepted = rules;
        if let Err(e) = &outcome {
            if accepted != f.good_rules {
                // The new rules do not compile: keep the previous ones, apply the nodes.
                spec_problem = Some(spec_error(&self.layout, e.clone()));
                accepted = f.good_rules.clone();
                outcome = self.install(&f.state, &accepted);
            }
        }
        let bad = f.state.bad_instances();
        match outcome {
            Ok((generation, built)) => {
                f.good_rules = accepted;
                if let Some(g) = generation {
                    tracing::info!(prefix = %self.layout.prefix(), generation = g,
                        instances = built.instances, "applied nodes and rules from etcd");
                }
                if let Some(p) = &spec_problem {
                    tracing::warn!(prefix = %self.layout.prefix(), error = %p,
                        "rejected the spec in etcd; keeping the previous rules");
                }
                self.update(|st| {
                    if let Some(g) = generation {
                        st.applied_total += 1;
                        st.last_applied_generation = Some(g);
                        st.last_applied_unix_ms = Some(unix_ms());
                    }
                    st.instances = built.instances;
                    st.undeclared_instances = built.undeclared;
                    st.bad_instances = bad;
                    st.spec_rejected = spec_problem.is_some();
                    st.in_sync = spec_problem.is_none();
                    match spec_problem {
                        Some(p) => {
                            st.rejected_total += 1;
                            st.set_error(p);
                        }
                        None => st.last_error = None,
                    }
                });
            }
            Err(e) => {
                let e = gray_redis::prefix_path(e, &format!("etcd {}", self.layout.prefix()));
                tracing::warn!(prefix = %self.layout.prefix(), error = %e,
                    "rejected the etcd state; keeping the current snapshot");
                self.update(|st| {
                    st.in_sync = false;
                    st.rejected_total += 1;
                    st.bad_instances = bad;
                    st.set_error(e);
                });
            }
        }
    }

    /// Reloads when the combined spec differs from the served one; the new generation, if any.
    fn install(
        &self,
        state: &Discovery,
        rules: &Spec,
    ) -> Result<(Option<u64>, crate::state::Built)> {
        let built = state.build(rules);
        if self.engine.snapshot().spec() == &built.spec {
            return Ok((None, built));
        }
        let generation = self.engine.reload(built.spec.clone())?;
        Ok((Some(generation), built))
    }

    /// Reads the whole prefix and applies it; returns its revision.
    fn full_sync(&self, f: &mut Follow) -> Outcome<i64> {
        let (revision, kvs) = self.client.range_prefix(&self.layout.root())?;
        f.state = Discovery::from_kvs(&self.layout, kvs);
        self.update(|st| {
            st.full_syncs_total += 1;
            st.revision = revision;
        });
        self.apply(f);
        Ok(revision)
    }
}

fn run(shared: &Shared, mut follow: Follow, mut primed: Option<i64>) {
    let mut backoff = Backoff::new(shared.config.backoff_initial, shared.config.backoff_max);
    let mut was_connected = true;
    while !shared.stopped() {
        let result = session(
            shared,
            &mut follow,
            primed.take(),
            &mut backoff,
            &mut was_connected,
        );
        if let Err(e) = result {
            if shared.stopped() {
                break;
            }
            if was_connected {
                tracing::warn!(prefix = %shared.layout.prefix(), error = %e,
                    "etcd unreachable; serving the last known nodes and retrying");
            }
            was_connected = false;
            shared.update(|st| {
                st.connected = false;
                st.in_sync = false;
                st.set_error(source_error(format!("lost etcd: {e}")));
            });
            shared.sleep(backoff.next_delay());
        }
    }
    shared.update(|st| st.connected = false);
}

/// Reads (unless primed), then watches until etcd fails or the source stops.
fn session(
    shared: &Shared,
    follow: &mut Follow,
    primed: Option<i64>,
    backoff: &mut Backoff,
    was_connected: &mut bool,
) -> Outcome<()> {
    let mut revision = match primed {
        Some(r) => r,
        None => shared.full_sync(follow)?,
    };
    let mut stream = shared
        .client
        .watch(&shared.layout.root(), revision + 1, POLL)?;
    backoff.reset();
    *was_connected = true;
    shared.update(|st| {
        st.connected = true;
        st.connects_total += 1;
    });
    let mut heard = Instant::now();
    while !shared.stopped() {
        let messages = stream.poll()?;
        if messages.is_empty() {
            if heard.elapsed() >= shared.config.probe_interval {
                shared.client.probe()?;
                heard = Instant::now();
            }
            continue;
        }
        heard = Instant::now();
        let (mut touched, mut count, mut restart) = (false, 0u64, false);
        for m in &messages {
            match watch_message(m) {
                WatchMessage::Created => {}
                WatchMessage::Events {
                    revision: r,
                    events,
                } => {
                    count += events.len() as u64;
                    for e in events {
                        touched |= follow.state.apply(&shared.layout, e);
                    }
                    revision = revision.max(r);
                }
                WatchMessage::Compacted(at) => {
                    tracing::info!(prefix = %shared.layout.prefix(), after = revision, compacted = at,
                        "watch revision compacted; re-reading the prefix");
                    shared.update(|st| st.compactions_total += 1);
                    restart = true;
                    break;
                }
                WatchMessage::Canceled(why) => return Err(Failure::new(why)),
            }
        }
        if touched {
            shared.apply(follow);
        }
        shared.update(|st| {
            st.events_total += count;
            st.revision = st.revision.max(revision);
        });
        if restart {
            revision = shared.full_sync(follow)?;
            stream = shared
                .client
                .watch(&shared.layout.root(), revision + 1, POLL)?;
        }
    }
    Ok(())
}
