//! The plain HTTP/1.1 shortcut (`gray_gateway::fast`) end to end, on raw sockets: what the
//! node receives, pipelined requests, chunked and close-delimited responses passing through,
//! a node closing its idle connection, the hand-over to hyper in the middle of a connection,
//! and the same answers with the shortcut on and off.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gray_gateway::{ConfigSource, Gateway};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

mod common;

/// How the raw node answers.
#[derive(Clone, Copy)]
enum Answer {
    /// `content-length`, keep-alive.
    Length,
    /// Chunked with a trailer, keep-alive.
    Chunked,
    /// No length: the body ends when the node closes the connection.
    UntilClose,
    /// `content-length`, then the node closes the connection without saying so.
    LengthThenClose,
}

/// A node on a raw socket that records every request head (and body) it receives.
struct Node {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    connections: Arc<Mutex<usize>>,
}

async fn node(answer: Answer) -> Node {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(Mutex::new(0));
    let (s, c) = (seen.clone(), connections.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            *c.lock().unwrap() += 1;
            let seen = s.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let Some((head, body)) = read_request(&mut sock, &mut buf).await else {
                        return;
                    };
                    let n = {
                        let mut seen = seen.lock().unwrap();
                        seen.push(format!("{head}{body}"));
                        seen.len()
                    };
                    let text = format!("answer {n}");
                    let reply = match answer {
                        Answer::Length | Answer::LengthThenClose => format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: keep-alive\r\nx-node: raw\r\n\r\n{text}",
                            text.len()
                        ),
                        Answer::Chunked => format!(
                            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-sum\r\n\r\n3\r\nans\r\n{:x}\r\n{}\r\n0\r\nx-sum: 1\r\n\r\n",
                            text.len() - 3,
                            &text[3..]
                        ),
                        Answer::UntilClose => format!("HTTP/1.1 200 OK\r\nx-node: raw\r\n\r\n{text}"),
                    };
                    if sock.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                    if matches!(answer, Answer::UntilClose | Answer::LengthThenClose) {
                        return;
                    }
                }
            });
        }
    });
    Node {
        addr,
        seen,
        connections,
    }
}

/// Reads one request (head, and a `content-length` body) from `sock`; `None` at its end.
async fn read_request(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, String)> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                buf.drain(..end + 4 + len);
                return Some((head, body));
            }
        }
        let mut chunk = [0u8; 4096];
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn gateway(node: SocketAddr, shortcut: bool) -> Gateway {
    let yaml = format!(
        "version: 1\n\
         groups:\n  stable: {{ nodes: [{{ address: \"{node}\" }}] }}\n  \
         canary: {{ fallback: stable, nodes: [{{ address: \"{node}\" }}] }}\n\
         rules:\n  - {{ id: canary-cookie, when: {{ cookie: {{ name: canary, regex: \"aaa$\" }} }}, route: canary, set_headers: {{ x-gray: canary }} }}\n\
         default: stable\n"
    );
    let mut o = common::options(ConfigSource::Embedded(yaml));
    o.workers = 1;
    o.http1_shortcut = shortcut;
    Gateway::start(o).await.expect("gateway")
}

/// Sends `raw` on `sock` and reads `n` responses (by content-length or chunked framing).
async fn exchange(sock: &mut TcpStream, raw: &str, n: usize) -> Vec<String> {
    sock.write_all(raw.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while out.len() < n {
        if let Some(len) = complete(&buf) {
            out.push(String::from_utf8_lossy(&buf[..len]).into_owned());
            buf.drain(..len);
            continue;
        }
        let mut chunk = [0u8; 4096];
        let got = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut chunk))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(
            got > 0,
            "the gateway closed the connection; got {out:?} and {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..got]);
    }
    out
}

