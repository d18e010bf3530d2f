//! [`RedisSource`]: a background thread that keeps an [`Engine`] in step with a Redis namespace.
//!
//! The thread reads the whole namespace once (spec, then every declared IP set with `SSCAN`),
//! then follows the change log with a blocking `XREAD`: a change is applied as soon as it is
//! appended, member-level IP set changes are applied to the in-memory copy without re-reading
//! the set, and each batch of entries becomes one validated [`Engine::reload`]. A state that
//! fails validation is rejected — the engine keeps its current snapshot — and reported through
//! [`RedisSource::status`] and a `tracing` warning. Every accepted state is written to the dump.
//!
//! Requests never wait on Redis: [`Engine::decide`] reads the engine's snapshot, which only
//! this thread replaces. When Redis goes away the engine keeps serving what it has, and the
//! thread reconnects with capped, jittered backoff, then re-reads everything.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gray_core::{Engine, Error, ErrorKind, Result, Spec};
use redis::{Connection, RedisError};

use crate::backoff::Backoff;
use crate::change::Change;
use crate::config::SourceConfig;
use crate::fetch::{self, redis_error, LOG_START};
use crate::keys::Keys;
use crate::notify::{Subscriber, Touched, Watch};
use crate::state::FleetState;
use crate::status::{unix_ms, Origin, SourceStatus};

/// Log entries read per `XREAD`.
const LOG_BATCH: usize = 1000;

/// Keeps an [`Engine`] in step with a Redis namespace; stops (and joins its thread) on drop.
///
/// ```no_run
/// use gray_redis::{RedisSource, SourceConfig};
///
/// let config = SourceConfig::new("redis://127.0.0.1:6379/0", "prod").dump("/var/lib/gray/prod.json");
/// let (engine, source) = RedisSource::start(config)?;
/// // Hand `engine` to the request path; watch `source.status()` / `source.metrics()`.
/// # let _ = engine;
/// # Ok::<(), gray_core::Error>(())
/// ```
pub struct RedisSource {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// The keyspace-notification subscriber, when enabled.
    subscriber: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RedisSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSource")
            .field("namespace", &self.shared.keys.namespace())
            .field("url", &self.shared.config.redacted_url())
            .finish_non_exhaustive()
    }
}

struct Shared {
    engine: Arc<Engine>,
    config: SourceConfig,
    keys: Keys,
    client: redis::Client,
    stop: AtomicBool,
    status: Mutex<SourceStatus>,
    /// Signalled on every status change and on stop.
    changed: Condvar,
    /// Keys the keyspace notifications reported changed.
    watch: Watch,
}

impl RedisSource {
    /// Creates an engine from Redis — or, when Redis cannot be reached within
    /// `connect_timeout` or holds no valid spec, from the dump — and starts following Redis.
    ///
    /// Fails only when neither gives a valid spec; the error names both causes.
    pub fn start(config: SourceConfig) -> Result<(Arc<Engine>, RedisSource)> {
        let keys = Keys::new(&config.namespace)?;
        let client = open(&config)?;
        // A Redis that accepts connections but does not answer must not hold start-up for
        // long either: until the namespace is read, each reply may take `connect_timeout`.
        let from_redis = fetch::connect(&client, config.connect_timeout, config.connect_timeout)
            .map_err(|e| redis_error(&format!("cannot connect to {}", config.redacted_url()), &e))
            .and_then(|mut con| {
                let read = fetch::read_all(&mut con, &keys)
                    .map_err(|e| redis_error("cannot read the namespace", &e))?;
                con.set_read_timeout(Some(read_timeout(&config)))
                    .map_err(|e| redis_error("cannot set the read timeout", &e))?;
                if let Some(p) = read.problem {
                    return Err(p);
                }
                let spec = read
                    .state
                    .build()
                    .ok_or_else(|| fetch::missing_spec(&keys))?;
                let engine = Engine::new(spec).map_err(|e| {
                    crate::located::prefix_path(e, &format!("redis namespace {}", keys.namespace()))
                })?;
                let primed = Primed {
                    con,
                    state: read.state,
                    log_id: read.log_id,
                };
                Ok((engine, primed))
            });
        let (engine, origin, primed, problem) = match from_redis {
            Ok((engine, primed)) => (engine, Origin::Redis, Some(primed), None),
            Err(redis_problem) => {
                let Some(path) = &config.dump else {
                    return Err(start_error(&redis_problem, "no dump is configured"));
                };
                let engine = crate::dump::read(path)
                    .and_then(Engine::new)
                    .map_err(|e| start_error(&redis_problem, &e.to_string()))?;
                tracing::warn!(namespace = %keys.namespace(), dump = %path.display(),
                    error = %redis_problem, "serving the last-known-good dump");
                (engine, Origin::Dump, None, Some(redis_problem))
            }
        };
        let engine = Arc::new(engine);
        let mut status = SourceStatus::new(keys.namespace(), origin);
        if let Some(p) = &primed {
            status.in_sync = true;
            status.full_syncs_total = 1;
            status.log_id = p.log_id.clone();
            status.ip_set_members = p.state.member_count();
            status.last_applied_generation = Some(engine.generation());
            status.last_applied_unix_ms = Some(unix_ms());
        }
        if let Some(p) = problem {
            status.set_error(p);
        }
        let shared = Arc::new(Shared::new(engine.clone(), config, keys, client, status));
        if origin == Origin::Redis {
            shared.write_dump(engine.snapshot().spec());
        }
        Ok((engine, RedisSource::spawn(shared, primed)))
    }

