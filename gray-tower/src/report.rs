//! [`ReportLayer`] / [`Report`]: feed response outcomes back to passive health.
//!
//! After the inner service answers, the request's [`Decision`] is reported with
//! [`Engine::report`]: an error (connect failure, timeout, ...) or a response whose status the
//! classifier rejects (default: any 5xx) counts as a failure, which is what ejects a node after
//! `max_fails` failures within `fail_timeout`. Place it inside [`crate::Gray`].
//!
//! ```
//! use std::{convert::Infallible, sync::Arc};
//! use gray_core::{Engine, Format};
//! use gray_tower::{GrayLayer, ReportLayer};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! let engine = Arc::new(Engine::from_str(r#"
//! version: 1
//! groups:
//!   stable: { nodes: [{ address: "127.0.0.1:7001" }] }
//!   canary: { nodes: [{ address: "127.0.0.1:7002", max_fails: 1 }], fallback: stable }
//! rules: [{ id: all, when: { all: [] }, route: canary }]
//! default: stable
//! "#, Format::Yaml)?);
//! let app = ServiceBuilder::new()
//!     .layer(GrayLayer::new(engine.clone()))
//!     .layer(ReportLayer::new(engine.clone()))
//!     .service(service_fn(|_req: http::Request<()>| async {
//!         Ok::<_, Infallible>(http::Response::builder().status(502).body(()).unwrap())
//!     }));
//! let rt = tokio::runtime::Builder::new_current_thread().build()?;
//! rt.block_on(app.oneshot(http::Request::new(())))?;
//! // The canary node failed once (max_fails 1): it is ejected and stable takes over.
//! assert_eq!(engine.nodes("canary")?.nodes[0].health, "down");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use gray_core::{Decision, Engine};
use http::{Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

/// Decides whether a response status counts as success for passive health.
pub type Classifier = fn(StatusCode) -> bool;

/// The default classifier: everything below 500 is a success.
pub fn not_server_error(status: StatusCode) -> bool {
    !status.is_server_error()
}

/// Wraps services in [`Report`].
#[derive(Debug, Clone)]
pub struct ReportLayer {
    engine: Arc<Engine>,
    classify: Classifier,
}

impl ReportLayer {
    /// Reports to `engine`, classifying with [`not_server_error`].
    pub const fn new(engine: Arc<Engine>) -> Self {
        ReportLayer {
            engine,
            classify: not_server_error,
        }
    }

    /// Uses `classify` to decide which statuses are successes.
    pub const fn classify(mut self, classify: Classifier) -> Self {
        self.classify = classify;
        self
    }
}

impl<S> Layer<S> for ReportLayer {
    type Service = Report<S>;

    fn layer(&self, inner: S) -> Report<S> {
        Report {
            inner,
            engine: self.engine.clone(),
            classify: self.classify,
        }
    }
}

/// Middleware reporting each response's outcome for the request's [`Decision`].
#[derive(Debug, Clone)]
pub struct Report<S> {
    inner: S,
    engine: Arc<Engine>,
    classify: Classifier,
}

impl<S> Report<S> {
    /// Wraps `inner`.
    pub const fn new(inner: S, engine: Arc<Engine>) -> Self {
        Report {
            inner,
            engine,
            classify: not_server_error,
        }
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

impl<S, B, RB> Service<Request<B>> for Report<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = ReportFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let report = req
            .extensions()
            .get::<Decision>()
            .cloned()
            .map(|d| (self.engine.clone(), d, self.classify));
        ReportFuture {
            inner: self.inner.call(req),
            report,
        }
    }
}

pin_project_lite::pin_project! {
    /// Response future of [`Report`].
    pub struct ReportFuture<F> {
        #[pin]
        inner: F,
        report: Option<(Arc<Engine>, Decision, Classifier)>,
    }
}

impl<F, RB, E> Future for ReportFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
{
    type Output = Result<Response<RB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = ready!(this.inner.poll(cx));
        if let Some((engine, decision, classify)) = this.report.take() {
            let ok = match &out {
                Ok(resp) => classify(resp.status()),
                Err(_) => false,
            };
            engine.report(&decision, ok);
        }
        Poll::Ready(out)
    }
}
