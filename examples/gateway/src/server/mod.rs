//! Serving a tower service on a TCP listener: HTTP/1.1 and HTTP/2 with prior knowledge (h2c)
//! on the same port, the peer address inserted into every request, connection limits and
//! timeouts ([`ServerLimits`]), graceful shutdown.
//!
//! # Limits (nginx's equivalents in brackets)
//!
//! * **Header timeout** (`client_header_timeout`, default 30 s): a new connection must send a
//!   complete request head within this time — a connection that never sends a byte is closed
//!   after it, and so is an HTTP/1.1 client that trickles its headers.
//! * **Keep-alive timeout** (`keepalive_timeout`, default 75 s): a connection with no request
//!   in flight and no bytes moving either way for this long is closed (HTTP/1.1 keep-alive and
//!   HTTP/2 alike; HTTP/2 gets a GOAWAY first).
//! * **Connection cap** (`worker_connections`): at most `max_connections` client connections
//!   are served (shared by every worker); at the cap each accept loop holds the one connection
//!   it accepted last unserved and stops accepting (new clients wait in the kernel's backlog)
//!   instead of running the process out of file descriptors. The default is derived
//!   from the process's open-file limit, leaving room for one upstream connection per client
//!   connection and for the admin listener.
//! * **Accept errors** (`EMFILE`, `ENFILE`, ...) back off and are logged at most once a
//!   second with a count, so the listener recovers by itself when descriptors free up.
//!
//! # TLS
//!
//! [`serve_tls`] terminates TLS ([`crate::tls`]) before HTTP: the handshake must finish within
//! the header timeout, ALPN `h2` selects HTTP/2 and anything else HTTP/1.1. Requests of a TLS
//! connection carry the [`ClientTls`] extension.
//!
//! # Upgrades and graceful shutdown
//!
//! HTTP/1.1 connections are served with upgrades (`101 Switching Protocols`, e.g. WebSocket),
//! and HTTP/2 announces `SETTINGS_ENABLE_CONNECT_PROTOCOL` for RFC 8441 extended `CONNECT`
//! (WebSocket over HTTP/2): every request that asks for either carries a [`ConnectionLease`],
//! which a tunnel that outlives its exchange keeps so the connection still counts against the
//! cap and takes part in shutdown, and with which it keeps an HTTP/2 connection from counting
//! as idle while the tunnel is open.
//!
//! [`ServerHandle::stop`] closes the listener at once (new connections are refused), lets
//! every open connection finish its requests — HTTP/1.1 closes after the current exchange,
//! HTTP/2 sends GOAWAY — and waits for tunnels, for at most
//! [`ServerLimits::shutdown_timeout`]; whatever is still open then is cut.

//!
//! # Files
//!
//! [`limits`](ServerLimits) → `lease` ([`ConnectionLease`], [`ClientTls`]) → `conn` (one
//! connection) → `accept` (the accept loop, [`ServerHandle`]) → `shards` (one accept loop per
//! worker thread: [`serve_sharded`]); `shortcut` ([`Shortcut`]: serving plain HTTP/1.1
//! connections without hyper while their requests allow it) is used by `conn`.

mod accept;
mod conn;
mod lease;
mod limits;
mod shards;
mod shortcut;

pub use accept::{serve, serve_tls, serve_with, ServerHandle};
pub use conn::{HttpService, ResponseBody};
pub use lease::{ClientTls, ConnectionLease, OpenTunnel};
pub use limits::{default_max_connections, open_file_limit, ServerLimits};
pub use shards::{bind_listeners, serve_sharded, serve_sharded_with, Listeners};
pub use shortcut::{Ending, Http1Conn, SharedShortcut, Shortcut};