    /// Follows Redis with an engine that already exists (for example one built from a local
    /// file); its rules are replaced by the Redis state once that is read and valid.
    pub fn attach(engine: Arc<Engine>, config: SourceConfig) -> Result<RedisSource> {
        let keys = Keys::new(&config.namespace)?;
        let client = open(&config)?;
        let status = SourceStatus::new(keys.namespace(), Origin::Initial);
        let shared = Arc::new(Shared::new(engine, config, keys, client, status));
        Ok(RedisSource::spawn(shared, None))
    }

    fn spawn(shared: Arc<Shared>, primed: Option<Primed>) -> RedisSource {
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("gray-redis-{}", shared.keys.namespace()))
            .spawn(move || run(&s, primed))
            .ok();
        if thread.is_none() {
            shared.update(|st| {
                st.set_error(Error::at(
                    ErrorKind::Source,
                    "redis",
                    "cannot start the source thread",
                ))
            });
        }
        let subscriber = if shared.config.keyspace_notifications {
            let s = shared.clone();
            std::thread::Builder::new()
                .name(format!("gray-redis-keyspace-{}", shared.keys.namespace()))
                .spawn(move || subscribe(&s))
                .ok()
        } else {
            None
        };
        RedisSource {
            shared,
            thread,
            subscriber,
        }
    }

    /// The engine this source updates.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.shared.engine
    }

    /// A copy of the current status.
    pub fn status(&self) -> SourceStatus {
        self.shared.lock().clone()
    }

    /// The status as Prometheus text.
    pub fn metrics(&self) -> String {
        self.status().metrics()
    }

    /// Waits until `pred` holds for the status or `timeout` passes; returns whether it held.
    /// The status changes after every connection change, applied or rejected state.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&SourceStatus) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        loop {
            if pred(&st) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Stops following Redis and waits for the thread to end (at most about `block` or
    /// `connect_timeout`). The engine keeps its current snapshot.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        for t in [self.thread.take(), self.subscriber.take()]
            .into_iter()
            .flatten()
        {
            let _ = t.join();
        }
    }
}

