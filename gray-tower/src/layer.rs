//! [`GrayLayer`] and [`Gray`]: decide per request and annotate it.
//!
//! ```
//! use std::{convert::Infallible, sync::Arc};
//! use gray_core::{Decision, Engine, Format};
//! use gray_tower::{GrayLayer, PeerAddr};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # tokio_test_rt(async {
//! let engine = Arc::new(Engine::from_str(r#"
//! version: 1
//! groups:
//!   stable: { nodes: [{ address: "127.0.0.1:6002" }] }
//!   canary: { nodes: [{ address: "127.0.0.1:6004" }], fallback: stable }
//! rules: [{ id: cookie, when: { cookie: { name: canary, regex: "aaa$" } }, route: canary,
//!           set_headers: { x-gray: canary } }]
//! default: stable
//! "#, Format::Yaml)?);
//!
//! let app = GrayLayer::new(engine).layer(service_fn(|req: http::Request<()>| async move {
//!     let d = req.extensions().get::<Decision>().expect("set by Gray");
//!     let tag = req.headers().get("x-gray").map(|v| v.to_str().unwrap().to_owned());
//!     Ok::<_, Infallible>((d.group().to_owned(), tag))
//! }));
//!
//! let mut req = http::Request::get("/").header("cookie", "canary=xaaa").body(())?;
//! req.extensions_mut().insert(PeerAddr("10.0.0.1:1234".parse()?));
//! let (group, tag) = app.oneshot(req).await?;
//! assert_eq!(group, "canary");
//! assert_eq!(tag.as_deref(), Some("canary"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # fn tokio_test_rt<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;
use std::task::{Context, Poll};

use gray_core::Engine;
use http::Request;
use tower_layer::Layer;
use tower_service::Service;

use crate::headers::HeaderCache;
use crate::view::HttpRequestView;

/// Wraps services in [`Gray`].
///
/// The services one layer makes (and their clones) share one cache of the decision headers
/// converted into `http` types (see [`Gray`]).
#[derive(Debug, Clone)]
pub struct GrayLayer {
    engine: Arc<Engine>,
    apply_headers: bool,
    cache: Arc<HeaderCache>,
}

impl GrayLayer {
    /// A layer deciding with `engine`; headers are applied (see [`GrayLayer::apply_headers`]).
    pub fn new(engine: Arc<Engine>) -> Self {
        GrayLayer {
            engine,
            apply_headers: true,
            cache: Arc::default(),
        }
    }

    /// Whether to apply header priority and set the decision's headers on the request
    /// (default `true`). With `false` the request only gains the `Decision` extension.
    pub const fn apply_headers(mut self, apply: bool) -> Self {
        self.apply_headers = apply;
        self
    }
}

impl<S> Layer<S> for GrayLayer {
    type Service = Gray<S>;

    fn layer(&self, inner: S) -> Gray<S> {
        Gray {
            inner,
            engine: self.engine.clone(),
            apply_headers: self.apply_headers,
            cache: self.cache.clone(),
        }
    }
}

/// Middleware that asks the engine for a [`gray_core::Decision`] per request.
///
/// For each request it resolves the peer ([`crate::peer_addr`]), decides on the request as
/// received, records the decision into the current `tracing` span ([`crate::trace`]), applies
/// header priority and the decision's headers ([`crate::apply_decision`]) and inserts the
/// `Decision` into the request extensions. The response is untouched, so
/// `Future = S::Future` (no boxing).
///
/// The decision's headers are converted into `HeaderName`/`HeaderValue` once per snapshot and
/// cloned per request; the cache is shared by clones and by the services of one
/// [`GrayLayer`], keeps the snapshot it was built for alive until a request is decided by a
/// newer one, and never serves another snapshot's headers.
#[derive(Debug, Clone)]
pub struct Gray<S> {
    inner: S,
    engine: Arc<Engine>,
    apply_headers: bool,
    cache: Arc<HeaderCache>,
}

