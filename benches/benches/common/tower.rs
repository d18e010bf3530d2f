//! What the `tower` benchmark and the `tower-loop` profiling driver share: the trivial inner
//! service and the `http::Request` a proxy would hand the layer. Included by both with
//! `#[path]` (the fixtures need gray-tower and http, which are dev-dependencies, so they
//! cannot live in the `gray-benches` library).

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::net::SocketAddr;
use std::task::{Context, Poll};

use gray_core::SimpleRequest;
use gray_tower::PeerAddr;
use http::Request;
use tower_service::Service;

/// The innermost service: hands the request back.
#[derive(Clone, Copy)]
pub struct Echo;

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

/// The `http::Request` a proxy would hand the layer for `r`.
pub fn http_request(r: &SimpleRequest) -> Request<()> {
    let uri = match &r.query {
        Some(q) => format!("{}?{q}", r.path),
        None => r.path.clone(),
    };
    let mut b = Request::builder().method(r.method.as_str()).uri(uri);
    if let Some(h) = &r.host {
        b = b.header("host", h.as_str());
    }
    for (k, v) in &r.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    let mut req = b.body(()).expect("valid request");
    req.extensions_mut()
        .insert(PeerAddr(SocketAddr::new(r.peer, 40_000)));
    req
}
