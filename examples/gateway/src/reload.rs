//! Where the config comes from and how it is reloaded: the embedded default, or a file that is
//! watched (read every poll interval and compared by content hash — modification times are too
//! coarse to see two quick edits of equal length) and re-read on SIGHUP. A file that fails
//! to parse or compile is rejected and logged with its error; the running config keeps serving.
//! A file that disappears (or cannot be read) is recorded as a rejected reload once, with the
//! reason, and applied again as soon as it is back.
//!
//! Compiling a config can take tens of milliseconds for large IP sets: the watcher and the
//! admin API compile on tokio's blocking pool ([`Reloader::reload_async`],
//! [`Reloader::apply_text_async`]), never on the threads that serve requests, and one reload
//! at a time.
//!
//! Node changes made through the admin API live in the running config only: the next reload of
//! the file replaces them (the file stays the source of truth, as with nginx).
//!
//! With [`ConfigSource::Redis`] the rules follow a Redis namespace through
//! [`gray_redis::RedisSource`] (started by the gateway): changes published with `gray-redis`
//! apply as they arrive, so there is nothing to poll, and a manual reload does nothing.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gray_core::{Engine, Format};

use crate::tls::{Certificates, TlsError};
use serde::Serialize;

/// The config the gateway serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// YAML text compiled in (the demo config).
    Embedded(String),
    /// A YAML, JSON or TOML file (format by extension), watched for changes.
    File(PathBuf),
    /// A Redis namespace followed by a [`gray_redis::RedisSource`], with its last-known-good
    /// dump.
    Redis(gray_redis::SourceConfig),
}

impl ConfigSource {
    /// Builds the engine from the source.
    pub fn load(&self) -> gray_core::Result<Engine> {
        match self {
            ConfigSource::Embedded(text) => Engine::from_str(text, Format::Yaml),
            ConfigSource::File(path) => Engine::from_file(path),
            ConfigSource::Redis(c) => {
                gray_redis::load_spec(&c.url, &c.namespace).and_then(Engine::new)
            }
        }
    }

    /// A short description for logs and the admin API.
    pub fn describe(&self) -> String {
        match self {
            ConfigSource::Embedded(_) => "embedded default config".into(),
            ConfigSource::File(p) => p.display().to_string(),
            ConfigSource::Redis(c) => {
                format!("Redis {} namespace {}", c.redacted_url(), c.namespace)
            }
        }
    }
}

/// The outcome of the most recent reload attempt, shown by the admin API.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReloadStatus {
    /// Successful reloads since start.
    pub reloads: u64,
    /// Rejected reloads since start.
    pub rejected: u64,
    /// The error of the last attempt, if it was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The TLS certificates' reloads, when the proxy listener terminates TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsReloadStatus>,
}

/// The outcome of the TLS certificates' reloads.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TlsReloadStatus {
    /// Successful reloads since start.
    pub reloads: u64,
    /// Rejected reloads since start (the certificates in use kept serving).
    pub rejected: u64,
    /// The error of the last attempt, if it was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Applies reloads and records their outcome.
#[derive(Debug, Clone)]
pub struct Reloader {
    engine: Arc<Engine>,
    source: ConfigSource,
    status: Arc<Mutex<ReloadStatus>>,
    /// Held while a reload compiles and swaps, so reloads apply one at a time, in order.
    applying: Arc<Mutex<()>>,
    /// The proxy listener's certificates, reloaded with the config.
    tls: Option<Arc<Certificates>>,
}

impl Reloader {
    /// A reloader for `engine` reading `source`.
    pub fn new(engine: Arc<Engine>, source: ConfigSource) -> Self {
        Reloader {
            engine,
            source,
            status: Arc::default(),
            applying: Arc::default(),
            tls: None,
        }
    }

    /// Also reloads `certs` on every reload of the config (file change, SIGHUP, admin API),
    /// and whenever one of their files changes.
    pub fn with_certificates(mut self, certs: Arc<Certificates>) -> Self {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .tls = Some(TlsReloadStatus::default());
        self.tls = Some(certs);
        self
    }

    /// The certificates reloaded with the config, if any.
    pub fn certificates(&self) -> Option<&Arc<Certificates>> {
        self.tls.as_ref()
    }

    /// Reads the TLS certificates again (if any); a bad file is logged and recorded, the
    /// certificates in use keep serving. Compiles nothing: cheap enough for any thread.
    pub fn reload_certificates(&self, why: &str) -> Option<Result<usize, TlsError>> {
        let certs = self.tls.as_ref()?;
        let result = certs.reload();
        let mut s = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        let t = s.tls.get_or_insert_with(TlsReloadStatus::default);
        match &result {
            Ok(n) => {
                t.reloads += 1;
                t.last_error = None;
                tracing::info!(certificates = n, trigger = why, "TLS certificates reloaded");
            }
            Err(e) => {
                t.rejected += 1;
                t.last_error = Some(e.to_string());
                tracing::error!(
                    trigger = why,
                    "TLS certificates rejected, the certificates in use keep serving: {e}"
                );
            }
        }
        Some(result)
    }

    /// The config source.
    pub fn source(&self) -> &ConfigSource {
        &self.source
    }

    /// The last reload outcome.
    pub fn status(&self) -> ReloadStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Logs the running config's lint warnings (once per load: at start and after each
    /// reload), so they show where the reload is logged.
    pub fn log_lints(&self) {
        log_lints(&self.engine);
    }

