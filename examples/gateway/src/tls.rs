//! TLS termination on the proxy listener: certificates from PEM files, chosen per connection by
//! SNI, ALPN `h2` and `http/1.1`, reloaded without a restart.
//!
//! * **Files.** Each certificate is a pair of PEM files ([`CertificateFiles`]): the chain (leaf
//!   first, then intermediates) and its private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
//! * **SNI.** A client's server name picks the first certificate valid for it (its subject
//!   alternative names, wildcards included); a client without SNI (an IP address in the URL)
//!   or with a name no certificate covers gets the first certificate, as nginx's default
//!   server.
//! * **ALPN.** `h2` and `http/1.1` are offered; a client that offers neither speaks HTTP/1.1.
//! * **Reload.** [`Certificates::reload`] reads every file again and swaps the whole set at
//!   once: new connections get the new certificates, open connections keep theirs. A file that
//!   is missing, holds bad PEM or a key that does not belong to its certificate is a
//!   [`TlsError`] naming the file, and the certificates in use keep serving.
//!
//! ```no_run
//! use gray_gateway::tls::{CertificateFiles, Certificates, TlsOptions};
//!
//! # fn run() -> Result<(), gray_gateway::tls::TlsError> {
//! let certs = Certificates::load(TlsOptions {
//!     certificates: vec![CertificateFiles::new("shop.pem", "shop.key")],
//! })?;
//! let acceptor = tokio_rustls::TlsAcceptor::from(certs.server_config());
//! # let _ = acceptor; Ok(()) }
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// The crypto provider of every TLS config of the gateway (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The error of a provider that refuses the default protocol versions (not expected with ring).
pub(crate) fn provider_error(e: rustls::Error) -> TlsError {
    TlsError::new(
        TlsErrorKind::Provider,
        PathBuf::new(),
        format!("the TLS provider cannot be set up: {e}"),
    )
}

/// A certificate chain file and the file of its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    /// PEM file with the certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM file with the private key of the leaf certificate.
    pub key: PathBuf,
}

impl CertificateFiles {
    /// The pair `cert`, `key`.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        CertificateFiles {
            cert: cert.into(),
            key: key.into(),
        }
    }
}

/// The certificates of the proxy listener; the first is the default (see the
/// [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsOptions {
    /// Certificate and key files, in order of preference.
    pub certificates: Vec<CertificateFiles>,
}

/// What is wrong with a TLS file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsErrorKind {
    /// The file cannot be read (missing, permissions).
    Read,
    /// The file is not valid PEM, or a PEM block does not decode.
    BadPem,
    /// A certificate file holds no `CERTIFICATE` block.
    NoCertificate,
    /// A key file holds no private key block.
    NoKey,
    /// The certificate cannot be parsed (not X.509 DER).
    BadCertificate,
    /// The private key's type or parameters are not supported.
    UnsupportedKey,
    /// The private key does not belong to the certificate.
    KeyMismatch,
    /// No certificate was configured.
    NoCertificates,
    /// The crypto provider refused the protocol versions (not expected with ring).
    Provider,
}

/// A TLS file problem: the kind, the file and why.
#[derive(Debug, Clone)]
pub struct TlsError {
    kind: TlsErrorKind,
    file: PathBuf,
    reason: String,
}

impl TlsError {
    /// A `kind` error about `file`.
    pub fn new(kind: TlsErrorKind, file: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        TlsError {
            kind,
            file: file.into(),
            reason: reason.into(),
        }
    }

    /// What is wrong.
    pub fn kind(&self) -> TlsErrorKind {
        self.kind
    }

    /// The file at fault (empty for [`TlsErrorKind::NoCertificates`] and
    /// [`TlsErrorKind::Provider`]).
    pub fn file(&self) -> &Path {
        &self.file
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.file.as_os_str().is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.file.display(), self.reason)
        }
    }
}

impl std::error::Error for TlsError {}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| {
        TlsError::new(
            TlsErrorKind::Read,
            path,
            format!("cannot read the {what}: {e}"),
        )
    })
}

