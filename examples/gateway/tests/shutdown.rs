//! Graceful shutdown of the `gateway` binary: on SIGTERM the listener closes, the request in
//! flight finishes, and the process exits 0 — also when a request outlasts
//! `--shutdown-timeout` and is cut.
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

const BIN: &str = env!("CARGO_BIN_EXE_gateway");

/// An upstream that reads a request, reports it on the returned channel, and answers `slow`
/// only once the sender is set to true.
async fn slow_upstream() -> (SocketAddr, mpsc::Receiver<()>, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (got_tx, got) = mpsc::channel(8);
    let (release, released) = watch::channel(false);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (got_tx, mut released) = (got_tx.clone(), released.clone());
            tokio::spawn(async move {
                if read_head(&mut s).await.is_none() {
                    return;
                }
                let _ = got_tx.send(()).await;
                let _ = released.wait_for(|r| *r).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nslow\n")
                    .await;
            });
        }
    });
    (addr, got, release)
}

/// Starts the binary on a one-node config; returns it and its proxy address.
fn start_gateway(node: SocketAddr, shutdown_timeout: &str, name: &str) -> (Child, SocketAddr) {
    let dir = std::env::temp_dir().join(format!("gray-shutdown-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gray.yaml");
    std::fs::write(
        &path,
        format!(
            "version: 1\ngroups:\n  web:\n    nodes: [{{ address: \"{node}\" }}]\ndefault: web\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "off"])
        .args(["--shutdown-timeout", shutdown_timeout, "--config"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Only the first line is read and the pipe is closed then: the gateway must keep running
    // when nobody reads its stdout any more.
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let proxy = first
        .split("://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .parse()
        .unwrap();
    (child, proxy)
}

fn sigterm(child: &Child) {
    // The shell's builtin kill exists everywhere, unlike a separate kill binary.
    let ok = Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", child.id())])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Waits (at most `limit`) for the process to exit; its exit code.
async fn exit_code(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if tokio::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the gateway did not exit within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn request(proxy: SocketAddr) -> Result<Reply, String> {
    let req = http::Request::get(format!("http://{proxy}/slow"))
        .body(Default::default())
        .unwrap();
    send(&client(), req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_request_in_flight_refuses_new_connections_and_exits_0() {
    let (node, mut got, release) = slow_upstream().await;
    let (mut child, proxy) = start_gateway(node, "20s", "drain");
    let in_flight = tokio::spawn(request(proxy));
    tokio::time::timeout(Duration::from_secs(10), got.recv())
        .await
        .expect("the request reaches the node");
    sigterm(&child);
    eventually("the listener refuses new connections", 250, || async move {
        TcpStream::connect(proxy).await.is_err()
    })
    .await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited with a request in flight"
    );
    release.send(true).unwrap();
    let reply = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(
        (reply.status.as_u16(), reply.body.as_str()),
        (200, "slow\n")
    );
    assert_eq!(
        exit_code(&mut child, Duration::from_secs(15)).await,
        Some(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_longer_than_the_shutdown_timeout_is_cut_and_the_process_exits() {
    let (node, mut got, _never) = slow_upstream().await;
    let (mut child, proxy) = start_gateway(node, "1s", "cut");
    let in_flight = tokio::spawn(request(proxy));
    tokio::time::timeout(Duration::from_secs(10), got.recv())
        .await
        .expect("the request reaches the node");
    sigterm(&child);
    assert_eq!(
        exit_code(&mut child, Duration::from_secs(15)).await,
        Some(0)
    );
    let cut = tokio::time::timeout(Duration::from_secs(5), in_flight)
        .await
        .expect("the client sees the cut")
        .unwrap();
    assert!(cut.is_err(), "{cut:?}");
}
