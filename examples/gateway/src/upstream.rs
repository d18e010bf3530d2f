//! Demo upstream servers: the stable and canary backends the gateway starts in demo mode, also
//! used by the tests.
//!
//! Every response carries `x-upstream: NAME` and `x-upstream-addr: ADDR`. `GET /echo` answers
//! a JSON object with the name, method, path and every request header (as received), so the
//! forwarded headers can be checked; `GET /status/NNN` answers with status NNN (a failing
//! backend on demand); any other path answers `NAME (ADDR)` plus a newline.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::net::TcpListener;

use crate::body::Body;
use crate::server::{serve, serve_tls, ServerHandle, ServerLimits};

/// A running demo upstream.
#[derive(Debug)]
pub struct DemoUpstream {
    name: String,
    server: ServerHandle,
}

impl DemoUpstream {
    /// Binds `addr` (port 0 for an ephemeral port) and serves as `name`.
    pub async fn start(name: &str, addr: SocketAddr) -> std::io::Result<DemoUpstream> {
        DemoUpstream::start_with(name, addr, None).await
    }

    /// [`DemoUpstream::start`] over HTTPS with `tls` (an HTTPS node for the gateway).
    pub async fn start_tls(
        name: &str,
        addr: SocketAddr,
        tls: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<DemoUpstream> {
        DemoUpstream::start_with(name, addr, Some(tls)).await
    }

    async fn start_with(
        name: &str,
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> std::io::Result<DemoUpstream> {
        let listener = TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let label = name.to_owned();
        let svc = tower::service_fn(move |req: Request<Incoming>| {
            let label = label.clone();
            async move { Ok::<_, Infallible>(reply(&label, bound, req).await) }
        });
        let server = match tls {
            Some(tls) => serve_tls(listener, svc, ServerLimits::default(), tls)?,
            None => serve(listener, svc)?,
        };
        Ok(DemoUpstream {
            name: name.to_owned(),
            server,
        })
    }

    /// The name it answers with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.server.accepted()
    }

    /// Kills it: the listener and every open connection are dropped at once.
    pub fn kill(&self) {
        self.server.abort();
    }
}

async fn reply(name: &str, addr: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    // Drain the request body (uploads stream through the gateway).
    let received = body
        .collect()
        .await
        .map(|b| b.to_bytes().len())
        .unwrap_or(0);
    let text = if parts.uri.path() == "/echo" {
        let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in &parts.headers {
            headers
                .entry(k.as_str().to_owned())
                .or_default()
                .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
        }
        serde_json::json!({
            "upstream": name,
            "addr": addr.to_string(),
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "version": format!("{:?}", parts.version),
            "tls": parts.extensions.get::<crate::server::ClientTls>().is_some(),
            "body_bytes": received,
            "headers": headers,
        })
        .to_string()
    } else {
        format!("{name} ({addr})\n")
    };
    let mut resp = Response::new(
        Full::new(Bytes::from(text))
            .map_err(|never| match never {})
            .boxed(),
    );
    if let Some(code) = parts
        .uri
        .path()
        .strip_prefix("/status/")
        .and_then(|c| c.parse::<u16>().ok())
        .and_then(|c| http::StatusCode::from_u16(c).ok())
    {
        *resp.status_mut() = code;
    }
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(name) {
        h.insert("x-upstream", v);
    }
    if let Ok(v) = HeaderValue::from_str(&addr.to_string()) {
        h.insert("x-upstream-addr", v);
    }
    resp
}