    /// Re-reads the source and swaps the new config in. Returns the new generation, or the
    /// error (the old config keeps serving). `why` names the trigger in the log. The TLS
    /// certificates, if any, are reloaded too; their outcome is in [`ReloadStatus::tls`].
    ///
    /// This compiles on the calling thread; from async code use [`Reloader::reload_async`].
    pub fn reload(&self, why: &str) -> gray_core::Result<u64> {
        let _one = self.applying.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = self.reload_certificates(why);
        let result = match &self.source {
            ConfigSource::Embedded(text) => self.engine.reload_str(text, Format::Yaml),
            ConfigSource::File(path) => self.engine.reload_file(path),
            ConfigSource::Redis(_) => {
                tracing::info!(source = %self.source.describe(), trigger = why,
                    "rules follow Redis and apply as they are published; nothing to reload");
                return Ok(self.engine.generation());
            }
        };
        self.record(why, result)
    }

    /// Applies config text given directly (admin API); YAML (JSON is accepted as YAML).
    ///
    /// This compiles on the calling thread; from async code use
    /// [`Reloader::apply_text_async`].
    pub fn apply_text(&self, text: &str, why: &str) -> gray_core::Result<u64> {
        let _one = self.applying.lock().unwrap_or_else(PoisonError::into_inner);
        let result = self.engine.reload_str(text, Format::Yaml);
        self.record(why, result)
    }

    /// [`Reloader::reload`] on the blocking pool: the runtime's threads keep serving while
    /// the config compiles.
    pub async fn reload_async(&self, why: &'static str) -> gray_core::Result<u64> {
        let this = self.clone();
        off_thread(move || this.reload(why)).await
    }

    /// [`Reloader::apply_text`] on the blocking pool.
    pub async fn apply_text_async(
        &self,
        text: String,
        why: &'static str,
    ) -> gray_core::Result<u64> {
        let this = self.clone();
        off_thread(move || this.apply_text(&text, why)).await
    }

    fn record(&self, why: &str, result: gray_core::Result<u64>) -> gray_core::Result<u64> {
        let mut s = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        match &result {
            Ok(generation) => {
                s.reloads += 1;
                s.last_error = None;
                tracing::info!(source = %self.source.describe(), generation, trigger = why, "config reloaded");
                log_lints(&self.engine);
            }
            Err(e) => {
                s.rejected += 1;
                s.last_error = Some(e.to_string());
                tracing::error!(
                    source = %self.source.describe(),
                    generation = self.engine.generation(),
                    trigger = why,
                    "config rejected, the running config keeps serving: {e}"
                );
            }
        }
        result
    }

    /// Starts watching: polls the file every `interval` and reloads when its content
    /// changes (the certificates' files likewise, on their own); also reloads on SIGHUP (for an embedded source, SIGHUP re-applies it). The
    /// SIGHUP handler is installed before this returns, so a signal sent right after start is
    /// never lost. The task runs until aborted.
    pub fn spawn_watcher(self, interval: Duration) -> tokio::task::JoinHandle<()> {
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let path = match &self.source {
            ConfigSource::File(p) => Some(p.clone()),
            ConfigSource::Embedded(_) | ConfigSource::Redis(_) => None,
        };
        let mut seen = path.as_deref().and_then(stamp);
        tokio::spawn(async move {
            // The first look is one interval after `seen` was taken (an immediate one would
            // race an edit made right after start with the SIGHUP that announces it).
            let mut tick =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                #[cfg(unix)]
                let hup_fut = async {
                    match hup.as_mut() {
                        Some(h) => h.recv().await,
                        None => std::future::pending().await,
                    }
                };
                #[cfg(not(unix))]
                let hup_fut = std::future::pending::<Option<()>>();
                let watch_certs = self.tls.is_some();
                tokio::select! {
                    _ = tick.tick(), if path.is_some() || watch_certs => {
                        let now = path.as_deref().and_then(stamp);
                        if path.is_some() && now != seen {
                            // Gone or unreadable: recorded once (the reload's error says why).
                            let why = if now.is_some() { "file changed" } else { "file deleted or unreadable" };
                            seen = now;
                            // Reloads the certificates too.
                            let _ = self.reload_async(why).await;
                        } else if self.tls.as_ref().is_some_and(|c| c.changed()) {
                            let this = self.clone();
                            let _ = tokio::task::spawn_blocking(move || {
                                this.reload_certificates("certificate file changed")
                            })
                            .await;
                        }
                    }
                    _ = hup_fut => {
                        seen = path.as_deref().and_then(stamp);
                        let _ = self.reload_async("SIGHUP").await;
                    }
                }
            }
        })
    }
}

/// Runs a compile on the blocking pool; a panic there (a bug) is an error, not a crash.
async fn off_thread(
    f: impl FnOnce() -> gray_core::Result<u64> + Send + 'static,
) -> gray_core::Result<u64> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(gray_core::Error::at(
            gray_core::ErrorKind::Source,
            "reload",
            format!("the reload task failed: {e}"),
        ))
    })
}

/// What identifies a version of the file: a hash of its content (`None` if unreadable, e.g.
/// while an editor replaces it).
fn stamp(path: &Path) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let bytes = std::fs::read(path).ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    Some(h.finish())
}

/// One `warn` line per lint of the config `engine` serves.
fn log_lints(engine: &Engine) {
    for l in engine.lints() {
        tracing::warn!(
            kind = l.kind.name(),
            rule = l.rule.as_deref().unwrap_or(""),
            "{l}"
        );
    }
}
