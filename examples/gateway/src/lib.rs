//! The gray gateway: a reverse proxy that routes every request with gray.
//!
//! [`Gateway::start`] binds the proxy listener (HTTP/1.1 and h2c, or HTTPS with HTTP/1.1 and h2
//! by ALPN when [`GatewayOptions::tls`] is set — [`tls`]), the admin listener
//! ([`admin`]) and starts the config watcher ([`reload`]) — or, for [`ConfigSource::Redis`],
//! the [`gray_redis::RedisSource`] that keeps the engine in step with Redis. The request path is
//! `server (TLS, limits, PeerAddr) → ingress (hop-by-hop, Host, CONNECT, Upgrade) →
//! gray_tower::Gray (decide, header priority) → Proxy (forward over HTTP or HTTPS, HTTP/1.1 or
//! HTTP/2, record, retry, tunnel upgrades)`.
//!
//! The binary is `gateway` (`cargo run -p gray-gateway`); the library lets tests and embedding
//! programs start it in-process:
//!
//! ```no_run
//! use gray_gateway::{ConfigSource, Gateway, GatewayOptions};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut options = GatewayOptions::new(ConfigSource::File("gray.yaml".into()));
//! options.listen = "127.0.0.1:8080".parse()?;
//! let gateway = Gateway::start(options).await?;
//! println!("proxy on {}, admin on {:?}", gateway.proxy_addr(), gateway.admin_addr());
//! tokio::signal::ctrl_c().await?;
//! gateway.shutdown().await;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod body;
pub mod cli;
pub mod fast;
pub mod forward;
pub mod ingress;
pub mod mirror;
pub mod pool;
pub mod proxy;
pub mod reload;
pub mod server;
pub mod tls;
pub mod tunnel;
pub mod upload;
pub mod upstream;
pub mod upstream_h2;
pub mod upstream_tls;
pub mod webhook;
pub mod what_if_cli;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gray_core::Engine;
use gray_tower::GrayLayer;
use tokio::net::TcpListener;
use tower::Layer;

pub use proxy::{Proxy, ProxyTimeouts};
pub use reload::{ConfigSource, ReloadStatus, Reloader};
pub use server::{ServerHandle, ServerLimits};
pub use tls::{CertificateFiles, Certificates, TlsError, TlsErrorKind, TlsOptions};
pub use upstream::DemoUpstream;
pub use upstream_h2::UpstreamH2;
pub use upstream_tls::UpstreamTls;

/// The embedded default config (`default-config.yaml`): stable and canary groups on loopback
/// ports 18081/18082 and the seeds' cookie and IP gray-list rules.
pub const DEFAULT_CONFIG: &str = include_str!("../default-config.yaml");

/// How to run a gateway. `Debug` shows whether a token is set, never the token.
#[derive(Clone)]
pub struct GatewayOptions {
    /// The proxy listener (port 0 picks a free port).
    pub listen: SocketAddr,
    /// The admin listener; `None` disables the admin API.
    pub admin_listen: Option<SocketAddr>,
    /// The admin token; required when the admin listener is not on a loopback address.
    pub admin_token: Option<String>,
    /// The config.
    pub config: ConfigSource,
    /// Upstream timeouts.
    pub timeouts: ProxyTimeouts,
    /// How often the config file is checked for changes.
    pub watch_interval: Duration,
    /// Client connection limits and timeouts of the proxy listener (the admin listener uses
    /// [`ServerLimits::admin`] of them).
    pub limits: ServerLimits,
    /// Serve the seed-style state-changing `GET` admin endpoints (`/upstream_add`, ...).
    pub admin_legacy_get: bool,
    /// Terminate TLS on the proxy listener with these certificates; `None`: plain HTTP.
    pub tls: Option<TlsOptions>,
    /// Upstream nodes reached over HTTPS.
    pub upstream_tls: UpstreamTls,
    /// Upstream nodes spoken to over HTTP/2 (h2c, or ALPN `h2` over HTTPS).
    pub upstream_h2: UpstreamH2,
    /// Keep a live sample of routed requests for what-if (`None`: off).
    pub sample: Option<gray_core::sample::SampleConfig>,
    /// Worker threads serving the proxy listener, each with its own single-threaded runtime,
    /// listening socket and upstream pool ([`server::serve_sharded`]); nginx's
    /// `worker_processes`. The admin API, reloads and judgements run on the caller's runtime.
    pub workers: usize,
    /// Serve plain HTTP/1.1 requests of the common shape on the shortcut ([`fast`]: straight
    /// from socket to pooled upstream socket, no hyper); on by default. Off, every request
    /// takes the hyper path.
    pub http1_shortcut: bool,
}

