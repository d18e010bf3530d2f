//! [`GroupSteer`]: dispatch each request to the service of its decided group.
//!
//! Put it inside [`crate::Gray`]; it reads the [`Decision`] extension and calls the service
//! registered for [`Decision::group`] (the serving group, after fallback), or the fallback
//! service for unknown groups and requests without a decision.
//!
//! ```
//! use std::{convert::Infallible, sync::Arc};
//! use gray_core::{Engine, Format};
//! use gray_tower::{GrayLayer, GroupSteer, PeerAddr};
//! use tower::{service_fn, util::BoxCloneService, Layer, ServiceExt};
//!
//! type Svc = BoxCloneService<http::Request<()>, &'static str, Infallible>;
//! let reply = |s: &'static str| -> Svc {
//!     BoxCloneService::new(service_fn(move |_req: http::Request<()>| async move { Ok(s) }))
//! };
//! let engine = Arc::new(Engine::from_str(r#"
//! version: 1
//! groups:
//!   blue: { nodes: [{ address: "127.0.0.1:7001" }] }
//!   green: { nodes: [{ address: "127.0.0.1:7002" }] }
//! rules: [{ id: header-a, when: { header: { name: a, equals: "1" } }, route: green }]
//! default: blue
//! "#, Format::Yaml)?);
//! let app = GrayLayer::new(engine).layer(
//!     GroupSteer::new(reply("fallback")).route("blue", reply("blue")).route("green", reply("green")),
//! );
//!
//! let rt = tokio::runtime::Builder::new_current_thread().build()?;
//! let req = http::Request::get("/").header("a", "1").body(())?;
//! assert_eq!(rt.block_on(app.clone().oneshot(req))?, "green");
//! let req = http::Request::get("/").body(())?;
//! assert_eq!(rt.block_on(app.oneshot(req))?, "blue");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::task::{Context, Poll};

use gray_core::Decision;
use http::Request;
use tower_service::Service;

/// Routes requests to per-group services by their [`Decision`].
///
/// Like tower's `Steer`, it is ready only when every service is ready, and calls exactly one.
#[derive(Debug, Clone)]
pub struct GroupSteer<S> {
    routes: Vec<(Box<str>, S)>,
    fallback: S,
}

impl<S> GroupSteer<S> {
    /// A steer that sends everything to `fallback` until groups are added with
    /// [`GroupSteer::route`].
    pub fn new(fallback: S) -> Self {
        GroupSteer {
            routes: Vec::new(),
            fallback,
        }
    }

    /// Sends requests served by `group` to `service` (replacing an earlier one).
    pub fn route(mut self, group: impl Into<Box<str>>, service: S) -> Self {
        let group = group.into();
        match self.routes.iter_mut().find(|(g, _)| *g == group) {
            Some(slot) => slot.1 = service,
            None => self.routes.push((group, service)),
        }
        self
    }

    /// The service for `group`, if one was registered.
    pub fn get(&self, group: &str) -> Option<&S> {
        self.routes
            .iter()
            .find(|(g, _)| &**g == group)
            .map(|(_, s)| s)
    }

    /// The service used for unknown groups.
    pub fn fallback(&self) -> &S {
        &self.fallback
    }
}

impl<S, B> Service<Request<B>> for GroupSteer<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let mut pending = false;
        for (_, s) in &mut self.routes {
            match s.poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => pending = true,
            }
        }
        match self.fallback.poll_ready(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) if !pending => Poll::Ready(Ok(())),
            _ => Poll::Pending,
        }
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let slot = req.extensions().get::<Decision>().and_then(|d| {
            let group = d.group();
            self.routes.iter().position(|(g, _)| &**g == group)
        });
        match slot {
            Some(i) => self.routes[i].1.call(req),
            None => self.fallback.call(req),
        }
    }
}
