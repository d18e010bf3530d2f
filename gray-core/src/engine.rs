//! The [`Engine`]: a lock-free current snapshot, validated reloads, decisions.
//!
//! Readers call [`Engine::decide`]: one atomic load of the current [`Snapshot`] (`arc-swap`),
//! evaluation, no locks, no allocation. Writers ([`Engine::reload`], the admin calls in
//! [`crate::admin`]) compile a complete new snapshot off the request path and swap it in
//! atomically; a failing compile returns the error and the previous snapshot keeps serving.
//! Writers are serialised among themselves, so concurrent changes never lose an update.
//!
//! ```
//! use gray_core::{Engine, Format, SimpleRequest};
//!
//! let engine = Engine::from_str(r#"
//! version: 1
//! ip_sets: { testers: { entries: ["192.168.2.20", "10.8.0.0/16"] } }
//! groups:
//!   prod: { nodes: [{ address: "127.0.0.1:8080" }] }
//!   gray: { nodes: [{ address: "127.0.0.1:8090" }] }
//! rules: [{ id: testers, when: { ip: [testers] }, route: gray }]
//! default: prod
//! "#, Format::Yaml)?;
//! let d = engine.decide(&SimpleRequest::new("10.8.1.1".parse()?));
//! assert_eq!(d.group(), "gray");
//! assert_eq!(engine.decide(&SimpleRequest::new("10.9.1.1".parse()?)).group(), "prod");
//!
//! // A bad reload is rejected and the old rules keep serving.
//! let err = engine.reload_str("version: 1\ndefault: missing\n", Format::Yaml).unwrap_err();
//! assert!(err.to_string().contains("missing"));
//! assert_eq!(engine.decide(&SimpleRequest::new("10.8.1.1".parse()?)).group(), "gray");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cell::Cell;
use std::fmt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::ArcSwap;

use crate::decision::Decision;
use crate::error::{Error, ErrorKind, Result};
use crate::health::{Clock, SystemClock};
use crate::outcome::Outcome;
use crate::release::Choice;
use crate::request::RequestView;
use crate::rules::{eval, Ctx, NoTrace, Tracer};
use crate::service::{Caller, Pick, Routing, SelectStep};
use crate::snapshot::{compile, CompileInput, Snapshot, StateRegistry};
use crate::spec::{Format, Spec};