impl Drop for RedisSource {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn open(config: &SourceConfig) -> Result<redis::Client> {
    redis::Client::open(config.url.as_str()).map_err(|e| {
        Error::at(
            ErrorKind::InvalidValue,
            "redis",
            format!("bad Redis URL {}: {e}", config.redacted_url()),
        )
    })
}

fn read_timeout(config: &SourceConfig) -> Duration {
    config.block + Duration::from_secs(10)
}

fn start_error(redis_problem: &Error, dump_problem: &str) -> Error {
    Error::at(
        ErrorKind::Source,
        "redis",
        format!(
            "no rules to start with: {redis_problem}; and the dump is unusable: {dump_problem}"
        ),
    )
}

/// What start-up already read, handed to the thread so that it is not read twice.
struct Primed {
    con: Connection,
    state: FleetState,
    log_id: String,
}

impl Shared {
    fn new(
        engine: Arc<Engine>,
        config: SourceConfig,
        keys: Keys,
        client: redis::Client,
        status: SourceStatus,
    ) -> Shared {
        Shared {
            engine,
            config,
            keys,
            client,
            stop: AtomicBool::new(false),
            status: Mutex::new(status),
            changed: Condvar::new(),
            watch: Watch::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SourceStatus> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut SourceStatus)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Sleeps for `d` unless stopped first.
    fn sleep(&self, d: Duration) {
        let deadline = Instant::now() + d;
        let mut st = self.lock();
        while !self.stopped() {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            st = self
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn write_dump(&self, spec: &Spec) {
        let Some(path) = &self.config.dump else {
            return;
        };
        match crate::dump::write(path, spec) {
            Ok(()) => self.update(|st| st.dumps_total += 1),
            Err(e) => {
                tracing::warn!(namespace = %self.keys.namespace(), error = %e, "cannot write the dump");
                self.update(|st| st.set_error(e));
            }
        }
    }

    /// Installs the state when it differs from what the engine serves.
    fn apply(&self, state: &FleetState, problem: Option<Error>) {
        let members = state.member_count();
        if let Some(p) = problem {
            tracing::warn!(namespace = %self.keys.namespace(), error = %p,
                "Redis holds no usable spec; keeping the current rules");
            self.update(|st| {
                st.in_sync = false;
                st.rejected_total += 1;
                st.set_error(p);
            });
            return;
        }
        let Some(spec) = state.build() else {
            return;
        };
        if self.engine.snapshot().spec() == &spec {
            self.update(|st| {
                st.in_sync = true;
                st.origin = Origin::Redis;
                st.last_error = None;
                st.ip_set_members = members;
            });
            return;
        }
        let started = Instant::now();
        match self.engine.reload(spec) {
            Ok(generation) => {
                tracing::info!(namespace = %self.keys.namespace(), generation, members,
                    elapsed_ms = started.elapsed().as_millis() as u64, "applied rules from Redis");
                self.update(|st| {
                    st.in_sync = true;
                    st.origin = Origin::Redis;
                    st.last_applied_generation = Some(generation);
                    st.last_applied_unix_ms = Some(unix_ms());
                    st.last_error = None;
                    st.applied_total += 1;
                    st.ip_set_members = members;
                });
                self.write_dump(self.engine.snapshot().spec());
            }
            Err(e) => {
                let e = crate::located::prefix_path(
                    e,
                    &format!("redis namespace {}", self.keys.namespace()),
                );
                tracing::warn!(namespace = %self.keys.namespace(), error = %e,
                    "rejected rules from Redis; keeping the current rules");
                self.update(|st| {
                    st.in_sync = false;
                    st.rejected_total += 1;
                    st.set_error(e);
                });
            }
        }
    }
}

fn run(shared: &Shared, mut primed: Option<Primed>) {
    let mut backoff = Backoff::new(shared.config.backoff_initial, shared.config.backoff_max);
    let mut was_connected = true;
    while !shared.stopped() {
        let connected = match primed.take() {
            Some(p) => Ok((p.con, Some((p.state, p.log_id)))),
            None => fetch::connect(
                &shared.client,
                shared.config.connect_timeout,
                read_timeout(&shared.config),
            )
            .map(|con| (con, None)),
        };
        let result = connected.and_then(|(mut con, initial)| {
            shared.update(|st| {
                st.connected = true;
                st.connects_total += 1;
            });
            was_connected = true;
            follow(shared, &mut con, initial, &mut backoff)
        });
        if let Err(e) = result {
            if shared.stopped() {
                break;
            }
            let err = redis_error(
                &format!("lost Redis at {}", shared.config.redacted_url()),
                &e,
            );
            if was_connected {
                tracing::warn!(namespace = %shared.keys.namespace(), error = %err,
                    "Redis unreachable; serving rules from memory and retrying");
            } else {
                tracing::debug!(namespace = %shared.keys.namespace(), error = %err, "retrying Redis");
            }
            was_connected = false;
            shared.update(|st| {
                st.connected = false;
                st.in_sync = false;
                st.set_error(err);
            });
            shared.sleep(backoff.next_delay());
        }
    }
    shared.update(|st| st.connected = false);
}

/// Reads everything, then follows the log until Redis fails or the source stops.
fn follow(
    shared: &Shared,
    con: &mut Connection,
    initial: Option<(FleetState, String)>,
    backoff: &mut Backoff,
) -> std::result::Result<(), RedisError> {
    let keys = &shared.keys;
    let (mut state, mut log_id) = match initial {
        Some(read) => read,
        None => full_sync(shared, con)?,
    };
    backoff.reset();
    let mut next_resync = Instant::now() + shared.config.resync_interval;
    while !shared.stopped() {
        if Instant::now() >= next_resync || shared.watch.resync.load(Ordering::Acquire) {
            (state, log_id) = full_sync(shared, con)?;
            next_resync = Instant::now() + shared.config.resync_interval;
        }
        let entries = fetch::read_log(con, keys, &log_id, shared.config.block, LOG_BATCH)?;
        let behind_log = shared.watch.take_due();
        if entries.is_empty() && behind_log.is_empty() {
            continue;
        }
        if !entries.is_empty() && log_id != LOG_START && !fetch::log_has(con, keys, &log_id)? {
            tracing::info!(namespace = %keys.namespace(), after = %log_id,
                "change log was trimmed past this engine's position; re-reading everything");
            (state, log_id) = full_sync(shared, con)?;
            continue;
        }
        let count = entries.len() as u64;
        let mut rules_changed = false;
        let mut reload_sets = BTreeSet::new();
        for (id, change) in entries {
            if let Ok(c) = &change {
                shared.watch.logged(match c {
                    Change::Spec | Change::Nepxion => Touched::Rules,
                    Change::Add { set, .. } | Change::Remove { set, .. } | Change::Load { set } => {
                        Touched::IpSet(set.clone())
                    }
                });
            }
            match change {
                Ok(Change::Spec | Change::Nepxion) => rules_changed = true,
                Ok(Change::Add { set, members }) => state.add(&set, members),
                Ok(Change::Remove { set, members }) => state.remove(&set, &members),
                Ok(Change::Load { set }) => {
                    reload_sets.insert(set);
                }
                Err(msg) => {
                    tracing::warn!(namespace = %keys.namespace(), entry = %id, "skipping log entry: {msg}");
                }
            }
            log_id = id;
        }
        let rereads = behind_log.len() as u64;
        for t in behind_log {
            match t {
                Touched::Rules => rules_changed = true,
                Touched::IpSet(set) => {
                    reload_sets.insert(set);
                }
            }
        }
        let mut problem = None;
        if rules_changed {
            match fetch::read_rules(con, keys, &mut state)? {
                Ok(sets) => reload_sets.extend(sets),
                Err(e) => problem = Some(e),
            }
        }
        for name in reload_sets {
            if state.declares(&name) {
                let read = fetch::read_set(con, &keys.ip_set(&name))?;
                state.replace_set(&name, read.members);
                problem = problem.or(read.problem);
            }
        }
        let id = log_id.clone();
        shared.update(|st| {
            st.log_entries_total += count;
            st.keyspace_rereads_total += rereads;
            st.log_id = id;
        });
        shared.apply(&state, problem);
    }
    Ok(())
}

fn full_sync(
    shared: &Shared,
    con: &mut Connection,
) -> std::result::Result<(FleetState, String), RedisError> {
    // Pending notifications are covered by this read (taken before it, so that an edit made
    // during the read is still re-read afterwards).
    shared.watch.clear();
    let read = fetch::read_all(con, &shared.keys)?;
    let id = read.log_id.clone();
    shared.update(|st| {
        st.full_syncs_total += 1;
        st.log_id = id;
    });
    shared.apply(&read.state, read.problem);
    Ok((read.state, read.log_id))
}

/// The keyspace-notification thread: feeds [`Shared::watch`] until the source stops.
fn subscribe(shared: &Shared) {
    let mut backoff = Backoff::new(shared.config.backoff_initial, shared.config.backoff_max);
    Subscriber {
        client: &shared.client,
        keys: &shared.keys,
        watch: &shared.watch,
        connect_timeout: shared.config.connect_timeout,
        poll: shared.config.block,
        stopped: &|| shared.stopped(),
        sleep: &|d| shared.sleep(d),
        report: &|on, why| {
            shared.update(|st| {
                st.keyspace_notifications = on;
                if why.is_some() {
                    st.keyspace_unavailable = why;
                }
            })
        },
    }
    .run(&mut backoff);
}