/// Reads a PEM file of certificates (a chain, or a bundle of CA certificates).
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path, "certificate file")?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::new(TlsErrorKind::BadPem, path, format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::new(
            TlsErrorKind::NoCertificate,
            path,
            "holds no PEM `CERTIFICATE` block",
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path, "key file")?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::new(
            TlsErrorKind::NoKey,
            path,
            "holds no PEM private key block (`PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`)",
        ),
        e => TlsError::new(TlsErrorKind::BadPem, path, format!("bad PEM: {e}")),
    })
}

/// Loads one certificate and its key, checking that they belong together.
pub fn load_pair(
    files: &CertificateFiles,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = read_certificates(&files.cert)?;
    webpki::EndEntityCert::try_from(&chain[0]).map_err(|e| {
        TlsError::new(
            TlsErrorKind::BadCertificate,
            &files.cert,
            format!("the first certificate is not a valid X.509 certificate: {e}"),
        )
    })?;
    let key = read_key(&files.key)?;
    let signing = provider.key_provider.load_private_key(key).map_err(|e| {
        TlsError::new(
            TlsErrorKind::UnsupportedKey,
            &files.key,
            format!("unsupported private key: {e}"),
        )
    })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(e) => Err(TlsError::new(
            TlsErrorKind::KeyMismatch,
            &files.key,
            format!(
                "this key does not belong to the certificate in {} ({e})",
                files.cert.display()
            ),
        )),
    }
}

/// One loaded set: the certificates in order, the first the default.
#[derive(Debug)]
struct Loaded {
    certs: Vec<Arc<CertifiedKey>>,
}

impl Loaded {
    fn read(options: &TlsOptions, provider: &CryptoProvider) -> Result<Loaded, TlsError> {
        if options.certificates.is_empty() {
            return Err(TlsError::new(
                TlsErrorKind::NoCertificates,
                PathBuf::new(),
                "TLS needs at least one certificate and key",
            ));
        }
        let certs = options
            .certificates
            .iter()
            .map(|f| load_pair(f, provider).map(Arc::new))
            .collect::<Result<_, _>>()?;
        Ok(Loaded { certs })
    }

    /// The first certificate valid for `name`, else the default.
    fn pick(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let wanted = name.and_then(|n| ServerName::try_from(n).ok());
        let valid = |c: &&Arc<CertifiedKey>| {
            let (Some(name), Ok(der)) = (wanted.as_ref(), c.end_entity_cert()) else {
                return false;
            };
            webpki::EndEntityCert::try_from(der)
                .is_ok_and(|ee| ee.verify_is_valid_for_subject_name(name).is_ok())
        };
        self.certs
            .iter()
            .find(valid)
            .or_else(|| self.certs.first())
            .cloned()
    }
}

/// Picks the certificate for each handshake from the current set.
#[derive(Debug)]
struct Resolver(Arc<ArcSwap<Loaded>>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.load().pick(hello.server_name())
    }
}

/// The proxy listener's certificates: loaded from [`TlsOptions`], swapped by
/// [`Certificates::reload`].
#[derive(Debug)]
pub struct Certificates {
    options: TlsOptions,
    provider: Arc<CryptoProvider>,
    current: Arc<ArcSwap<Loaded>>,
    config: Arc<ServerConfig>,
    /// Content hash of the files as last read (reloaded or not).
    seen: Mutex<Option<u64>>,
}

impl Certificates {
    /// Reads every certificate and key.
    pub fn load(options: TlsOptions) -> Result<Arc<Certificates>, TlsError> {
        let provider = provider();
        let seen = Mutex::new(stamp(&options));
        let loaded = Loaded::read(&options, &provider)?;
        let current = Arc::new(ArcSwap::from_pointee(loaded));
        let resolver = Arc::new(Resolver(current.clone()));
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(provider_error)?
            .with_no_client_auth()
            .with_cert_resolver(resolver);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(Certificates {
            options,
            provider,
            current,
            config: Arc::new(config),
            seen,
        }))
    }

    /// The files.
    pub fn options(&self) -> &TlsOptions {
        &self.options
    }

    /// Reads every file again and swaps the new set in; on an error the current set keeps
    /// serving. Returns the number of certificates.
    pub fn reload(&self) -> Result<usize, TlsError> {
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = stamp(&self.options);
        let loaded = Loaded::read(&self.options, &self.provider)?;
        let n = loaded.certs.len();
        self.current.store(Arc::new(loaded));
        Ok(n)
    }

    /// True when a file's content differs from the last time it was read (by
    /// [`Certificates::load`] or [`Certificates::reload`]).
    pub fn changed(&self) -> bool {
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) != stamp(&self.options)
    }

    /// A server config using these certificates (also after reloads), offering ALPN `h2` and
    /// `http/1.1`.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }

    /// The leaf certificate a client naming `server_name` gets now.
    pub fn certificate_for(&self, server_name: Option<&str>) -> Option<CertificateDer<'static>> {
        let ck = self.current.load().pick(server_name)?;
        ck.end_entity_cert().ok().map(|c| c.clone().into_owned())
    }
}

