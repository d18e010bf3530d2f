//! A minimal blocking HTTP/1.1 client for etcd's v3 JSON gateway: one request per connection
//! (`Connection: close`), JSON in, JSON out, and a streaming reader for `/v3/watch`.
//!
//! etcd answers unary calls with a plain body and streaming calls (watch, lease keep-alive)
//! with a chunked body holding one JSON object per line, wrapped as `{"result": ...}` or
//! `{"error": ...}`.

use std::io::{ErrorKind as IoKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A failed call: the connection, the HTTP exchange or an error answer from etcd.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    /// What went wrong, for people.
    pub message: String,
    /// etcd's gRPC code, when etcd answered with an error (11 = revision compacted).
    pub code: Option<i64>,
}

impl Failure {
    pub(crate) fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub(crate) type Outcome<T> = std::result::Result<T, Failure>;

/// `http://host:port` or `host:port` → `host:port`.
pub(crate) fn host_port(endpoint: &str) -> Outcome<String> {
    let rest = endpoint
        .strip_prefix("http://")
        .unwrap_or(endpoint)
        .trim_end_matches('/');
    if endpoint.starts_with("https://") {
        return Err(Failure::new(format!(
            "etcd endpoint {endpoint}: https is not supported (plain http only)"
        )));
    }
    if rest.is_empty() || rest.contains('/') || !rest.contains(':') {
        return Err(Failure::new(format!(
            "bad etcd endpoint {endpoint:?}: expected http://host:port"
        )));
    }
    Ok(rest.to_string())
}

fn connect(host: &str, timeout: Duration) -> Outcome<TcpStream> {
    let addrs: Vec<SocketAddr> = host
        .to_socket_addrs()
        .map_err(|e| Failure::new(format!("cannot resolve {host}: {e}")))?
        .collect();
    let mut last = Failure::new(format!("{host} resolves to no address"));
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = Failure::new(format!("cannot connect to etcd at {host}: {e}")),
        }
    }
    Err(last)
}

fn send(host: &str, path: &str, body: &Value, timeout: Duration) -> Outcome<TcpStream> {
    let mut sock = connect(host, timeout)?;
    sock.set_read_timeout(Some(timeout))
        .and_then(|()| sock.set_write_timeout(Some(timeout)))
        .map_err(|e| Failure::new(format!("socket: {e}")))?;
    let body = body.to_string();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(req.as_bytes())
        .map_err(|e| Failure::new(format!("etcd at {host}: {path}: {e}")))?;
    Ok(sock)
}

/// Posts `body` to `path` and returns the JSON answer (a streamed `{"result": ...}` unwrapped).
pub(crate) fn call(host: &str, path: &str, body: &Value, timeout: Duration) -> Outcome<Value> {
    let mut sock = send(host, path, body, timeout)?;
    let deadline = Instant::now() + timeout;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if Instant::now() >= deadline {
            return Err(Failure::new(format!("etcd at {host}: {path}: timed out")));
        }
        match sock.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == IoKind::Interrupted => {}
            Err(e) => return Err(Failure::new(format!("etcd at {host}: {path}: {e}"))),
        }
    }
    let (head, rest) = split_head(&raw)
        .ok_or_else(|| Failure::new(format!("etcd at {host}: {path}: no HTTP answer")))?;
    let status = status_of(head);
    let body = if is_chunked(head) {
        let mut out = Vec::new();
        let mut rest = rest.to_vec();
        dechunk(&mut rest, &mut out);
        out
    } else {
        rest.to_vec()
    };
    let text = String::from_utf8_lossy(&body);
    // A streamed answer: the first line is the message.
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let value: Value = serde_json::from_str(first).map_err(|_| {
        Failure::new(format!(
            "etcd at {host}: {path}: HTTP {status}: {}",
            first.chars().take(200).collect::<String>()
        ))
    })?;
    unwrap_message(value, &format!("etcd at {host}: {path}"))
}

/// `{"result": x}` → `x`; `{"error": ..}` (or an error body) → a [`Failure`] with its code.
pub(crate) fn unwrap_message(value: Value, context: &str) -> Outcome<Value> {
    let err = value.get("error").cloned();
    if let Some(err) = err {
        let inner = err.get("message").cloned().unwrap_or(err.clone());
        let message = value
            .get("message")
            .and_then(Value::as_str)
            .or_else(|| inner.as_str())
            .unwrap_or("error")
            .to_string();
        let code = value
            .get("code")
            .or_else(|| err.get("code"))
            .and_then(Value::as_i64);
        return Err(Failure {
            message: format!("{context}: {message}"),
            code,
        });
    }
    Ok(match value {
        Value::Object(mut m) if m.contains_key("result") => m.remove("result").unwrap_or_default(),
        v => v,
    })
}

fn split_head(raw: &[u8]) -> Option<(&str, &[u8])> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    Some((head, &raw[end + 4..]))
}

