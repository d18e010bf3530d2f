//! Test support: a private `etcd` on free 127.0.0.1 ports with its own data directory, killed
//! when dropped and restartable on the same directory and ports.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether the `etcd` binary is present; prints why a test skips when it is not.
pub fn have_etcd() -> bool {
    let ok = Command::new("etcd")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED: no etcd binary (apt-get install etcd-server; scripts/test-all.sh installs it)");
    }
    ok
}

/// A running `etcd`.
pub struct EtcdServer {
    child: Option<Child>,
    pub client_port: u16,
    peer_port: u16,
    dir: PathBuf,
    name: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

impl EtcdServer {
    /// Starts a member on free ports with a fresh data directory.
    pub fn start(test: &str) -> EtcdServer {
        let name = format!("gray-{test}-{}", std::process::id());
        let dir = std::env::temp_dir().join(format!("gray-etcd-test-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        let mut s = EtcdServer {
            child: None,
            client_port: free_port(),
            peer_port: free_port(),
            dir,
            name,
        };
        s.restart();
        s
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// Stops the server at once (SIGKILL), keeping its data directory.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts (again) on the same data directory and ports; waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        let client = self.endpoint();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::File::create(std::env::temp_dir().join(format!("{}.log", self.name)))
            .expect("etcd log file");
        let child = Command::new("etcd")
            .args(["--name", &self.name])
            .arg("--data-dir")
            .arg(&self.dir)
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &format!("{}={peer}", self.name)])
            .args(["--log-level", "warn"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("cannot run etcd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.answers() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("etcd did not come up on {client}");
    }

    fn answers(&self) -> bool {
        gray_etcd::Store::connect(&self.endpoint(), "/probe")
            .and_then(|s| s.put("/probe/up", "1"))
            .is_ok()
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `f` until it holds or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The addresses of a group's nodes, sorted.
pub fn addresses(engine: &gray_core::Engine, group: &str) -> Vec<String> {
    let mut v: Vec<String> = engine
        .nodes(group)
        .map(|g| g.nodes.iter().map(|n| n.address.clone()).collect())
        .unwrap_or_default();
    v.sort();
    v
}
