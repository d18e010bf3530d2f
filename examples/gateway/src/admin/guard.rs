//! Who may call the admin API: the cross-site and DNS-rebinding guard and the token check
//! (see the module docs of [`super`]).

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::state::AdminState;

fn refuse(status: StatusCode, why: impl std::fmt::Display) -> Response {
    (status, format!("{why}\n")).into_response()
}

/// The host part of a `Host` value (`[::1]:80` → `::1`, `a.example:80` → `a.example`).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// A name a local client uses for this machine, which a DNS answer cannot re-point: an IP
/// literal, `localhost` or a `*.localhost` name (RFC 6761).
fn is_own_name(host: &str) -> bool {
    let name = host_name(host);
    let lower = name.to_ascii_lowercase();
    name.parse::<std::net::IpAddr>().is_ok()
        || lower == "localhost"
        || lower.ends_with(".localhost")
}

/// A change of state (rather than a read).
fn is_change(req: &Request) -> bool {
    match *req.method() {
        Method::GET | Method::HEAD => {
            matches!(req.uri().path(), "/upstream_add" | "/upstream_remove")
        }
        Method::POST => req.uri().path() != "/api/explain",
        _ => true,
    }
}

/// The request's `Host` (HTTP/2: the authority).
fn request_host(req: &Request) -> Option<&str> {
    req.uri().authority().map(|a| a.as_str()).or_else(|| {
        req.headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
    })
}

/// Content types a browser cannot send cross-origin without a preflight, accepted on `POST`.
fn preflighted_type(req: &Request) -> bool {
    let Some(ct) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => true,
        "application/yaml" | "application/x-yaml" | "application/toml" => {
            req.uri().path() == "/api/reload"
        }
        _ => false,
    }
}

/// Refuses cross-site changes, changes a browser could send without a preflight, and (without
/// a token) requests for a `Host` that is not this machine's own name; see the module docs.
pub(super) async fn guard(State(s): State<AdminState>, req: Request, next: Next) -> Response {
    let host = request_host(&req).map(str::to_owned);
    if s.token.is_none() {
        if let Some(h) = host.as_deref().filter(|h| !is_own_name(h)) {
            return refuse(
                StatusCode::FORBIDDEN,
                format!(
                    "admin API: Host {h:?} is not a local name of this listener (DNS \
                     rebinding protection); use an IP address or localhost, or start the \
                     gateway with --admin-token"
                ),
            );
        }
    }
    if is_change(&req) {
        let site = req
            .headers()
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok());
        if let Some(site) = site.filter(|v| !matches!(*v, "same-origin" | "none")) {
            return refuse(
                StatusCode::FORBIDDEN,
                format!(
                    "admin API: refusing a change sent from another site (Sec-Fetch-Site: {site})"
                ),
            );
        }
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            let origin_host = origin
                .split_once("://")
                .map(|(_, rest)| rest.trim_end_matches('/'));
            let same = match (origin_host, host.as_deref()) {
                (Some(o), Some(h)) => o.eq_ignore_ascii_case(h),
                _ => false,
            };
            if !same {
                return refuse(
                    StatusCode::FORBIDDEN,
                    format!("admin API: refusing a change from origin {origin:?}, which is not this admin listener"),
                );
            }
        }
        if req.method() == Method::POST
            && !preflighted_type(&req)
            && !req.headers().contains_key("x-gray-admin")
        {
            let accepted = if req.uri().path() == "/api/reload" {
                "application/json, application/yaml or application/toml"
            } else {
                "application/json"
            };
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "admin API: a POST that changes state needs Content-Type {accepted}, or an \
                     X-Gray-Admin header (a browser cannot send either from another site \
                     without asking first)"
                ),
            );
        }
    }
    if !s.legacy_get
        && matches!(
            req.uri().path(),
            "/upstream_add" | "/upstream_remove" | "/upstream_list"
        )
    {
        return refuse(
            StatusCode::NOT_FOUND,
            "the seed-style GET endpoints are off: use POST /api/groups/{group}/nodes and \
             DELETE /api/groups/{group}/nodes/{address}, or start the gateway with \
             --admin-legacy-get",
        );
    }
    next.run(req).await
}

/// Byte-wise comparison whose time does not depend on where the inputs differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token of an `Authorization: Bearer TOKEN` value; the scheme is case-insensitive.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

pub(super) async fn auth(State(s): State<AdminState>, req: Request, next: Next) -> Response {
    if let Some(token) = &s.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token);
        if !given.is_some_and(|g| same_secret(g.as_bytes(), token.as_bytes())) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "admin token required: send Authorization: Bearer <token>\n",
            )
                .into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_names_are_ip_literals_and_localhost() {
        for h in [
            "127.0.0.1:18090",
            "[::1]:18090",
            "10.1.2.3",
            "localhost:8080",
            "LOCALHOST",
            "admin.localhost:1",
        ] {
            assert!(is_own_name(h), "{h}");
        }
        for h in [
            "attacker.example",
            "attacker.example:18090",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
        ] {
            assert!(!is_own_name(h), "{h}");
        }
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("Bearer s3cret"), Some("s3cret"));
        assert_eq!(bearer_token("bearer s3cret"), Some("s3cret"));
        assert_eq!(bearer_token("BEARER  s3cret "), Some("s3cret"));
        assert_eq!(bearer_token("Basic s3cret"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }
}
