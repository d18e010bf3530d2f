//! [`MirrorLayer`]: copies of the requests a `mirror` section samples, sent through a service
//! of yours beside the request, never delaying or changing its answer.
//!
//! Put it inside [`crate::GrayLayer`] (it reads the request's [`gray_core::Decision`]). For
//! each request that [`gray_core::Engine::mirror`] copies, the layer builds a copy of the
//! request head — method, `http://NODE` plus the path and query, the headers, the mirror's
//! marker header and `Host` — with the [`MirrorPlan`] in its extensions, and hands
//! `mirror.call(copy)` to your `spawn` function, then calls the inner service with the original
//! request. The copy's answer is yours to drop (or compare); apply `plan.timeout` in the mirror
//! service. Copies carry no body: requests with a body are not copied by this layer (the
//! gateway copies bodies up to a limit with a tee; a generic layer cannot without buffering).
//! At most `max_in_flight` copies of one mirror run at once; more are dropped and counted.
//!
//! ```
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use http_body_util::Empty;
//! use gray_core::{Engine, Format};
//! use gray_tower::{GrayLayer, MirrorLayer};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Arc::new(Engine::from_str(r#"
//! version: 1
//! groups:
//!   stable: { nodes: [{ address: "10.0.0.1:80" }], mirror: { to: canary } }
//!   canary: { nodes: [{ address: "10.0.0.2:80" }] }
//! default: stable
//! "#, Format::Yaml)?);
//! let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
//! // The mirror service: here it only reports where the copy would go.
//! let mirror = service_fn(move |copy: http::Request<()>| {
//!     let tx = tx.clone();
//!     async move { tx.send(copy.uri().to_string()).ok(); Ok::<_, std::convert::Infallible>(()) }
//! });
//! let app = GrayLayer::new(engine.clone()).layer(
//!     MirrorLayer::new(engine, mirror, |f| { tokio::spawn(f); })
//!         .layer(service_fn(|_req: http::Request<Empty<Bytes>>| async {
//!             Ok::<_, std::convert::Infallible>("stable's answer")
//!         })),
//! );
//! let req = http::Request::get("/cart?x=1")
//!     .extension(gray_tower::PeerAddr("192.0.2.1:5000".parse()?))
//!     .body(Empty::<Bytes>::new())?;
//! assert_eq!(app.oneshot(req).await?, "stable's answer");
//! assert_eq!(rx.recv().await.unwrap(), "http://10.0.0.2:80/cart?x=1");
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use gray_core::mirror::{MirrorPlan, Mirroring};
use gray_core::{Decision, Engine};
use http::{HeaderName, HeaderValue, Request, Uri};
use tower_layer::Layer;
use tower_service::Service;

use crate::HttpRequestView;

/// Runs a copy's future (e.g. `|f| { tokio::spawn(f); }`).
pub type Spawn = Arc<dyn Fn(Pin<Box<dyn Future<Output = ()> + Send>>) + Send + Sync>;

/// What the layer did with the copies it was asked for.
#[derive(Debug, Default)]
pub struct MirrorCounts {
    /// Copies handed to the mirror service.
    pub sent: AtomicU64,
    /// Dropped: the mirror's `max_in_flight` copies were running.
    pub dropped_in_flight: AtomicU64,
    /// Not copied: the request has a body.
    pub skipped_body: AtomicU64,
    /// Not copied: the method, or no node in the mirror's group.
    pub skipped: AtomicU64,
}

/// Adds [`Mirror`] around a service.
#[derive(Clone)]
pub struct MirrorLayer<M> {
    engine: Arc<Engine>,
    mirror: M,
    spawn: Spawn,
    in_flight: Arc<Mutex<HashMap<String, Arc<AtomicU32>>>>,
    counts: Arc<MirrorCounts>,
}

impl<M> std::fmt::Debug for MirrorLayer<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirrorLayer").finish_non_exhaustive()
    }
}

