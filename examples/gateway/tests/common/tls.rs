//! Test certificates made with rcgen (never committed) and a TLS client that picks its SNI
//! name and ALPN protocols.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use gray_gateway::CertificateFiles;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::Reply;

/// A throw-away certificate authority.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A leaf certificate (PEM) with its key (PEM) and DER.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        TestCa { cert, key }
    }

    /// A leaf for `names` (DNS names or IP addresses), signed by this CA.
    pub fn issue(&self, names: &[&str]) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    pub fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert.der().clone()).unwrap();
        roots
    }
}

/// A fresh directory under the system temp dir.
pub fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gray-gw-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes `leaf` as `stem.pem` and `stem.key` in `dir`.
pub fn write_leaf(dir: &Path, stem: &str, leaf: &Leaf) -> CertificateFiles {
    let files = CertificateFiles::new(
        dir.join(format!("{stem}.pem")),
        dir.join(format!("{stem}.key")),
    );
    std::fs::write(&files.cert, &leaf.cert_pem).unwrap();
    std::fs::write(&files.key, &leaf.key_pem).unwrap();
    files
}

/// A gateway on [`super::seed_config`] terminating TLS with `files`.
pub async fn tls_gateway(
    stable: SocketAddr,
    canary: SocketAddr,
    files: impl Into<Vec<CertificateFiles>>,
) -> gray_gateway::Gateway {
    let certificates = files.into();
    super::gateway_with(&super::seed_config(&[stable], &[canary], "10s"), |o| {
        o.tls = Some(gray_gateway::TlsOptions { certificates })
    })
    .await
}

/// A [`tls_gateway`] with a certificate for `gw.test` from a fresh CA, its files in a fresh
/// directory named after `test` (remove it when done).
pub async fn gw_test_gateway(
    test: &str,
    stable: SocketAddr,
    canary: SocketAddr,
) -> (gray_gateway::Gateway, TestCa, PathBuf) {
    let ca = TestCa::new("gray test CA");
    let dir = tempdir(test);
    let files = write_leaf(&dir, "gw", &ca.issue(&["gw.test"]));
    (tls_gateway(stable, canary, vec![files]).await, ca, dir)
}

/// Connects to `addr` over TLS, naming `server_name` (an IP address sends no SNI) and
/// offering `alpn`, trusting `roots`.
pub async fn connect(
    addr: SocketAddr,
    server_name: &str,
    alpn: &[&[u8]],
    roots: RootCertStore,
) -> std::io::Result<TlsStream<TcpStream>> {
    let mut config = rustls::ClientConfig::builder_with_provider(gray_gateway::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

/// The server's leaf certificate on `stream`.
pub fn peer_leaf(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream.get_ref().1.peer_certificates().unwrap()[0].clone()
}

/// One HTTP connection over an established TLS stream: HTTP/2 when ALPN chose `h2`.
pub struct HttpsConn {
    h1: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
    h2: Option<hyper::client::conn::http2::SendRequest<Full<Bytes>>>,
    host: String,
}

impl HttpsConn {
    pub async fn new(stream: TlsStream<TcpStream>, host: &str) -> HttpsConn {
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        let io = TokioIo::new(stream);
        if h2 {
            let (send, conn) =
                hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                    .await
                    .unwrap();
            tokio::spawn(conn);
            HttpsConn {
                h1: None,
                h2: Some(send),
                host: host.to_owned(),
            }
        } else {
            let (send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(conn);
            HttpsConn {
                h1: Some(send),
                h2: None,
                host: host.to_owned(),
            }
        }
    }

    /// GET `path` with `headers`; the response with its version.
    pub async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> (Reply, http::Version) {
        let mut b = match &self.h2 {
            Some(_) => Request::get(format!("https://{}{path}", self.host)),
            None => Request::get(path).header("host", &self.host),
        };
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(Full::default()).unwrap();
        let resp = match (&mut self.h1, &mut self.h2) {
            (Some(s), _) => {
                s.ready().await.expect("connection ready");
                s.send_request(req).await
            }
            (_, Some(s)) => {
                s.ready().await.expect("connection ready");
                s.send_request(req).await
            }
            _ => unreachable!(),
        }
        .expect("response");
        let version = resp.version();
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        (
            Reply {
                status: parts.status,
                headers: parts.headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            },
            version,
        )
    }
}