fn status_of(head: &str) -> u16 {
    head.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn is_chunked(head: &str) -> bool {
    head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    })
}

/// Moves every complete chunk of `raw` to `out`; returns true at the last (zero-size) chunk.
fn dechunk(raw: &mut Vec<u8>, out: &mut Vec<u8>) -> bool {
    let mut pos = 0;
    let mut done = false;
    while let Some(nl) = raw[pos..].windows(2).position(|w| w == b"\r\n") {
        let line = String::from_utf8_lossy(&raw[pos..pos + nl]).to_string();
        let size_text = line.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            done = true;
            break;
        };
        let start = pos + nl + 2;
        if size == 0 {
            done = true;
            pos = start;
            break;
        }
        if raw.len() < start + size + 2 {
            break;
        }
        out.extend_from_slice(&raw[start..start + size]);
        pos = start + size + 2;
    }
    raw.drain(..pos.min(raw.len()));
    done
}

/// A streaming answer (`/v3/watch`): messages as they arrive.
pub(crate) struct Stream {
    sock: TcpStream,
    raw: Vec<u8>,
    head: Option<bool>,
    decoded: Vec<u8>,
    ended: bool,
    context: String,
}

impl Stream {
    /// Opens the stream; `poll` waits at most `poll` for data on each call.
    pub(crate) fn open(
        host: &str,
        path: &str,
        body: &Value,
        timeout: Duration,
        poll: Duration,
    ) -> Outcome<Stream> {
        let sock = send(host, path, body, timeout)?;
        sock.set_read_timeout(Some(poll))
            .map_err(|e| Failure::new(format!("socket: {e}")))?;
        Ok(Stream {
            sock,
            raw: Vec::new(),
            head: None,
            decoded: Vec::new(),
            ended: false,
            context: format!("etcd at {host}: {path}"),
        })
    }

    /// Reads what arrived within the poll time and returns the complete messages (unwrapped
    /// results, or the first error); an empty list when nothing came. Fails when the stream
    /// closed or broke.
    pub(crate) fn poll(&mut self) -> Outcome<Vec<Value>> {
        let mut buf = [0u8; 16384];
        let mut closed = false;
        match self.sock.read(&mut buf) {
            Ok(0) => closed = true,
            Ok(n) => self.raw.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    IoKind::WouldBlock | IoKind::TimedOut | IoKind::Interrupted
                ) => {}
            Err(e) => return Err(Failure::new(format!("{}: {e}", self.context))),
        }
        if self.head.is_none() {
            if let Some((head, rest)) = split_head(&self.raw) {
                let status = status_of(head);
                let chunked = is_chunked(head);
                let rest = rest.to_vec();
                if status != 200 {
                    return Err(Failure::new(format!("{}: HTTP {status}", self.context)));
                }
                self.head = Some(chunked);
                self.raw = rest;
            }
        }
        match self.head {
            Some(true) => self.ended |= dechunk(&mut self.raw, &mut self.decoded),
            Some(false) => self.decoded.append(&mut self.raw),
            None => {}
        }
        let mut out = Vec::new();
        while let Some(nl) = self.decoded.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.decoded.drain(..=nl).collect();
            let text = String::from_utf8_lossy(&line);
            if text.trim().is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(text.trim())
                .map_err(|e| Failure::new(format!("{}: bad message: {e}", self.context)))?;
            out.push(unwrap_message(value, &self.context)?);
        }
        if out.is_empty() && (closed || self.ended) {
            return Err(Failure::new(format!("{}: stream closed", self.context)));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_decode_across_reads() {
        let mut raw = b"5\r\nhel".to_vec();
        let mut out = Vec::new();
        assert!(!dechunk(&mut raw, &mut out));
        assert!(out.is_empty());
        raw.extend_from_slice(b"lo\r\n3;x=1\r\n wo\r\n0\r\n\r\n");
        assert!(dechunk(&mut raw, &mut out));
        assert_eq!(out, b"hello wo");
    }

    #[test]
    fn endpoints_and_error_answers() {
        assert_eq!(
            host_port("http://127.0.0.1:2379/").unwrap(),
            "127.0.0.1:2379"
        );
        assert_eq!(host_port("localhost:2379").unwrap(), "localhost:2379");
        assert!(host_port("https://x:1").is_err());
        assert!(host_port("http://x").is_err());
        let e = unwrap_message(
            serde_json::json!({"error":"etcdserver: mvcc: required revision has been compacted","message":"m","code":11}),
            "ctx",
        )
        .unwrap_err();
        assert_eq!(e.code, Some(11));
        assert_eq!(e.message, "ctx: m");
        let v = unwrap_message(serde_json::json!({"result":{"a":1}}), "ctx").unwrap();
        assert_eq!(v["a"], 1);
    }
}