impl<S> Gray<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, engine: Arc<Engine>) -> Self {
        Gray {
            inner,
            engine,
            apply_headers: true,
            cache: Arc::default(),
        }
    }

    /// A [`GrayLayer`] for `engine`.
    pub fn layer(engine: Arc<Engine>) -> GrayLayer {
        GrayLayer::new(engine)
    }

    /// See [`GrayLayer::apply_headers`].
    pub const fn apply_headers(mut self, apply: bool) -> Self {
        self.apply_headers = apply;
        self
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<Request<B>> for Gray<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let decision = self.engine.decide(&HttpRequestView::new(&req));
        crate::trace::record_current(&decision);
        if self.apply_headers {
            self.cache.apply(&decision, req.headers_mut());
        }
        req.extensions_mut().insert(decision);
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gray_core::{Decision, Format};
    use std::convert::Infallible;
    use std::future::{ready, Ready};

    #[derive(Clone)]
    struct Echo;

    impl Service<Request<()>> for Echo {
        type Response = Request<()>;
        type Error = Infallible;
        type Future = Ready<Result<Request<()>, Infallible>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, req: Request<()>) -> Self::Future {
            ready(Ok(req))
        }
    }

    fn call(layer: GrayLayer) -> Request<()> {
        let mut svc = layer.layer(Echo);
        let req = Request::get("/")
            .header("n-d-version", "9")
            .body(())
            .unwrap();
        match svc.call(req).into_inner() {
            Ok(r) => r,
            Err(never) => match never {},
        }
    }

    #[test]
    fn apply_headers_false_only_adds_the_decision() {
        let engine = Arc::new(
            Engine::from_str(
                "version: 1\ngroups: { g: { nodes: [{ address: \"127.0.0.1:1\" }] } }\ndefault: g\n",
                Format::Yaml,
            )
            .unwrap(),
        );
        let req = call(GrayLayer::new(engine.clone()).apply_headers(false));
        assert_eq!(req.headers()["n-d-version"], "9");
        assert_eq!(req.extensions().get::<Decision>().unwrap().group(), "g");
        let req = call(GrayLayer::new(engine.clone()));
        assert!(!req.headers().contains_key("n-d-version"));
        let gray = Gray::new(Echo, engine.clone()).apply_headers(false);
        assert!(Arc::ptr_eq(gray.engine(), &engine));
        let _: Echo = gray.into_inner();
    }

    #[test]
    fn services_of_a_layer_share_the_header_cache_and_follow_reloads() {
        let spec = |tag: &str| {
            format!(
                "version: 1\ngroups: {{ g: {{ nodes: [{{ address: \"127.0.0.1:1\" }}] }} }}\n\
                 rules: [{{ id: r, when: {{ all: [] }}, route: g, set_headers: {{ x-gray: {tag} }} }}]\n\
                 default: g\n"
            )
        };
        let engine = Arc::new(Engine::from_str(&spec("one"), Format::Yaml).unwrap());
        let layer = GrayLayer::new(engine.clone());
        let mut a = layer.layer(Echo);
        let mut b = a.clone();
        let c = layer.layer(Echo);
        assert!(Arc::ptr_eq(&a.cache, &b.cache) && Arc::ptr_eq(&a.cache, &c.cache));
        assert!(!Arc::ptr_eq(
            &a.cache,
            &Gray::new(Echo, engine.clone()).cache
        ));
        let send = |svc: &mut Gray<Echo>| {
            let req = Request::get("/")
                .header("x-gray", "spoof")
                .body(())
                .unwrap();
            match svc.call(req).into_inner() {
                Ok(r) => r.headers()["x-gray"].to_str().unwrap().to_owned(),
                Err(never) => match never {},
            }
        };
        assert_eq!(send(&mut a), "one");
        assert_eq!(send(&mut b), "one");
        engine.reload_str(&spec("two"), Format::Yaml).unwrap();
        assert_eq!(send(&mut b), "two");
        assert_eq!(send(&mut a), "two");
    }
}
