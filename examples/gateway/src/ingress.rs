//! What the gateway does to a client's request before gray decides: one view of the request
//! for the decision and for the upstream.
//!
//! * **Hop-by-hop headers go first** (RFC 9110 §7.6.1): `Connection`, every header it names,
//!   `Keep-Alive`, `TE`, `Upgrade`, ... are removed before the decision, so a client cannot
//!   use `Connection: x-gray` to remove a header the decision sets on the forwarded request.
//! * **The target's authority is the host** (RFC 9112 §3.2.2): for an absolute-form request
//!   (`GET http://a.example/ HTTP/1.1`) and for HTTP/2's `:authority`, `Host` is replaced by
//!   the URI's authority, so the rules see and the upstream receives the same host.
//! * **An HTTP/1.1 `Upgrade` is recorded** before `Upgrade` is removed ([`tunnel::Upgrade`]), so
//!   the proxy can tunnel it to the decided node ([`crate::tunnel`]).
//! * **`CONNECT` is answered by the gateway** (405): it is a reverse proxy, not a tunnel to
//!   arbitrary hosts. An HTTP/2 extended `CONNECT` (RFC 8441) with `:protocol websocket` is the
//!   exception: it becomes the `GET` WebSocket upgrade it stands for, marked with
//!   [`ExtendedConnect`] and [`tunnel::Upgrade`], and is decided and forwarded like one
//!   ([`crate::tunnel::h2`]); any other `:protocol` is answered **501**.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use tower::{Layer, Service};

use crate::forward::remove_hop_by_hop;
use crate::proxy::{text_response, Body};
use crate::tunnel::{self, h2::ExtendedConnect, Upgrade};

/// Wraps a service in [`Ingress`].
#[derive(Debug, Clone, Copy, Default)]
pub struct IngressLayer;

impl<S> Layer<S> for IngressLayer {
    type Service = Ingress<S>;

    fn layer(&self, inner: S) -> Ingress<S> {
        Ingress { inner }
    }
}

/// Normalises requests before the inner service (gray's layer) sees them; see the
/// [module docs](self).
#[derive(Debug, Clone)]
pub struct Ingress<S> {
    inner: S,
}

/// Applies the normalisation to `req` in place; returns the gateway's own answer for a request
/// that must not go upstream (a `CONNECT`, but for WebSocket over HTTP/2).
pub fn normalize<B>(req: &mut Request<B>) -> Option<Response<Body>> {
    let mut websocket = None;
    if req.method() == Method::CONNECT {
        match req.extensions().get::<hyper::ext::Protocol>() {
            Some(p) if p.as_str().eq_ignore_ascii_case("websocket") => {
                match ExtendedConnect::websocket() {
                    Ok(ws) => websocket = Some(ws),
                    Err(e) => {
                        return Some(text_response(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
                    }
                }
            }
            Some(p) => {
                return Some(text_response(
                    StatusCode::NOT_IMPLEMENTED,
                    format!(
                        "extended CONNECT for the protocol {:?} is not supported: only websocket (RFC 8441)",
                        p.as_str()
                    ),
                ))
            }
            None => {}
        }
    }
    if websocket.is_some() {
        *req.method_mut() = Method::GET;
    } else if req.method() == Method::CONNECT {
        let mut resp = text_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "CONNECT is not supported: this gateway is a reverse proxy, not a tunnel",
        );
        resp.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
        );
        return Some(resp);
    }
    let authority = req.uri().authority().map(|a| {
        let s = a.as_str();
        s.rsplit_once('@').map_or(s, |(_, host)| host).to_owned()
    });
    if let Some(host) = authority.and_then(|a| HeaderValue::from_str(&a).ok()) {
        req.headers_mut().insert(header::HOST, host);
    }
    let upgrade = tunnel::requested(req.version(), req.headers());
    remove_hop_by_hop(req.headers_mut());
    if let Some(upgrade) = upgrade {
        req.extensions_mut().insert(upgrade);
    }
    if let Some(ws) = websocket {
        let ext = req.extensions_mut();
        ext.insert(Upgrade(HeaderValue::from_static("websocket")));
        ext.insert(ws);
    }
    None
}

impl<S, B> Service<Request<B>> for Ingress<S>
where
    S: Service<Request<B>, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = IngressFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        match normalize(&mut req) {
            None => IngressFuture::inner(self.inner.call(req)),
            Some(resp) => IngressFuture::answered(resp),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Ingress`]: the inner service's, or the gateway's own answer.
    pub struct IngressFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProjection]
    enum State<F> {
        Inner { #[pin] future: F },
        Answered { answer: Option<Response<Body>> },
    }
}

impl<F> IngressFuture<F> {
    fn inner(future: F) -> Self {
        IngressFuture {
            state: State::Inner { future },
        }
    }

    fn answered(resp: Response<Body>) -> Self {
        IngressFuture {
            state: State::Answered { answer: Some(resp) },
        }
    }
}

impl<F> Future for IngressFuture<F>
where
    F: Future<Output = Result<Response<Body>, Infallible>>,
{
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProjection::Inner { future } => future.poll(cx),
            StateProjection::Answered { answer } => match answer.take() {
                Some(resp) => Poll::Ready(Ok(resp)),
                None => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_named_headers_are_removed_before_the_decision() {
        let mut req = Request::get("/")
            .header("connection", "x-gray, Keep-Alive")
            .header("x-gray", "client")
            .header("keep-alive", "timeout=5")
            .header("accept", "*/*")
            .body(())
            .unwrap();
        assert!(normalize(&mut req).is_none());
        assert!(req.headers().get("x-gray").is_none());
        assert!(req.headers().get("connection").is_none());
        assert_eq!(req.headers()["accept"], "*/*");
    }

    #[test]
    fn the_absolute_form_authority_replaces_host() {
        let mut req = Request::get("http://user@x.beta.example.com:8080/a")
            .header("host", "www.example.com")
            .body(())
            .unwrap();
        assert!(normalize(&mut req).is_none());
        assert_eq!(req.headers()["host"], "x.beta.example.com:8080");
        let mut req = Request::get("/a")
            .header("host", "www.example.com")
            .body(())
            .unwrap();
        assert!(normalize(&mut req).is_none());
        assert_eq!(req.headers()["host"], "www.example.com");
    }

    #[test]
    fn an_extended_connect_for_websocket_becomes_its_get_upgrade() {
        let mut req = Request::connect("https://shop.test/chat")
            .header("sec-websocket-version", "13")
            .body(())
            .unwrap();
        req.extensions_mut()
            .insert(hyper::ext::Protocol::from_static("websocket"));
        assert!(normalize(&mut req).is_none());
        assert_eq!(req.method(), Method::GET);
        assert_eq!(req.headers()["host"], "shop.test");
        assert_eq!(
            req.extensions().get::<Upgrade>(),
            Some(&Upgrade(HeaderValue::from_static("websocket")))
        );
        assert!(req.extensions().get::<ExtendedConnect>().is_some());
        let mut req = Request::connect("https://shop.test/udp").body(()).unwrap();
        req.extensions_mut()
            .insert(hyper::ext::Protocol::from_static("connect-udp"));
        let resp = normalize(&mut req).expect("answered by the gateway");
        assert_eq!(resp.status(), StatusCode::NOT_IMPLEMENTED);
    }

    #[test]
    fn connect_is_answered_with_405() {
        let mut req = Request::connect("example.com:443").body(()).unwrap();
        let resp = normalize(&mut req).expect("answered by the gateway");
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(resp.headers().contains_key("allow"));
    }
}
