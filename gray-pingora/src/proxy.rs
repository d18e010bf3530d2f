//! [`GrayProxy`]: a pingora [`ProxyHttp`] service that routes every request with gray.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gray_core::{Decision, Engine};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};

use crate::{apply, decide, report, upstream_peer};

/// A reverse proxy routed by gray, one phase per building block:
///
/// * `request_filter` decides ([`decide`]) and answers 503 when no group has an available node;
/// * `upstream_peer` connects to the decided node ([`upstream_peer`]), once: a failed connect
///   is not retried on the same node;
/// * `upstream_request_filter` strips inbound routing headers and sets the decision's
///   ([`apply`]);
/// * `upstream_response_filter` notes the status and the time to the response headers;
/// * `logging` records the outcome ([`report`]): the status, or the error's kind.
#[derive(Debug, Clone)]
pub struct GrayProxy {
    engine: Arc<Engine>,
}

impl GrayProxy {
    /// A proxy deciding with `engine` (reloads and node changes of the engine apply to the
    /// next request).
    pub fn new(engine: Arc<Engine>) -> Self {
        GrayProxy { engine }
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }
}

/// The per-request state of [`GrayProxy`].
#[derive(Debug, Default)]
pub struct GrayCtx {
    /// The request's decision, once `request_filter` ran.
    pub decision: Option<Decision>,
    /// When the upstream peer was handed to pingora (the connect starts).
    pub started: Option<Instant>,
    /// The upstream's response status.
    pub status: Option<u16>,
    /// From `started` to the upstream's response headers.
    pub latency: Option<Duration>,
}

#[async_trait]
impl ProxyHttp for GrayProxy {
    type CTX = GrayCtx;

    fn new_ctx(&self) -> GrayCtx {
        GrayCtx::default()
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut GrayCtx) -> Result<bool> {
        let decision = decide(&self.engine, session);
        let none = decision.no_upstream();
        ctx.decision = Some(decision);
        if none {
            session.respond_error(503).await?;
        }
        Ok(none)
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut GrayCtx,
    ) -> Result<Box<HttpPeer>> {
        let peer = ctx
            .decision
            .as_ref()
            .and_then(upstream_peer)
            .ok_or_else(|| Error::explain(ErrorType::HTTPStatus(503), "gray: no upstream node"))?;
        ctx.started = Some(Instant::now());
        Ok(Box::new(peer))
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        _ctx: &mut GrayCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        // One attempt: the failure is recorded in `logging`, and passive health decides
        // whether the node takes the next request.
        e.set_retry(false);
        e
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut GrayCtx,
    ) -> Result<()> {
        if let Some(decision) = &ctx.decision {
            apply(decision, upstream_request);
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut GrayCtx,
    ) -> Result<()> {
        if !upstream_response.status.is_informational() {
            ctx.status = Some(upstream_response.status.as_u16());
            ctx.latency = ctx.started.map(|t| t.elapsed());
        }
        Ok(())
    }

    async fn logging(&self, _session: &mut Session, e: Option<&Error>, ctx: &mut GrayCtx) {
        let (Some(decision), Some(started)) = (&ctx.decision, ctx.started) else {
            return; // no upstream exchange: nothing to say about a node
        };
        let latency = ctx.latency.unwrap_or_else(|| started.elapsed());
        report(&self.engine, decision, ctx.status, e, latency);
    }
}