/// The length of the complete response at the start of `buf`, if it is complete.
fn complete(buf: &[u8]) -> Option<usize> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    if let Some(len) = head.lines().find_map(|l| l.strip_prefix("content-length:")) {
        let len: usize = len.trim().parse().unwrap();
        return (buf.len() >= end + len).then_some(end + len);
    }
    if head.contains("transfer-encoding: chunked") {
        // The last chunk and an empty trailer section, or a trailer and its end.
        let rest = &buf[end..];
        let text = String::from_utf8_lossy(rest);
        let last = text
            .find("\r\n0\r\n")
            .or_else(|| text.starts_with("0\r\n").then_some(0))?;
        let after = &text[last..];
        let fin = after.find("\r\n\r\n")?;
        return Some(end + last + fin + 4);
    }
    Some(end)
}

fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    resp.lines()
        .find(|l| l.to_ascii_lowercase().starts_with(&format!("{name}:")))
        .map(|l| l[name.len() + 1..].trim())
}

#[tokio::test]
async fn the_node_receives_the_rewritten_request() {
    let n = node(Answer::Length).await;
    let gw = gateway(n.addr, true).await;
    let mut c = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    let r = exchange(
        &mut c,
        "GET /p?q=1 HTTP/1.1\r\nHost: shop.test\r\nConnection: keep-alive, x-secret\r\nX-Secret: s\r\n\
         Keep-Alive: timeout=5\r\nX-Forwarded-For: 9.9.9.9\r\nX-Forwarded-For: 8.8.8.8\r\n\
         X-Forwarded-Proto: https\r\nn-d-version: 9.9\r\nx-gray: spoof\r\nCookie: canary=xaaa\r\n\r\n",
        1,
    )
    .await;
    assert!(r[0].starts_with("HTTP/1.1 200 OK\r\n"), "{}", r[0]);
    assert!(r[0].ends_with("answer 1"));
    assert_eq!(header(&r[0], "x-node"), Some("raw"));
    assert!(header(&r[0], "date").is_some(), "a Date header: {}", r[0]);
    assert_eq!(
        header(&r[0], "connection"),
        None,
        "hop-by-hop removed: {}",
        r[0]
    );
    let seen = n.seen.lock().unwrap()[0].to_ascii_lowercase();
    assert!(seen.starts_with("get /p?q=1 http/1.1\r\n"), "{seen}");
    for gone in [
        "x-secret",
        "keep-alive",
        "connection",
        "x-forwarded-proto: https",
        "n-d-version: 9.9",
        "spoof",
    ] {
        assert!(!seen.contains(gone), "{gone:?} reached the node: {seen}");
    }
    for kept in [
        "host: shop.test\r\n",
        "x-gray: canary\r\n",
        "x-forwarded-for: 9.9.9.9, 8.8.8.8, 127.0.0.1\r\n",
        "x-forwarded-proto: http\r\n",
        "cookie: canary=xaaa\r\n",
    ] {
        assert!(seen.contains(kept), "{kept:?} missing at the node: {seen}");
    }
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_on_one_node_connection() {
    let n = node(Answer::Length).await;
    let gw = gateway(n.addr, true).await;
    let mut c = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    let r = exchange(
        &mut c,
        "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /3 HTTP/1.1\r\nHost: a\r\n\r\n",
        3,
    )
    .await;
    for (i, resp) in r.iter().enumerate() {
        assert!(resp.ends_with(&format!("answer {}", i + 1)), "{resp}");
    }
    let seen = n.seen.lock().unwrap().clone();
    assert!(
        seen[1].starts_with("POST /2 ") && seen[1].ends_with("\r\n\r\nhello"),
        "{:?}",
        seen[1]
    );
    assert_eq!(
        *n.connections.lock().unwrap(),
        1,
        "one pooled node connection"
    );
}

#[tokio::test]
async fn chunked_and_close_delimited_answers_pass_and_the_client_connection_stays() {
    for answer in [Answer::Chunked, Answer::UntilClose] {
        let n = node(answer).await;
        let gw = gateway(n.addr, true).await;
        let mut c = TcpStream::connect(gw.proxy_addr()).await.unwrap();
        for i in 1..=2 {
            let r = exchange(&mut c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1).await;
            assert_eq!(
                header(&r[0], "transfer-encoding"),
                Some("chunked"),
                "{}",
                r[0]
            );
            let body = &r[0][r[0].find("\r\n\r\n").unwrap() + 4..];
            let text: String = body
                .split("\r\n")
                .collect::<Vec<_>>()
                .chunks(2)
                .filter_map(|p| p.get(1).filter(|_| !p[0].contains(':')).copied())
                .collect();
            assert!(text.starts_with(&format!("answer {i}")), "{body:?}");
            if matches!(answer, Answer::Chunked) {
                assert!(
                    body.contains("x-sum: 1\r\n"),
                    "the trailer passes: {body:?}"
                );
            }
        }
        let expected = if matches!(answer, Answer::Chunked) {
            1
        } else {
            2
        };
        assert_eq!(*n.connections.lock().unwrap(), expected);
    }
}

#[tokio::test]
async fn a_node_that_closed_its_idle_connection_is_not_used_again() {
    let n = node(Answer::LengthThenClose).await;
    let gw = gateway(n.addr, true).await;
    let mut c = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    for i in 1..=3 {
        let r = exchange(
            &mut c,
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
            1,
        )
        .await;
        assert!(r[0].starts_with("HTTP/1.1 200 "), "request {i}: {}", r[0]);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(*n.connections.lock().unwrap(), 3);
}

#[tokio::test]
async fn a_request_of_another_shape_hands_the_connection_to_hyper() {
    let n = node(Answer::Length).await;
    let gw = gateway(n.addr, true).await;
    let mut c = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    let r = exchange(&mut c, "GET /fast HTTP/1.1\r\nHost: a\r\n\r\n", 1).await;
    assert!(r[0].ends_with("answer 1"));
    // A body over the shortcut's limit is hyper's; so is the rest of the connection.
    let big = "b".repeat(70_000);
    let r = exchange(
        &mut c,
        &format!("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{big}GET /after HTTP/1.1\r\nHost: a\r\n\r\n", big.len()),
        2,
    )
    .await;
    assert!(
        r[0].starts_with("HTTP/1.1 200") && r[0].ends_with("answer 2"),
        "{}",
        r[0]
    );
    assert!(r[1].ends_with("answer 3"), "{}", r[1]);
    let seen = n.seen.lock().unwrap().clone();
    assert!(
        seen[1].starts_with("POST /up ") && seen[1].ends_with(&big),
        "{:?}",
        &seen[1][..100]
    );
    assert!(seen[2].starts_with("GET /after "));
}

#[tokio::test]
async fn the_answers_are_the_same_with_the_shortcut_on_and_off() {
    let requests = [
        "GET /a HTTP/1.1\r\nHost: a\r\nCookie: canary=xaaa\r\n\r\n",
        "OPTIONS /a HTTP/1.1\r\nHost: a\r\n\r\n",
        "DELETE /a?x=%20 HTTP/1.1\r\nHost: a\r\nn-d-env: spoof\r\n\r\n",
        "PUT /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
    ];
    let mut answers = Vec::new();
    for shortcut in [true, false] {
        let n = node(Answer::Length).await;
        let gw = gateway(n.addr, shortcut).await;
        let mut c = TcpStream::connect(gw.proxy_addr()).await.unwrap();
        let mut got = Vec::new();
        for raw in requests {
            let r = exchange(&mut c, raw, 1).await;
            let status = r[0].lines().next().unwrap().to_owned();
            assert!(status.starts_with("HTTP/1.1 200 "), "{}", r[0]);
            got.push(status);
        }
        let mut seen: Vec<Vec<String>> = Vec::new();
        for s in n.seen.lock().unwrap().iter() {
            let mut lines: Vec<String> = s
                .lines()
                .map(str::to_ascii_lowercase)
                .filter(|l| !l.is_empty())
                .collect();
            lines.sort();
            seen.push(lines);
        }
        answers.push((got, seen));
    }
    assert_eq!(answers[0], answers[1], "shortcut on (left) and off (right)");
}
