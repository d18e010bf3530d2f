//! # gray-tower
//!
//! [tower](https://docs.rs/tower) middleware for the gray routing engine:
//!
//! * [`GrayLayer`] / [`Gray`] decide per request: the client IP is resolved from the connection's
//!   peer address ([`PeerAddr`], or axum's `ConnectInfo<SocketAddr>`) and — only from trusted
//!   proxies — the forwarded header; the [`gray_core::Decision`] goes into the request
//!   extensions; inbound routing headers are stripped or kept per the spec
//!   ([`apply_decision`]); the decision's headers are set.
//! * [`GroupSteer`] dispatches each request to the service of its decided group.
//! * [`MirrorLayer`] sends copies of the requests a `mirror` section samples through a service of
//!   yours, beside the request ([`mirror`]).
//! * [`ReportLayer`] records response outcomes (statuses, errors) for passive health, classified
//!   by the served group's `fail_on`.
//! * [`CallLayer`] is the calling side: around an HTTP client, it sends each outgoing request
//!   to the instance of the service its URI names that the inbound request's routing context
//!   ([`CallContext`]) selects, propagates the routing headers and records the outcome
//!   ([`call`]).
//! * [`HttpRequestView`] implements [`gray_core::RequestView`] for `http::Request` without
//!   copying; [`trace`] puts the decision into `tracing` spans.
//!
//! With a plain hyper 1.x server, insert the peer address per connection:
//!
//! ```no_run
//! use std::{convert::Infallible, sync::Arc};
//! use gray_core::{Decision, Engine};
//! use gray_tower::{GrayLayer, PeerAddr};
//! use hyper_util::rt::{TokioExecutor, TokioIo};
//! use hyper_util::service::TowerToHyperService;
//! use tower::{service_fn, Layer};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Arc::new(Engine::from_file("gray.yaml")?);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! loop {
//!     let (stream, peer) = listener.accept().await?;
//!     let app = GrayLayer::new(engine.clone()).layer(service_fn(
//!         move |req: http::Request<hyper::body::Incoming>| async move {
//!             let group = req.extensions().get::<Decision>().map(|d| d.group().to_owned());
//!             let body = http_body_util::Full::new(bytes::Bytes::from(group.unwrap_or_default()));
//!             Ok::<_, Infallible>(http::Response::new(body))
//!         },
//!     ));
//!     // Every request on this connection carries the peer address.
//!     let app = tower::ServiceBuilder::new()
//!         .map_request(move |mut req: http::Request<_>| {
//!             req.extensions_mut().insert(PeerAddr(peer));
//!             req
//!         })
//!         .service(app);
//!     tokio::spawn(
//!         hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
//!             .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
//!             .into_owned(),
//!     );
//! }
//! # }
//! ```
//!
//! With axum, add the layer to the router and serve with connect info; see
//! `examples/src/bin/axum_app.rs` in the repository.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod call;
mod headers;
mod layer;
pub mod mirror;
mod peer;
pub mod report;
mod steer;
pub mod trace;
mod view;

pub use call::{CallContext, CallLayer};
pub use headers::apply_decision;
pub use layer::{Gray, GrayLayer};
pub use mirror::{Mirror, MirrorCounts, MirrorLayer};
pub use peer::{peer_addr, PeerAddr};
pub use report::{Report, ReportLayer};
pub use steer::GroupSteer;
pub use view::HttpRequestView;