impl<M> MirrorLayer<M> {
    /// Copies go through `mirror`; `spawn` runs each copy's call.
    pub fn new(
        engine: Arc<Engine>,
        mirror: M,
        spawn: impl Fn(Pin<Box<dyn Future<Output = ()> + Send>>) + Send + Sync + 'static,
    ) -> Self {
        MirrorLayer {
            engine,
            mirror,
            spawn: Arc::new(spawn),
            in_flight: Arc::default(),
            counts: Arc::default(),
        }
    }

    /// The counters (shared by every service the layer made).
    pub fn counts(&self) -> Arc<MirrorCounts> {
        self.counts.clone()
    }
}

impl<S, M: Clone> Layer<S> for MirrorLayer<M> {
    type Service = Mirror<S, M>;

    fn layer(&self, inner: S) -> Mirror<S, M> {
        Mirror {
            inner,
            layer: MirrorLayer {
                engine: self.engine.clone(),
                mirror: self.mirror.clone(),
                spawn: self.spawn.clone(),
                in_flight: self.in_flight.clone(),
                counts: self.counts.clone(),
            },
        }
    }
}

/// Sends copies of sampled requests through the mirror service; see the module docs.
#[derive(Clone)]
pub struct Mirror<S, M> {
    inner: S,
    layer: MirrorLayer<M>,
}

impl<S, M> std::fmt::Debug for Mirror<S, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror").finish_non_exhaustive()
    }
}

/// The copy of `req`'s head for `plan`, or `None` when a header cannot be built.
fn copy_of<B>(req: &Request<B>, plan: &MirrorPlan) -> Option<Request<()>> {
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let uri: Uri = format!("http://{}{path}", plan.node).parse().ok()?;
    let mut copy = Request::builder()
        .method(req.method().clone())
        .uri(uri)
        .body(())
        .ok()?;
    *copy.headers_mut() = req.headers().clone();
    if let Some(host) = &plan.host {
        copy.headers_mut()
            .insert(http::header::HOST, HeaderValue::from_str(host).ok()?);
    }
    copy.headers_mut().insert(
        HeaderName::from_bytes(plan.header.as_bytes()).ok()?,
        HeaderValue::from_static("1"),
    );
    copy.extensions_mut().insert(plan.clone());
    Some(copy)
}

impl<S, M, B> Service<Request<B>> for Mirror<S, M>
where
    S: Service<Request<B>>,
    B: http_body::Body,
    M: Service<Request<()>> + Clone + Send + 'static,
    M::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let l = &self.layer;
        let mirroring = req
            .extensions()
            .get::<Decision>()
            .and_then(|d| l.engine.mirror(d, &HttpRequestView::new(&req)));
        match mirroring {
            Some(Mirroring::Send(_)) if !req.body().is_end_stream() => {
                l.counts.skipped_body.fetch_add(1, Ordering::Relaxed);
            }
            Some(Mirroring::Send(plan)) => {
                let slot = {
                    let mut map = l.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
                    map.entry(plan.mirror.clone()).or_default().clone()
                };
                let taken = slot
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                        (n < plan.max_in_flight).then_some(n + 1)
                    })
                    .is_ok();
                match (taken, copy_of(&req, &plan)) {
                    (true, Some(copy)) => {
                        l.counts.sent.fetch_add(1, Ordering::Relaxed);
                        let mut mirror = l.mirror.clone();
                        (l.spawn)(Box::pin(async move {
                            // The copy's own readiness and answer; neither reaches the client.
                            if std::future::poll_fn(|cx| mirror.poll_ready(cx))
                                .await
                                .is_ok()
                            {
                                let _ = mirror.call(copy).await;
                            }
                            slot.fetch_sub(1, Ordering::AcqRel);
                        }));
                    }
                    (true, None) => {
                        slot.fetch_sub(1, Ordering::AcqRel);
                        l.counts.skipped.fetch_add(1, Ordering::Relaxed);
                    }
                    (false, _) => {
                        l.counts.dropped_in_flight.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Some(Mirroring::Skipped { .. }) => {
                l.counts.skipped.fetch_add(1, Ordering::Relaxed);
            }
            None => {}
        }
        self.inner.call(req)
    }
}