impl fmt::Debug for GatewayOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayOptions")
            .field("listen", &self.listen)
            .field("admin_listen", &self.admin_listen)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "(set)"))
            .field("config", &self.config.describe())
            .field("timeouts", &self.timeouts)
            .field("watch_interval", &self.watch_interval)
            .field("limits", &self.limits)
            .field("admin_legacy_get", &self.admin_legacy_get)
            .field("tls", &self.tls)
            .field("upstream_tls", &self.upstream_tls)
            .field("upstream_h2", &self.upstream_h2)
            .field("sample", &self.sample)
            .field("workers", &self.workers)
            .field("http1_shortcut", &self.http1_shortcut)
            .finish()
    }
}

impl GatewayOptions {
    /// Defaults: proxy on 127.0.0.1:18080, admin on 127.0.0.1:18090, no token, the default
    /// timeouts and limits, the file polled every second, no legacy `GET` admin endpoints, no
    /// TLS, one worker per core ([`default_workers`]).
    pub fn new(config: ConfigSource) -> Self {
        GatewayOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 18080)),
            admin_listen: Some(SocketAddr::from(([127, 0, 0, 1], 18090))),
            admin_token: None,
            config,
            timeouts: ProxyTimeouts::default(),
            watch_interval: Duration::from_secs(1),
            limits: ServerLimits::default(),
            admin_legacy_get: false,
            tls: None,
            upstream_tls: UpstreamTls::default(),
            upstream_h2: UpstreamH2::default(),
            sample: None,
            workers: default_workers(),
            http1_shortcut: true,
        }
    }
}

/// One worker per core this process may run on (`std::thread::available_parallelism`), 1 when
/// that is unknown.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Why a gateway could not start.
#[derive(Debug)]
pub enum GatewayError {
    /// The config is invalid.
    Config(gray_core::Error),
    /// A listener could not be bound.
    Bind {
        /// `proxy` or `admin`.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The admin listener is reachable from other hosts but no token was given.
    InsecureAdmin(SocketAddr),
    /// An empty admin token was given.
    EmptyToken,
    /// A TLS certificate, key or CA file is unusable.
    Tls(TlsError),
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GatewayError::Config(e) => write!(f, "invalid config: {e}"),
            GatewayError::Bind { what, addr, source } => {
                write!(f, "cannot listen on {addr} ({what}): {source}")
            }
            GatewayError::InsecureAdmin(addr) => write!(
                f,
                "refusing to serve the admin API on non-loopback address {addr} without a \
                 token: pass --admin-token (or bind it to 127.0.0.1)"
            ),
            GatewayError::EmptyToken => f.write_str("the admin token must not be empty"),
            GatewayError::Tls(e) => write!(f, "TLS: {e}"),
        }
    }
}

impl std::error::Error for GatewayError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GatewayError::Config(e) => Some(e),
            GatewayError::Bind { source, .. } => Some(source),
            GatewayError::Tls(e) => Some(e),
            _ => None,
        }
    }
}

/// A running gateway. Dropping it stops everything.
#[derive(Debug)]
pub struct Gateway {
    engine: Arc<Engine>,
    reloader: Reloader,
    redis: Option<Arc<gray_redis::RedisSource>>,
    proxy: Option<ServerHandle>,
    proxy_addr: SocketAddr,
    admin: Option<(SocketAddr, ServerHandle)>,
    certificates: Option<Arc<Certificates>>,
    watcher: tokio::task::JoinHandle<()>,
    judge: tokio::task::JoinHandle<()>,
    /// With rules from Redis: the fleet's judged rollouts (see `gray_redis::FleetRollouts`).
    _fleet: Option<gray_redis::FleetHandle>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.watcher.abort();
        self.judge.abort();
    }
}

