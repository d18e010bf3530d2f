//! A shorter way for plain HTTP/1.1 connections: a [`Shortcut`] serves a connection's requests
//! itself, straight from the socket, for as long as they have the shape it handles, and hands
//! the connection (with the bytes it already read) to hyper at the first one it does not.
//!
//! The server knows nothing of what a shortcut does; the gateway's is [`crate::fast`].

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::sync::watch;

use super::limits::ServerLimits;

/// A plain (not TLS) client connection lent to a [`Shortcut`].
pub struct Http1Conn<'a> {
    /// The client's socket.
    pub stream: &'a mut TcpStream,
    /// The client's address.
    pub peer: SocketAddr,
    /// Bytes read from the socket and not consumed yet. On [`Ending::Hyper`] they are the
    /// start of what hyper reads.
    pub read: &'a mut Vec<u8>,
    /// The server's limits (header and keep-alive timeouts apply to the shortcut too).
    pub limits: ServerLimits,
    /// Becomes `true` when the server stops: a shortcut finishes the exchange under way and
    /// closes the connection.
    pub stopped: &'a mut watch::Receiver<bool>,
}

/// How a [`Shortcut`] gave a connection back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The connection is finished (closed by either side, timed out, or the server stops).
    Closed,
    /// The next request is one the shortcut does not serve: hyper serves the connection from
    /// here on, starting with the bytes in [`Http1Conn::read`]. `served` requests were
    /// answered before.
    Hyper {
        /// Requests the shortcut answered on this connection.
        served: u64,
    },
}

/// Serves plain HTTP/1.1 connections without hyper while their requests allow it.
pub trait Shortcut: Send + Sync + 'static {
    /// Serves `conn` until it ends or must go to hyper.
    fn serve<'a>(
        &'a self,
        conn: Http1Conn<'a>,
    ) -> Pin<Box<dyn Future<Output = Ending> + Send + 'a>>;
}

/// A worker's shortcut, if it has one.
pub type SharedShortcut = Option<Arc<dyn Shortcut>>;
