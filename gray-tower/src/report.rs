//! [`ReportLayer`] / [`Report`]: feed response outcomes back to passive health.
//!
//! After the inner service answers, the request's [`Decision`] is recorded with
//! [`Engine::record_timed`]: a response as [`Outcome::Status`], an error of the inner service as
//! [`Outcome::Reset`], with the time the inner service took until its response (headers), so
//! the node's latency histogram and live windows ([`Engine::traffic`]) see it. The *served group's* `fail_on` then decides what is a failure (default
//! `[error, timeout]`, as nginx's `proxy_next_upstream`: an inner error counts, no status
//! does), and failures eject a node after `max_fails` within `fail_timeout`. With a custom
//! [`classify`](ReportLayer::classify) function the layer classifies itself and reports with
//! [`Engine::report`] instead (an inner error is then always a failure); the outcome and latency
//! are still observed ([`Engine::observe`]). Place it inside
//! [`crate::Gray`].
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
//!   canary:
//!     nodes: [{ address: "127.0.0.1:7002", max_fails: 1 }]
//!     fallback: stable
//!     fail_on: [error, timeout, http_502]   # a 502 from the canary counts as a failure
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
use std::time::{Duration, Instant};

use gray_core::{Decision, Engine, Outcome};
use http::{Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

/// Decides whether a response status counts as success for passive health (`true`: success).
pub type Classifier = fn(StatusCode) -> bool;

/// A classifier that treats everything below 500 as a success, the layer's behaviour before
/// groups had `fail_on`: `ReportLayer::new(engine).classify(not_server_error)`.
pub fn not_server_error(status: StatusCode) -> bool {
    !status.is_server_error()
}

/// Wraps services in [`Report`].
#[derive(Debug, Clone)]
pub struct ReportLayer {
    engine: Arc<Engine>,
    classify: Option<Classifier>,
}

impl ReportLayer {
    /// Records to `engine` with [`Engine::record`]: the served group's `fail_on` classifies.
    pub const fn new(engine: Arc<Engine>) -> Self {
        ReportLayer {
            engine,
            classify: None,
        }
    }

    /// Classifies statuses with `classify` instead of the group's `fail_on` (reported with
    /// [`Engine::report`]; an inner service error is always a failure).
    pub const fn classify(mut self, classify: Classifier) -> Self {
        self.classify = Some(classify);
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
    classify: Option<Classifier>,
}

impl<S> Report<S> {
    /// Wraps `inner`, recording with [`Engine::record`] (the group's `fail_on` classifies).
    pub const fn new(inner: S, engine: Arc<Engine>) -> Self {
        Report {
            inner,
            engine,
            classify: None,
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
            started: report.as_ref().map(|_| Instant::now()),
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
        report: Option<(Arc<Engine>, Decision, Option<Classifier>)>,
        started: Option<Instant>,
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
            let latency = this.started.map_or(Duration::ZERO, |t| t.elapsed());
            let outcome = match &out {
                Ok(resp) => Outcome::Status(resp.status().as_u16()),
                Err(_) => Outcome::Reset,
            };
            match (classify, &out) {
                (None, _) => engine.record_timed(&decision, outcome, latency),
                (Some(classify), Ok(resp)) => {
                    engine.observe(&decision, outcome, latency);
                    engine.report(&decision, classify(resp.status()));
                }
                (Some(_), Err(_)) => {
                    engine.observe(&decision, outcome, latency);
                    engine.report(&decision, false);
                }
            }
        }
        Poll::Ready(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GrayLayer;
    use gray_core::Format;
    use tower::{service_fn, ServiceBuilder, ServiceExt};

    /// A canary (with a fallback, so it can be ejected) answering `status`, or failing.
    fn run(
        fail_on: &str,
        answer: Result<u16, &'static str>,
        classify: Option<Classifier>,
    ) -> &'static str {
        let engine = Arc::new(
            Engine::from_str(
                &format!(
                    "version: 1\ngroups:\n  stable: {{ nodes: [{{ address: \"127.0.0.1:7001\" }}] }}\n  \
                     canary: {{ nodes: [{{ address: \"127.0.0.1:7002\" }}], fallback: stable{fail_on} }}\n\
                     rules: [{{ id: all, route: canary }}]\ndefault: stable\n"
                ),
                Format::Yaml,
            )
            .unwrap(),
        );
        let mut report = ReportLayer::new(engine.clone());
        if let Some(c) = classify {
            report = report.classify(c);
        }
        let app = ServiceBuilder::new()
            .layer(GrayLayer::new(engine.clone()))
            .layer(report)
            .service(service_fn(move |_req: Request<()>| async move {
                answer.map(|s| Response::builder().status(s).body(()).unwrap())
            }));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _ = rt.block_on(app.oneshot(Request::new(())));
        engine.nodes("canary").unwrap().nodes[0].health
    }

    #[test]
    fn the_groups_fail_on_classifies_statuses_and_errors() {
        // Default fail_on: no status counts, an inner error (a reset) does.
        assert_eq!(run("", Ok(500), None), "up");
        assert_eq!(run("", Ok(503), None), "up");
        assert_eq!(run("", Err("upstream reset"), None), "down");
        assert_eq!(run(", fail_on: [http_503]", Ok(503), None), "down");
        assert_eq!(run(", fail_on: [http_503]", Ok(500), None), "up");
        assert_eq!(run(", fail_on: [timeout]", Err("reset"), None), "up");
    }

    #[test]
    fn a_custom_classifier_overrides_fail_on() {
        assert_eq!(run("", Ok(500), Some(not_server_error)), "down");
        assert_eq!(run(", fail_on: [http_5xx]", Ok(503), Some(|_| true)), "up");
        assert_eq!(run(", fail_on: []", Err("reset"), Some(|_| true)), "down");
        assert_eq!(run("", Ok(404), Some(not_server_error)), "up");
    }

    #[test]
    fn outcomes_and_latency_reach_the_traffic_record() {
        let engine = Arc::new(
            Engine::from_str(
                "version: 1\ngroups: { web: { nodes: [{ address: \"127.0.0.1:7001\" }] } }\n\
                 rules: [{ id: all, route: web }]\ndefault: web\n",
                Format::Yaml,
            )
            .unwrap(),
        );
        for classify in [None, Some(not_server_error as Classifier)] {
            let app = ServiceBuilder::new()
                .layer(GrayLayer::new(engine.clone()))
                .layer(match classify {
                    Some(c) => ReportLayer::new(engine.clone()).classify(c),
                    None => ReportLayer::new(engine.clone()),
                })
                .service(service_fn(|_req: Request<()>| async {
                    std::thread::sleep(Duration::from_millis(30));
                    Ok::<_, std::convert::Infallible>(
                        Response::builder().status(503).body(()).unwrap(),
                    )
                }));
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(app.oneshot(Request::new(()))).unwrap();
        }
        let t = engine.traffic();
        let w = &t.groups[0].window;
        assert_eq!(
            (w.requests, w.errors),
            (2, 2),
            "both layers' outcomes are observed"
        );
        // The inner service took at least 30 ms; the window's median bucket says so.
        assert!(w.p50_ms.unwrap() >= 30.0 * 0.875, "{w:?}");
        assert_eq!(t.rules[0].window.requests, 2);
    }
}