/// A source of uniformly random `u64`s (weighted random selection, Nepxion gray picks).
pub type RandomFn = Arc<dyn Fn() -> u64 + Send + Sync>;
/// A source of the current Unix time in milliseconds (staged rollouts).
pub type UnixTimeFn = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The routing engine. Cheap to share: wrap it in an `Arc` and call it from any thread.
pub struct Engine {
    current: ArcSwap<Snapshot>,
    registry: StateRegistry,
    writer: Mutex<()>,
    clock: Arc<dyn Clock>,
    unix_ms: UnixTimeFn,
    random: RandomFn,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// The default random source: a per-thread xorshift64* generator seeded from the OS-seeded
/// `RandomState`. Not cryptographic; it only spreads load.
pub fn thread_random() -> u64 {
    RNG.with(|c| {
        let mut x = c.get();
        if x == 0 {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(&c as *const _ as usize);
            x = h.finish() | 1;
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        c.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

fn system_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Engine {
    /// Compiles `spec` and returns an engine serving it (generation 1).
    pub fn new(spec: Spec) -> Result<Engine> {
        Engine::builder().build(spec)
    }

    /// An [`EngineBuilder`] to inject a clock, a Unix-time source or a random source.
    pub fn builder() -> EngineBuilder {
        EngineBuilder {
            clock: None,
            unix_ms: None,
            random: None,
        }
    }

    /// Parses and compiles a spec from text. Every error has the line and column of the field
    /// it names, when that field is in the text (see [`Error::located_in`]).
    pub fn from_str(text: &str, format: Format) -> Result<Engine> {
        Engine::new(Spec::from_str(text, format)?).map_err(|e| e.located_in(text, format))
    }

    /// Reads, parses and compiles a spec file (format from the extension). Every error names
    /// the file, and the line and column of the field it names when that field is in the text.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Engine> {
        let path = path.as_ref();
        let (spec, text, format) = Spec::read_file(path)?;
        Engine::new(spec).map_err(|e| in_text(e, &text, format, path))
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The current generation.
    pub fn generation(&self) -> u64 {
        self.current.load().generation
    }

    /// Replaces the spec. On error nothing changes and the error names the field.
    /// Returns the new generation.
    pub fn reload(&self, spec: Spec) -> Result<u64> {
        let _w = self.write_lock();
        self.install(spec)
    }

    /// Parses and applies a spec from text; errors are located as in [`Engine::from_str`].
    pub fn reload_str(&self, text: &str, format: Format) -> Result<u64> {
        self.reload(Spec::from_str(text, format)?)
            .map_err(|e| e.located_in(text, format))
    }

    /// Reads and applies a spec file; errors are located as in [`Engine::from_file`].
    pub fn reload_file(&self, path: impl AsRef<Path>) -> Result<u64> {
        let path = path.as_ref();
        let (spec, text, format) = Spec::read_file(path)?;
        self.reload(spec)
            .map_err(|e| in_text(e, &text, format, path))
    }

    /// Applies a change to a copy of the current spec, compiles and swaps it in, all while
    /// holding the writer lock (read-copy-update). If `change` or compilation fails nothing
    /// changes.
    pub fn update<T>(&self, change: impl FnOnce(&mut Spec) -> Result<T>) -> Result<(T, u64)> {
        let _w = self.write_lock();
        let mut spec = (*self.current.load().spec).clone();
        let out = change(&mut spec)?;
        let generation = self.install(spec)?;
        Ok((out, generation))
    }

    fn write_lock(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Compiles and swaps; caller holds the writer lock.
    fn install(&self, spec: Spec) -> Result<u64> {
        let prev = self.current.load_full();
        let snap = compile(
            spec,
            CompileInput {
                generation: prev.generation + 1,
                previous: Some(&prev),
            },
            &self.registry,
        )?;
        let generation = snap.generation;
        self.current.store(Arc::new(snap));
        drop(prev);
        self.registry.prune();
        Ok(generation)
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    pub(crate) fn random(&self) -> u64 {
        (self.random)()
    }

    pub(crate) fn unix_ms(&self) -> u64 {
        (self.unix_ms)()
    }

    /// Routes one request. Infallible; allocation-free on the common path.
    pub fn decide<R: RequestView + ?Sized>(&self, req: &R) -> Decision {
        let snap = self.current.load_full();
        let (rule, requested, served, node, choice, trusted) = {
            let mut ctx = Ctx::new(req, &snap);
            let rule = match_rule(&snap, &mut ctx, &mut NoTrace, &mut |_, _| {});
            let requested = rule
                .and_then(|r| snap.rules[r as usize].group)
                .unwrap_or(snap.default_group);
            let choice = match &snap.release {
                Some(rel) => rel.resolve(&mut ctx, &mut || (self.random)(), None),
                None => Choice::EMPTY,
            };
            let trusted = snap.trusts_inbound(req.peer_ip());
            let route = RouteInput {
                choice: &choice,
                trusted,
                count: true,
            };
            let (served, node) = self.pick(&snap, &mut ctx, requested, &route, &mut |_| {}, None);
            (rule, requested, served, node, choice, trusted)
        };
        if let Some(r) = rule {
            snap.rules[r as usize]
                .counter
                .requests
                .fetch_add(1, Ordering::Relaxed);
        }
        if let Some(g) = served {
            snap.groups[g as usize]
                .counter
                .requests
                .fetch_add(1, Ordering::Relaxed);
        }
        Decision {
            snapshot: snap,
            rule,
            requested,
            served,
            node,
            release: choice,
            inbound_trusted: trusted,
        }
    }

    /// Picks a node from `requested`, following fallbacks. `visit` sees each group tried and
    /// whether it had a node (for explanations); `steps` receives release filter steps.
    pub(crate) fn pick<R: RequestView + ?Sized>(
        &self,
        snap: &Snapshot,
        ctx: &mut Ctx<'_, R>,
        requested: u32,
        route: &RouteInput<'_>,
        visit: &mut dyn FnMut(PickStep),
        mut steps: Option<&mut Vec<SelectStep>>,
    ) -> (Option<u32>, Option<u32>) {
        let mut g = Some(requested);
        let mut hops = 0;
        while let Some(gi) = g {
            let group = &snap.groups[gi as usize];
            let now = group.now_ms(|| self.now_ms());
            let unix = group.unix_ms(|| self.unix_ms());
            let (picked, key_missing) = match self.release_pick(
                snap,
                ctx.req,
                group,
                route,
                now,
                unix,
                steps.as_deref_mut(),
            ) {
                Some(p) => (p, false),
                None => {
                    let key = group
                        .hash_key
                        .as_ref()
                        .and_then(|k| k.hash(ctx, group.hash_salt));
                    let random = group.random(|| (self.random)());
                    let picked = group.pick(key, random, now, unix, route.count);
                    (picked, group.hash_key.is_some() && key.is_none())
                }
            };
            visit(PickStep {
                group: gi,
                node: picked.map(|i| i as u32),
                key_missing,
            });
            if let Some(i) = picked {
                return (Some(gi), Some(i as u32));
            }
            hops += 1;
            if hops > snap.groups.len() {
                break;
            }
            g = group.fallback;
        }
        (None, None)
    }

    /// A release-aware pick from one group, or `None` when nothing constrains the group (the
    /// group's own selector then decides).
    #[allow(clippy::too_many_arguments)]
    fn release_pick<R: RequestView + ?Sized>(
        &self,
        snap: &Snapshot,
        req: &R,
        group: &crate::upstream::Group,
        route: &RouteInput<'_>,
        now_ms: u64,
        unix_ms: u64,
        steps: Option<&mut Vec<SelectStep>>,
    ) -> Option<Option<usize>> {
        if snap.release.is_none() && !route.trusted {
            return None;
        }
        let release = snap.release.as_ref();
        let routing = Routing::build(
            release,
            route.choice,
            req,
            route.trusted,
            snap.inbound,
            &group.name,
        );
        let pick = Pick {
            group,
            routing: &routing,
            release,
            caller: Caller::local(release),
            random: (self.random)(),
            now_ms,
            unix_ms,
            count: route.count,
        };
        if !pick.constrained() {
            return None;
        }
        Some(pick.run(steps))
    }

    /// Records what happened to the request a decision routed (passive health and counters),
    /// classified by the *served* group's `fail_on` (see [`Outcome`] and
    /// [`crate::spec::GroupSpec::fail_on`]): an outcome the list names is a failure, anything
    /// else a success. By default (`fail_on: [error, timeout]`) connect errors, resets and
    /// timeouts are failures and every HTTP status is a success, as in nginx.
    ///
    /// A failure may eject the node (`max_fails` within `fail_timeout`), except that the last
    /// available node of a group without a fallback is never ejected; see
    /// [`report`](Self::report). Does nothing for a decision without a node.
    pub fn record(&self, decision: &Decision, outcome: Outcome) {
        let Some(g) = decision.served else { return };
        let ok = !decision.snapshot.groups[g as usize]
            .fail_on
            .is_failure(outcome);
        self.report(decision, ok);
    }

    /// [`record`](Self::record) for a node named by group and address in the current
    /// snapshot, classified by that group's `fail_on`. Errors: `UnknownGroup` (path `group`),
    /// `UnknownNode` (path `address`).
    pub fn record_node(&self, group: &str, address: &str, outcome: Outcome) -> Result<()> {
        let snap = self.current.load();
        let (g, i) = node_index(&snap, group, address)?;
        let g = &snap.groups[g as usize];
        let ok = !g.fail_on.is_failure(outcome);
        g.report(i, ok, self.now_ms(), g.unix_ms(|| self.unix_ms()));
        Ok(())
    }

    /// Records the outcome of the request a decision routed (passive health and counters),
    /// classified by the caller: `ok = false` is a failure whatever the group's `fail_on`
    /// says, `ok = true` a success. [`record`](Self::record) lets the group's `fail_on`
    /// decide instead; prefer it unless you classify outcomes yourself.
    ///
    /// A failure is counted for the group, the node and the matched rule, and may eject the
    /// node after `max_fails` failures within `fail_timeout`. **The last available node of a
    /// group without a `fallback` is never ejected** (nginx never marks a lone server
    /// unavailable): when no *other* node of the group is available (weight > 0 at the
    /// current rollout step, not draining, not ejected), the failure is counted but does not
    /// enter the node's failure window. With a fallback the node is ejected as usual and the
    /// decisions move to the fallback. The check is not atomic with the report: two nodes
    /// failing at the same instant may both be ejected.
    pub fn report(&self, decision: &Decision, ok: bool) {
        let (Some(g), Some(n)) = (decision.served, decision.node) else {
            return;
        };
        let group = &decision.snapshot.groups[g as usize];
        group.report(
            n as usize,
            ok,
            self.now_ms(),
            group.unix_ms(|| self.unix_ms()),
        );
        if !ok {
            if let Some(r) = decision.rule {
                decision.snapshot.rules[r as usize]
                    .counter
                    .failures
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// [`report`](Self::report) for a node named by group and address in the current
    /// snapshot (the caller classifies; see [`record_node`](Self::record_node)). Errors:
    /// `UnknownGroup` (path `group`), `UnknownNode` (path `address`).
    pub fn report_node(&self, group: &str, address: &str, ok: bool) -> Result<()> {
        let snap = self.current.load();
        let (g, i) = node_index(&snap, group, address)?;
        let g = &snap.groups[g as usize];
        g.report(i, ok, self.now_ms(), g.unix_ms(|| self.unix_ms()));
        Ok(())
    }
}

/// The index of `group`, or an `UnknownGroup` error at path `group`.
pub(crate) fn group_index(snap: &Snapshot, group: &str) -> Result<u32> {
    snap.group_by_name(group).ok_or_else(|| {
        Error::at(
            ErrorKind::UnknownGroup,
            "group",
            format!("no group named {group:?}"),
        )
    })
}

/// The group index and node index of `address` in `group`.
fn node_index(snap: &Snapshot, group: &str, address: &str) -> Result<(u32, usize)> {
    let gi = group_index(snap, group)?;
    let i = snap.groups[gi as usize]
        .nodes
        .iter()
        .position(|n| &*n.address == address)
        .ok_or_else(|| {
            Error::at(
                ErrorKind::UnknownNode,
                "address",
                format!("group {group:?} has no node {address:?}"),
            )
        })?;
    Ok((gi, i))
}

/// A compile error of the spec read from file `path` as `text`: located in the text, and in
/// the file (unless it names its own, an IP list file).
fn in_text(e: Error, text: &str, format: Format, path: &Path) -> Error {
    e.located_in(text, format)
        .in_file(path.display().to_string())
}

/// The release inputs of a pick.
pub(crate) struct RouteInput<'a> {
    pub(crate) choice: &'a Choice,
    pub(crate) trusted: bool,
    /// Count the pick (requests, half-open trials); false for explanations.
    pub(crate) count: bool,
}

/// One group tried while picking a node.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PickStep {
    pub(crate) group: u32,
    pub(crate) node: Option<u32>,
    pub(crate) key_missing: bool,
}

/// Finds the first matching rule. `on_rule(index, matched)` is called after each rule.
pub(crate) fn match_rule<R: RequestView + ?Sized, T: Tracer>(
    snap: &Snapshot,
    ctx: &mut Ctx<'_, R>,
    t: &mut T,
    on_rule: &mut dyn FnMut(usize, bool),
) -> Option<u32> {
    for (i, r) in snap.rules.iter().enumerate() {
        let hit = match &r.cond {
            Some(c) => eval(c, ctx, t),
            None => true,
        };
        if T::ON {
            on_rule(i, hit);
        }
        if hit {
            return Some(i as u32);
        }
    }
    None
}

/// Builds an [`Engine`] with injected time and randomness (for tests and simulations).
pub struct EngineBuilder {
    clock: Option<Arc<dyn Clock>>,
    unix_ms: Option<UnixTimeFn>,
    random: Option<RandomFn>,
}

impl EngineBuilder {
    /// The monotonic clock used by passive health (default: [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The Unix-time source used by staged rollouts (default: the system time).
    pub fn unix_time(mut self, f: UnixTimeFn) -> Self {
        self.unix_ms = Some(f);
        self
    }

    /// The random source (default: [`thread_random`]).
    pub fn random(mut self, f: RandomFn) -> Self {
        self.random = Some(f);
        self
    }

    /// Compiles `spec` into generation 1.
    pub fn build(self, spec: Spec) -> Result<Engine> {
        let registry = StateRegistry::default();
        let snap = compile(
            spec,
            CompileInput {
                generation: 1,
                previous: None,
            },
            &registry,
        )?;
        Ok(Engine {
            current: ArcSwap::from_pointee(snap),
            registry,
            writer: Mutex::new(()),
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            unix_ms: self.unix_ms.unwrap_or_else(|| Arc::new(system_unix_ms)),
            random: self.random.unwrap_or_else(|| Arc::new(thread_random)),
        })
    }
}
