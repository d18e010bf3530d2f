//! # gray-pingora
//!
//! The gray routing engine inside a [pingora](https://github.com/cloudflare/pingora) proxy.
//!
//! * [`PingoraRequestView`] implements [`gray_core::RequestView`] for pingora's
//!   [`RequestHeader`](pingora::http::RequestHeader) and the client address of its session,
//!   without copying.
//! * Building blocks for a [`ProxyHttp`](pingora::proxy::ProxyHttp) of your own, one per proxy
//!   phase: [`decide`] (request filter), [`upstream_peer`] (the decided node as an
//!   [`HttpPeer`](pingora::upstreams::peer::HttpPeer)), [`apply`] (upstream request filter:
//!   inbound routing headers stripped or kept as [`gray_core::Decision::forward_inbound`] says,
//!   the decision's headers set) and [`report`] (logging: the outcome and latency recorded with
//!   [`gray_core::Engine::record_timed`], for passive health and the node's metrics).
//! * [`GrayProxy`]: a complete `ProxyHttp` service built from them, answering 503 when no node
//!   is available. `examples/gray_proxy.rs` runs it from a rule file.
//!
//! ```no_run
//! use std::sync::Arc;
//! use gray_core::Engine;
//! use gray_pingora::GrayProxy;
//! use pingora::server::Server;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Arc::new(Engine::from_file("gray.yaml")?);
//! let mut server = Server::new(None)?;
//! server.bootstrap();
//! let mut proxy = pingora::proxy::http_proxy_service(&server.configuration, GrayProxy::new(engine));
//! proxy.add_tcp("127.0.0.1:8080");
//! server.add_service(proxy);
//! server.run_forever();
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod proxy;
mod report;
mod route;
mod view;

pub use proxy::{GrayCtx, GrayProxy};
pub use report::{outcome, report};
pub use route::{apply, decide, peer_ip, upstream_peer};
pub use view::PingoraRequestView;
