//! A node's shared HTTP/2 connection: one `http2::SendRequest` per node and worker, cloned for
//! every request (multiplexed, never checked out), made on first use and replaced once closed.
//!
//! Concurrent first requests share one connection attempt: the slot holds a cell that the
//! first of them fills by connecting while the others wait on it, and whatever connecting gave
//! — the connection, the node's choice of HTTP/1.1 in ALPN, or the failure — is what all of
//! them get. A closed connection, a failure, and an HTTP/1.1 choice older than the idle timeout
//! are replaced by a fresh cell on the next request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::header;
use http::uri::{Authority, Scheme};
use http::{Request, Uri, Version};
use hyper::client::conn::http2;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::body::{Body, BoxError};
use crate::forward::{origin_form, remove_hop_by_hop};

/// What connecting to an HTTP/2 node gave, shared by the requests that waited for it.
pub(super) enum Shared {
    /// The node's multiplexed connection.
    H2(http2::SendRequest<Body>),
    /// The node selected HTTP/1.1 in ALPN at this time: its requests use pooled HTTP/1.1
    /// connections until the idle timeout has passed.
    Http1(Instant),
    /// Connecting failed; the next request tries again.
    Failed {
        /// The connect timeout passed.
        timed_out: bool,
        /// The innermost cause.
        reason: String,
    },
}

impl Shared {
    /// The failure of `e`, for the requests that waited on the attempt.
    pub(super) fn failed(e: &BoxError) -> Shared {
        let mut cause: &(dyn std::error::Error + 'static) = e.as_ref();
        let mut timed_out = false;
        loop {
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                timed_out |= io.kind() == std::io::ErrorKind::TimedOut;
            }
            match cause.source() {
                Some(next) => cause = next,
                None => break,
            }
        }
        Shared::Failed {
            timed_out,
            reason: cause.to_string(),
        }
    }

    /// The error a request that waited on a failed attempt reports: timed out or not, with
    /// the same reason.
    pub(super) fn error(timed_out: bool, reason: &str) -> BoxError {
        let kind = if timed_out {
            std::io::ErrorKind::TimedOut
        } else {
            std::io::ErrorKind::Other
        };
        Box::new(std::io::Error::new(kind, reason.to_owned()))
    }
}

/// A connection attempt and its result.
pub(super) type Cell = Arc<OnceCell<Shared>>;

/// A node's HTTP/2 state (part of its pool slot).
#[derive(Default)]
pub(super) struct H2Slot {
    state: Mutex<State>,
    /// Streams whose response has not ended: the connection is not idle while any is open.
    streams: Arc<AtomicUsize>,
}

#[derive(Default)]
struct State {
    cell: Option<Cell>,
    /// When the last stream started.
    last_used: Option<Instant>,
}

impl H2Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cell to use: the current one while it is being filled or still good, else a fresh
    /// one (which the caller fills by connecting).
    pub(super) fn current(&self, idle: Duration) -> Cell {
        let mut state = self.lock();
        if let Some(cell) = &state.cell {
            let good = match cell.get() {
                None => true,
                Some(Shared::H2(sender)) => !sender.is_closed(),
                Some(Shared::Http1(since)) => since.elapsed() < idle,
                Some(Shared::Failed { .. }) => false,
            };
            if good {
                return cell.clone();
            }
        }
        let cell = Cell::default();
        state.cell = Some(cell.clone());
        cell
    }

    /// Makes `sender` (a connection that was made outside the cell) the shared connection,
    /// unless a live one is there.
    pub(super) fn install(&self, sender: http2::SendRequest<Body>) {
        let mut state = self.lock();
        let live = state
            .cell
            .as_ref()
            .and_then(|c| c.get())
            .is_some_and(|s| matches!(s, Shared::H2(s) if !s.is_closed()));
        if !live {
            state.cell = Some(Arc::new(OnceCell::new_with(Some(Shared::H2(sender)))));
        }
    }

    /// Drops `cell` if it is still the current one (its connection turned out closed).
    pub(super) fn forget(&self, cell: &Cell) {
        let mut state = self.lock();
        if state.cell.as_ref().is_some_and(|c| Arc::ptr_eq(c, cell)) {
            state.cell = None;
        }
    }

    /// Counts a stream as open until the returned guard is dropped.
    pub(super) fn stream(&self) -> OpenStream {
        self.streams.fetch_add(1, Ordering::AcqRel);
        self.lock().last_used = Some(Instant::now());
        OpenStream(self.streams.clone())
    }

    /// Closes the shared connection when no stream is open and none started for `idle`, or
    /// when it is closed already; forgets a failure and an HTTP/1.1 choice past `idle`.
    pub(super) fn sweep(&self, now: Instant, idle: Duration) {
        let mut state = self.lock();
        let Some(shared) = state.cell.as_ref().and_then(|c| c.get()) else {
            return;
        };
        let unused = state
            .last_used
            .is_none_or(|at| now.duration_since(at) >= idle);
        let drop_it = match shared {
            Shared::H2(sender) => {
                sender.is_closed() || (unused && self.streams.load(Ordering::Acquire) == 0)
            }
            Shared::Http1(since) => now.duration_since(*since) >= idle,
            Shared::Failed { .. } => true,
        };
        if drop_it {
            // The last `SendRequest` of an idle connection: dropping it closes the connection.
            state.cell = None;
        }
    }
}

