//! Checks of header names and values and of node addresses, shared by the compile steps, route
//! values and the Nepxion importer. A leaf: it depends on the error type only.

use std::net::IpAddr;

use crate::error::{Error, ErrorKind, Result};

/// RFC 7230 token characters (header names).
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

pub(crate) fn check_header(name: &str, value: &str, path: &str) -> Result<()> {
    if !is_token(name) {
        return Err(Error::at(
            ErrorKind::InvalidValue,
            path,
            format!("{name:?} is not a valid header name"),
        ));
    }
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(Error::at(
            ErrorKind::InvalidValue,
            path,
            "header values must not contain control characters (CR, LF, NUL, ...)",
        ));
    }
    Ok(())
}

/// Validates `ip:port`, `[v6]:port` or `host:port`.
pub(crate) fn check_address(a: &str) -> std::result::Result<(), String> {
    if a.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    let Some((host, port)) = a.rsplit_once(':') else {
        return Err(format!(
            "{a:?} needs a port: use ip:port, [ipv6]:port or host:port"
        ));
    };
    if port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(format!("{a:?} has an invalid port {port:?}"));
    }
    if host.starts_with('[') || host.parse::<IpAddr>().is_ok() || host.contains(':') {
        return Err(format!(
            "{a:?} is not a valid address (IPv6 needs brackets: [::1]:80)"
        ));
    }
    let ok_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(ok_label) {
        return Err(format!("{a:?} has an invalid host name {host:?}"));
    }
    Ok(())
}