/// A hash of every file's content (`None` while one cannot be read).
fn stamp(options: &TlsOptions) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in &options.certificates {
        std::fs::read(&f.cert).ok()?.hash(&mut h);
        std::fs::read(&f.key).ok()?.hash(&mut h);
    }
    Some(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gray-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn self_signed(name: &str) -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        (c.cert.pem(), c.key_pair.serialize_pem())
    }

    fn write(d: &Path, file: &str, text: &str) -> PathBuf {
        let p = d.join(file);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn bad_files_are_typed_errors_naming_the_file() {
        let d = dir("bad");
        let (cert, key) = self_signed("a.test");
        let (_, other_key) = self_signed("b.test");
        let cert_p = write(&d, "a.pem", &cert);
        let key_p = write(&d, "a.key", &key);
        let other_p = write(&d, "other.key", &other_key);
        let garbage = write(
            &d,
            "garbage.pem",
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        );
        let empty = write(&d, "empty.pem", "no pem here\n");
        let missing = d.join("missing.pem");
        let p = CryptoProvider::clone(&provider());
        let cases = [
            (
                CertificateFiles::new(&missing, &key_p),
                TlsErrorKind::Read,
                &missing,
            ),
            (
                CertificateFiles::new(&garbage, &key_p),
                TlsErrorKind::BadPem,
                &garbage,
            ),
            (
                CertificateFiles::new(&empty, &key_p),
                TlsErrorKind::NoCertificate,
                &empty,
            ),
            (
                CertificateFiles::new(&cert_p, &empty),
                TlsErrorKind::NoKey,
                &empty,
            ),
            (
                CertificateFiles::new(&cert_p, &cert_p),
                TlsErrorKind::NoKey,
                &cert_p,
            ),
            (
                CertificateFiles::new(&cert_p, &other_p),
                TlsErrorKind::KeyMismatch,
                &other_p,
            ),
        ];
        for (files, kind, file) in cases {
            let e = load_pair(&files, &p).unwrap_err();
            assert_eq!(e.kind(), kind, "{files:?}: {e}");
            assert_eq!(e.file(), file.as_path());
            assert!(
                e.to_string().starts_with(&file.display().to_string()),
                "{e}"
            );
        }
        assert!(load_pair(&CertificateFiles::new(&cert_p, &key_p), &p).is_ok());
        let e = Certificates::load(TlsOptions::default()).unwrap_err();
        assert_eq!(e.kind(), TlsErrorKind::NoCertificates);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn sni_picks_by_name_and_falls_back_to_the_first() {
        let d = dir("sni");
        let mut certificates = Vec::new();
        let mut ders = Vec::new();
        for name in ["a.test", "*.b.test"] {
            let (cert, key) = self_signed(name);
            let file = name.replace('*', "star");
            ders.push(
                read_certificates(&write(&d, &format!("{file}.pem"), &cert)).unwrap()[0].clone(),
            );
            certificates.push(CertificateFiles::new(
                d.join(format!("{file}.pem")),
                write(&d, &format!("{file}.key"), &key),
            ));
        }
        let certs = Certificates::load(TlsOptions { certificates }).unwrap();
        assert_eq!(certs.certificate_for(Some("a.test")), Some(ders[0].clone()));
        assert_eq!(
            certs.certificate_for(Some("x.b.test")),
            Some(ders[1].clone())
        );
        assert_eq!(
            certs.certificate_for(Some("other.test")),
            Some(ders[0].clone())
        );
        assert_eq!(certs.certificate_for(None), Some(ders[0].clone()));
        assert!(!certs.changed());
        let _ = std::fs::remove_dir_all(&d);
    }
}
