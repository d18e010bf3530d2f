//! Where the TCP peer address of a request comes from.
//!
//! Servers put the peer address into the request extensions: hyper users insert a
//! [`PeerAddr`] per connection, axum users serve with
//! `into_make_service_with_connect_info::<SocketAddr>()` (feature `axum`, on by default).
//!
//! ```
//! use std::net::SocketAddr;
//! use gray_tower::{peer_addr, PeerAddr};
//!
//! let mut req = http::Request::new(());
//! assert_eq!(peer_addr(req.extensions()), None);
//! let addr: SocketAddr = "10.0.0.7:51000".parse()?;
//! req.extensions_mut().insert(PeerAddr(addr));
//! assert_eq!(peer_addr(req.extensions()), Some(addr));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::SocketAddr;

use http::Extensions;

/// The TCP peer of the connection a request arrived on, as a request extension.
///
/// Insert it per connection in a hyper server (see the crate docs); [`crate::Gray`] reads it to
/// resolve the client IP (forwarded headers are believed only when this peer is a trusted
/// proxy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);

/// The peer address of a request: a [`PeerAddr`] extension, else axum's
/// `ConnectInfo<SocketAddr>` (feature `axum`), else `None`.
pub fn peer_addr(extensions: &Extensions) -> Option<SocketAddr> {
    if let Some(PeerAddr(addr)) = extensions.get::<PeerAddr>() {
        return Some(*addr);
    }
    #[cfg(feature = "axum")]
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(info.0);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_addr_extension_wins_over_connect_info() {
        let mut ext = Extensions::new();
        let a: SocketAddr = "10.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:2".parse().unwrap();
        #[cfg(feature = "axum")]
        {
            ext.insert(axum::extract::ConnectInfo(b));
            assert_eq!(peer_addr(&ext), Some(b));
        }
        ext.insert(PeerAddr(a));
        assert_eq!(peer_addr(&ext), Some(a));
        let _ = b;
    }
}