/// This machine's name for a fleet engine id (`HOSTNAME`, else `/etc/hostname`), reduced to the
/// characters an id may hold.
fn host_name() -> String {
    let raw = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .unwrap_or_default();
    let name: String = raw
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(64)
        .collect();
    if name.is_empty() {
        "gateway".to_string()
    } else {
        name
    }
}

/// How often the rollouts with an `analysis` section are looked at ([`Engine::tick`]).
const JUDGE_EVERY: Duration = Duration::from_secs(1);

/// Ticks the engine's judged rollouts every [`JUDGE_EVERY`], on the blocking pool (a
/// judgement sorts the windows' samples), and posts their transitions to their webhooks.
fn spawn_judge(
    engine: Arc<Engine>,
    stats: Arc<webhook::WebhookStats>,
    tls: rustls::ClientConfig,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(JUDGE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut hooks = webhook::Webhooks::new(stats, tls);
        loop {
            every.tick().await;
            let e = engine.clone();
            let _ = tokio::task::spawn_blocking(move || e.tick()).await;
            hooks.after_tick(&engine);
        }
    })
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, GatewayError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| GatewayError::Bind { what, addr, source })
}

impl Gateway {
    /// Loads the config, binds both listeners and starts serving.
    pub async fn start(options: GatewayOptions) -> Result<Gateway, GatewayError> {
        if let Some(addr) = options.admin_listen {
            match options.admin_token.as_deref() {
                Some("") => return Err(GatewayError::EmptyToken),
                None if !addr.ip().is_loopback() => {
                    return Err(GatewayError::InsecureAdmin(addr));
                }
                _ => {}
            }
        }
        let (engine, redis) = match &options.config {
            ConfigSource::Redis(config) => {
                // Start-up may wait up to the connect timeout for Redis before it falls back
                // to the dump: keep that off the runtime's worker threads.
                let config = config.clone();
                let (engine, source) =
                    tokio::task::spawn_blocking(move || gray_redis::RedisSource::start(config))
                        .await
                        .map_err(|e| {
                            GatewayError::Config(gray_core::Error::at(
                                gray_core::ErrorKind::Source,
                                "redis",
                                format!("the start-up task failed: {e}"),
                            ))
                        })?
                        .map_err(GatewayError::Config)?;
                (engine, Some(Arc::new(source)))
            }
            other => (Arc::new(other.load().map_err(GatewayError::Config)?), None),
        };
        let certificates = match &options.tls {
            Some(tls) => Some(Certificates::load(tls.clone()).map_err(GatewayError::Tls)?),
            None => None,
        };
        engine
            .set_sampling(options.sample)
            .map_err(GatewayError::Config)?;
        let mut reloader = Reloader::new(engine.clone(), options.config.clone());
        reloader.log_lints();
        if let Some(certs) = &certificates {
            reloader = reloader.with_certificates(certs.clone());
        }

        let listeners =
            server::bind_listeners(options.listen, options.workers).map_err(|source| {
                GatewayError::Bind {
                    what: "proxy",
                    addr: options.listen,
                    source,
                }
            })?;
        let admin_listener = match options.admin_listen {
            Some(addr) => Some(bind("admin", addr).await?),
            None => None,
        };

        let proxy = Proxy::new(
            engine.clone(),
            options.timeouts,
            options.upstream_tls.clone(),
            options.upstream_h2.clone(),
        )
        .map_err(GatewayError::Tls)?;
        let proxy_stats = proxy.stats();
        // Each worker decides with its own layer (its own header cache) and forwards with its
        // own upstream pool.
        let shortcut = options.http1_shortcut;
        let worker_service = |_| {
            let worker = proxy.worker();
            let fast = shortcut
                .then(|| fast::FastHttp1::new(&worker))
                .flatten()
                .map(|f| Arc::new(f) as Arc<dyn server::Shortcut>);
            let service = ingress::IngressLayer.layer(GrayLayer::new(engine.clone()).layer(worker));
            (service, fast)
        };
        let proxy = server::serve_sharded_with(
            listeners,
            worker_service,
            options.limits,
            certificates.as_ref().map(|c| c.server_config()),
        )
        .map_err(|source| GatewayError::Bind {
            what: "proxy",
            addr: options.listen,
            source,
        })?;

        let fleet = match &options.config {
            ConfigSource::Redis(config) => {
                // One engine of the fleet judges each rollout on the fleet's traffic; this
                // one takes part under a fleet-unique id.
                let id = format!("{}-{}", host_name(), std::process::id());
                let (engine, url, ns) =
                    (engine.clone(), config.url.clone(), config.namespace.clone());
                let joined = tokio::task::spawn_blocking(move || {
                    gray_redis::FleetRollouts::connect(engine, &url, &ns, &id)
                })
                .await;
                match joined {
                    Ok(Ok(f)) => match f.spawn(JUDGE_EVERY) {
                        Ok(h) => Some(h),
                        Err(e) => {
                            tracing::warn!(
                                "fleet rollouts are off: cannot start their thread: {e}"
                            );
                            None
                        }
                    },
                    Ok(Err(e)) => {
                        tracing::warn!("fleet rollouts are off (each engine judges alone): {e}");
                        None
                    }
                    Err(e) => {
                        tracing::warn!("fleet rollouts are off: {e}");
                        None
                    }
                }
            }
            _ => None,
        };
        let webhook_stats = Arc::new(webhook::WebhookStats::default());
        let admin = match admin_listener {
            Some(l) => {
                let addr = l.local_addr().map_err(|source| GatewayError::Bind {
                    what: "admin",
                    addr: options.admin_listen.unwrap_or(options.listen),
                    source,
                })?;
                let mut state = admin::AdminState::new(
                    engine.clone(),
                    reloader.clone(),
                    options.admin_token.clone(),
                )
                .with_proxy_stats(proxy_stats)
                .with_webhook_stats(webhook_stats.clone());
                if let Some(source) = &redis {
                    state = state.with_redis(source.clone());
                }
                if let (ConfigSource::Redis(c), true) = (&options.config, fleet.is_some()) {
                    state = state.with_fleet(c.url.clone(), c.namespace.clone());
                }
                let app = admin::router(state.with_legacy_get(options.admin_legacy_get));
                let server = server::serve_with(l, app, ServerLimits::admin(&options.limits))
                    .map_err(|source| GatewayError::Bind {
                        what: "admin",
                        addr,
                        source,
                    })?;
                Some((addr, server))
            }
            None => None,
        };
        let watcher = reloader.clone().spawn_watcher(options.watch_interval);
        let webhook_tls = options
            .upstream_tls
            .client_config()
            .map_err(GatewayError::Tls)?;
        let judge = spawn_judge(engine.clone(), webhook_stats, webhook_tls);
        Ok(Gateway {
            engine,
            reloader,
            redis,
            proxy_addr: proxy.local_addr(),
            proxy: Some(proxy),
            admin,
            certificates,
            watcher,
            judge,
            _fleet: fleet,
        })
    }

