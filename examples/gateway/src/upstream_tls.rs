//! HTTPS upstreams: which nodes are reached over TLS, and the client connector that does it.
//!
//! gray's node addresses are `host:port` without a scheme, so the gateway says which nodes
//! speak HTTPS ([`UpstreamTls::targets`]): a group name (every node of that group), a node
//! address (that node, in any group) or `*` (every node). The certificate of such a node is
//! verified against the CA certificates of [`UpstreamTls::ca_file`], or against the bundled
//! Mozilla roots (`webpki-roots`) without one, for the host of the node's address — an IP
//! address must be in the certificate's IP subject alternative names, a host name in its DNS
//! names. Upstream connections are HTTP/1.1 (no ALPN is sent) and pooled per scheme and node,
//! except for the nodes [`crate::upstream_h2`] names: to those the pool offers ALPN `h2,
//! http/1.1` and uses whichever the node selects ([`Connector::connect`]).
//!
//! Connecting — TCP and the TLS handshake together — is bounded by the connect timeout; a
//! handshake failure (an untrusted or wrong certificate) is a connect error: **502**, a failure
//! of the node for passive health, and retried elsewhere when the request allows it.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tower::Service as _;

use crate::body::BoxError;
use crate::tls::{provider, provider_error, read_certificates, TlsError, TlsErrorKind};

/// Which upstream nodes speak HTTPS and which CAs they are verified with; see the
/// [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpstreamTls {
    /// Group names, node addresses, or `*` for every node.
    pub targets: Vec<String>,
    /// PEM file of CA certificates trusted for upstream certificates; `None`: the bundled
    /// Mozilla roots.
    pub ca_file: Option<PathBuf>,
}

impl UpstreamTls {
    /// True when node `node` of group `group` is reached over HTTPS.
    pub fn applies(&self, group: &str, node: &str) -> bool {
        names(&self.targets, group, node)
    }

    /// The TLS client config: the CA file's certificates or the bundled roots.
    pub fn client_config(&self) -> Result<ClientConfig, TlsError> {
        let mut roots = RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                for cert in read_certificates(path)? {
                    roots.add(cert).map_err(|e| {
                        TlsError::new(
                            TlsErrorKind::BadCertificate,
                            path,
                            format!("a CA certificate cannot be used: {e}"),
                        )
                    })?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        Ok(ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(provider_error)?
            .with_root_certificates(roots)
            .with_no_client_auth())
    }
}

/// True when `targets` (group names, node addresses, `*`) name node `node` of group `group`:
/// the target syntax of [`UpstreamTls::targets`] and [`crate::upstream_h2::UpstreamH2`].
pub fn names(targets: &[String], group: &str, node: &str) -> bool {
    targets.iter().any(|t| t == "*" || t == group || t == node)
}

/// The upstream connector: plain TCP for `http://`, TLS for `https://` URIs, the whole connect
/// bounded by a timeout.
#[derive(Debug, Clone)]
pub struct Connector {
    inner: HttpsConnector<HttpConnector>,
    /// The same with ALPN `h2, http/1.1` offered over TLS.
    h2: HttpsConnector<HttpConnector>,
    timeout: Duration,
}

/// A connection to a node: plain TCP, or TLS over it.
pub type NodeStream = MaybeHttpsStream<TokioIo<TcpStream>>;

impl Connector {
    /// A connector with `tls` for HTTPS nodes and `timeout` for TCP connect and handshake.
    pub fn new(tls: ClientConfig, timeout: Duration) -> Connector {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(timeout));
        http.set_nodelay(true);
        http.enforce_http(false);
        let inner = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls.clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(http.clone());
        let h2 = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        Connector { inner, h2, timeout }
    }

    /// Connects to `uri` (`http://host:port/` or `https://...`), over TLS offering ALPN `h2,
    /// http/1.1` when `offer_h2` (else no ALPN: HTTP/1.1). The answer says whether the node
    /// selected `h2`; a plain connection never does (prior knowledge is the caller's).
    pub fn connect(&self, uri: Uri, offer_h2: bool) -> Connecting {
        let mut inner = if offer_h2 {
            self.h2.clone()
        } else {
            self.inner.clone()
        };
        bounded(inner.call(uri), self.timeout)
    }
}

/// Whether the node selected `h2` in ALPN on `stream`.
pub fn negotiated_h2(stream: &NodeStream) -> bool {
    use hyper_util::client::legacy::connect::Connection as _;
    stream.connected().is_negotiated_h2()
}

/// `connecting`, failing with a timeout error after `limit`.
fn bounded<F>(connecting: F, limit: Duration) -> Connecting
where
    F: Future<Output = Result<NodeStream, BoxError>> + Send + 'static,
{
    Box::pin(async move {
        match tokio::time::timeout(limit, connecting).await {
            Ok(r) => r,
            Err(_) => Err(Box::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("connecting (TCP and TLS) took longer than {limit:?}"),
            )) as BoxError),
        }
    })
}

/// A connection being made (TCP and TLS, bounded by the connect timeout).
pub type Connecting = Pin<Box<dyn Future<Output = Result<NodeStream, BoxError>> + Send>>;

impl tower::Service<Uri> for Connector {
    type Response = NodeStream;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Connecting {
        bounded(self.inner.call(uri), self.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_groups_nodes_or_everything() {
        let t = UpstreamTls {
            targets: vec!["canary".into(), "10.0.0.9:443".into()],
            ca_file: None,
        };
        assert!(t.applies("canary", "10.0.0.1:443"));
        assert!(t.applies("stable", "10.0.0.9:443"));
        assert!(!t.applies("stable", "10.0.0.1:443"));
        let all = UpstreamTls {
            targets: vec!["*".into()],
            ca_file: None,
        };
        assert!(all.applies("any", "h:1"));
        assert!(!UpstreamTls::default().applies("any", "h:1"));
        assert!(UpstreamTls::default().client_config().is_ok());
    }

    #[test]
    fn a_bad_ca_file_is_named() {
        let path = std::env::temp_dir().join(format!("gray-ca-{}.pem", std::process::id()));
        std::fs::write(&path, "not a certificate\n").unwrap();
        let t = UpstreamTls {
            targets: vec!["*".into()],
            ca_file: Some(path.clone()),
        };
        let e = t.client_config().unwrap_err();
        assert_eq!(e.kind(), TlsErrorKind::NoCertificate);
        assert!(e.to_string().contains(&*path.to_string_lossy()), "{e}");
        let _ = std::fs::remove_file(&path);
    }
}
