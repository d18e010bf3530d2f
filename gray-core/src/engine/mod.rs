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

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::ArcSwap;

use crate::compile::registry::StateRegistry;
use crate::compile::{compile, CompileInput, Source};
use crate::decision::Decision;
use crate::error::{Error, Result};
use crate::eval::route::route;
use crate::eval::sources::{RandomFn, Sources, UnixTimeFn};
use crate::health::Clock;
use crate::request::RequestView;
use crate::sample::Sampler;
use crate::snapshot::Snapshot;
use crate::spec::{Format, Spec};

mod admin;
mod instance;
mod mirror;
mod nepxion;
mod record;
mod rollout;
mod sample;
mod traffic;
mod what_if;

/// The routing engine. Cheap to share: wrap it in an `Arc` and call it from any thread.
pub struct Engine {
    current: ArcSwap<Snapshot>,
    registry: StateRegistry,
    writer: Mutex<()>,
    sources: Sources,
    sampler: Sampler,
    /// Per rule id: the count last seen and when it last grew (see [`Engine::rules`]).
    rule_hits: Mutex<std::collections::HashMap<String, (u64, Option<u64>)>>,
    /// Rollouts are judged by a fleet, not by [`Engine::tick`] (see `set_fleet_judged`).
    fleet_judged: std::sync::atomic::AtomicBool,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
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
        let source = Source {
            text,
            format,
            file: None,
        };
        Engine::builder()
            .build_from(Spec::from_str(text, format)?, Some(source))
            .map_err(|e| e.located_in(text, format))
    }

    /// Reads, parses and compiles a spec file (format from the extension). Every error names
    /// the file, and the line and column of the field it names when that field is in the text.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Engine> {
        let path = path.as_ref();
        let (spec, text, format) = Spec::read_file(path)?;
        let file = path.display().to_string();
        let source = Source {
            text: &text,
            format,
            file: Some(&file),
        };
        Engine::builder()
            .build_from(spec, Some(source))
            .map_err(|e| in_text(e, &text, format, path))
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
        self.install(spec, None)
    }

    /// The warnings about the spec being served (see [`crate::lint`]): with file, line and
    /// column when it was loaded from text by [`Engine::from_str`], [`Engine::from_file`],
    /// [`Engine::reload_str`] or [`Engine::reload_file`].
    pub fn lints(&self) -> Vec<crate::lint::Lint> {
        self.current.load().lints().to_vec()
    }

    /// Parses and applies a spec from text; errors are located as in [`Engine::from_str`].
    pub fn reload_str(&self, text: &str, format: Format) -> Result<u64> {
        let spec = Spec::from_str(text, format)?;
        let source = Source {
            text,
            format,
            file: None,
        };
        let _w = self.write_lock();
        self.install(spec, Some(source))
            .map_err(|e| e.located_in(text, format))
    }

    /// Reads and applies a spec file; errors are located as in [`Engine::from_file`].
    pub fn reload_file(&self, path: impl AsRef<Path>) -> Result<u64> {
        let path = path.as_ref();
        let (spec, text, format) = Spec::read_file(path)?;
        let file = path.display().to_string();
        let source = Source {
            text: &text,
            format,
            file: Some(&file),
        };
        let _w = self.write_lock();
        self.install(spec, Some(source))
            .map_err(|e| in_text(e, &text, format, path))
    }

    /// Applies a change to a copy of the current spec, compiles and swaps it in, all while
    /// holding the writer lock (read-copy-update). If `change` or compilation fails nothing
    /// changes.
    pub fn update<T>(&self, change: impl FnOnce(&mut Spec) -> Result<T>) -> Result<(T, u64)> {
        let _w = self.write_lock();
        let mut spec = (*self.current.load().spec).clone();
        let out = change(&mut spec)?;
        let generation = self.install(spec, None)?;
        Ok((out, generation))
    }

    fn write_lock(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Compiles and swaps; caller holds the writer lock.
    fn install(&self, spec: Spec, source: Option<Source<'_>>) -> Result<u64> {
        let prev = self.current.load_full();
        let snap = compile(
            spec,
            CompileInput {
                generation: prev.generation + 1,
                previous: Some(&prev),
                source,
            },
            &self.registry,
        )?;
        let generation = snap.generation;
        self.current.store(Arc::new(snap));
        drop(prev);
        self.registry.prune();
        Ok(generation)
    }

    /// Routes one request. Infallible; allocation-free on the common path.
    pub fn decide<R: RequestView + ?Sized>(&self, req: &R) -> Decision {
        let snap = self.current.load_full();
        let routed = route(&snap, &self.sources, req);
        self.sampler.offer(&snap, req);
        Decision::new(snap, routed)
    }

    /// Explains how a request is routed. Counts nothing (no request or health bookkeeping);
    /// may allocate. With round-robin selection the node shown is the next in rotation, and
    /// explaining advances the rotation like a real request would.
    pub fn explain<R: RequestView + ?Sized>(&self, req: &R) -> crate::Explanation {
        crate::explain::explain(self.snapshot(), &self.sources, req)
    }
}

/// A compile error of the spec read from file `path` as `text`: located in the text, and in
/// the file (unless it names its own, an IP list file).
fn in_text(e: Error, text: &str, format: Format, path: &Path) -> Error {
    e.located_in(text, format)
        .in_file(path.display().to_string())
}

/// Builds an [`Engine`] with injected time and randomness (for tests and simulations).
pub struct EngineBuilder {
    clock: Option<Arc<dyn Clock>>,
    unix_ms: Option<UnixTimeFn>,
    random: Option<RandomFn>,
}

impl EngineBuilder {
    /// The monotonic clock used by passive health (default: [`crate::health::SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The Unix-time source used by staged rollouts (default: the system time).
    pub fn unix_time(mut self, f: UnixTimeFn) -> Self {
        self.unix_ms = Some(f);
        self
    }

    /// The random source (default: [`crate::thread_random`]).
    pub fn random(mut self, f: RandomFn) -> Self {
        self.random = Some(f);
        self
    }

    /// Compiles `spec` into generation 1.
    pub fn build(self, spec: Spec) -> Result<Engine> {
        self.build_from(spec, None)
    }

    fn build_from(self, spec: Spec, source: Option<Source<'_>>) -> Result<Engine> {
        let registry = StateRegistry::default();
        let snap = compile(
            spec,
            CompileInput {
                generation: 1,
                previous: None,
                source,
            },
            &registry,
        )?;
        Ok(Engine {
            current: ArcSwap::from_pointee(snap),
            registry,
            writer: Mutex::new(()),
            sources: Sources::new(self.clock, self.unix_ms, self.random),
            sampler: Sampler::default(),
            rule_hits: Mutex::default(),
            fleet_judged: Default::default(),
        })
    }
}