    /// The engine (shared with the admin API).
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The Redis source, when the rules follow Redis.
    pub fn redis(&self) -> Option<&gray_redis::RedisSource> {
        self.redis.as_deref()
    }

    /// The reloader (re-reads the config source).
    pub fn reloader(&self) -> &Reloader {
        &self.reloader
    }

    /// The bound proxy address.
    pub fn proxy_addr(&self) -> SocketAddr {
        self.proxy_addr
    }

    /// The bound admin address.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|(a, _)| *a)
    }

    /// The proxy listener's TLS certificates, when it terminates TLS.
    pub fn certificates(&self) -> Option<&Arc<Certificates>> {
        self.certificates.as_ref()
    }

    /// `https` when the proxy listener terminates TLS, else `http`.
    pub fn proxy_scheme(&self) -> &'static str {
        if self.certificates.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Graceful shutdown: both listeners close at once (new connections are refused),
    /// in-flight requests and tunnels get up to [`ServerLimits::shutdown_timeout`] to finish,
    /// then whatever is left is cut. True when everything finished in time.
    pub async fn shutdown(mut self) -> bool {
        self.watcher.abort();
        self.judge.abort();
        let proxy = async {
            match self.proxy.take() {
                Some(p) => p.stop().await,
                None => true,
            }
        };
        let admin = async {
            match self.admin.take() {
                Some((_, a)) => a.stop().await,
                None => true,
            }
        };
        let (proxy, admin) = tokio::join!(proxy, admin);
        proxy && admin
    }
}
