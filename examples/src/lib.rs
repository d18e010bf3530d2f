//! Runnable gray programs: the reverse-proxy [`gateway`] (`gateway`, the main job), an axum app
//! using the tower layer (`axum_app`), the `demo` (explained decisions) and `nepxion` (an
//! imported Nepxion rule explained along a call chain).
//!
//! The gateway is also a library so that tests and embedding programs can start it in-process:
//!
//! ```no_run
//! use gray_examples::gateway::{ConfigSource, Gateway, GatewayOptions};
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

pub mod gateway;

/// The embedded default config (`examples/default-config.yaml`): stable and canary groups on
/// loopback ports 18081/18082 and the seeds' cookie and IP gray-list rules.
pub const DEFAULT_CONFIG: &str = include_str!("../default-config.yaml");