/// An open stream of a shared connection (held by its response body).
pub(super) struct OpenStream(Arc<AtomicUsize>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Rewrites a request for HTTP/2: an absolute URI (`:scheme` `https` over TLS else `http`,
/// `:authority` from `Host`, which is removed, else the node) and no connection-specific
/// headers (RFC 9113 §8.2.2: the hop-by-hop ones, which the proxy removed already; hyper's
/// client would strip them with a warning). Leaves a request already in this form as it is.
pub(super) fn h2_form(req: &mut Request<Body>, https: bool, node: &str) {
    let headers = req.headers_mut();
    remove_hop_by_hop(headers);
    let authority = headers
        .get(header::HOST)
        .and_then(|h| Authority::try_from(h.as_bytes()).ok());
    if authority.is_some() {
        headers.remove(header::HOST);
    }
    let authority = authority
        .or_else(|| req.uri().authority().cloned())
        .or_else(|| Authority::try_from(node).ok());
    let mut uri = Uri::builder().scheme(if https { Scheme::HTTPS } else { Scheme::HTTP });
    if let Some(a) = authority {
        uri = uri.authority(a);
    }
    let pq = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    if let Ok(uri) = uri.path_and_query(pq).build() {
        *req.uri_mut() = uri;
    }
    *req.version_mut() = Version::HTTP_2;
}

/// Rewrites a request back for HTTP/1.1 (one that [`h2_form`] rewrote before the node chose
/// HTTP/1.1): origin-form, `Host` from the authority. Leaves an origin-form request as it is.
pub(super) fn http1_form(req: &mut Request<Body>) {
    if let Some(authority) = req.uri().authority() {
        if !req.headers().contains_key(header::HOST) {
            if let Ok(host) = header::HeaderValue::from_str(authority.as_str()) {
                req.headers_mut().insert(header::HOST, host);
            }
        }
        *req.uri_mut() = origin_form(req.uri());
    }
    *req.version_mut() = Version::HTTP_11;
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Empty};

    fn empty() -> Body {
        Empty::new().map_err(|never| match never {}).boxed()
    }

    #[test]
    fn the_h2_form_has_scheme_and_authority_and_no_connection_headers() {
        let mut req = Request::get("/a?b=c")
            .header("host", "shop.test")
            .header("te", "gzip")
            .header("connection", "keep-alive")
            .header("accept", "*/*")
            .body(empty())
            .unwrap();
        h2_form(&mut req, false, "127.0.0.1:9000");
        assert_eq!(req.uri(), "http://shop.test/a?b=c");
        assert_eq!(req.version(), Version::HTTP_2);
        let h = req.headers();
        assert!(h.get("host").is_none() && h.get("te").is_none() && h.get("connection").is_none());
        assert_eq!(h["accept"], "*/*");
        // Again: unchanged.
        h2_form(&mut req, false, "127.0.0.1:9000");
        assert_eq!(req.uri(), "http://shop.test/a?b=c");
        // Back to HTTP/1.1.
        http1_form(&mut req);
        assert_eq!(req.uri(), "/a?b=c");
        assert_eq!(req.headers()["host"], "shop.test");
        assert_eq!(req.version(), Version::HTTP_11);

        let mut req = Request::get("/").body(empty()).unwrap();
        h2_form(&mut req, true, "[::1]:8443");
        assert_eq!(req.uri(), "https://[::1]:8443/");
    }
}
