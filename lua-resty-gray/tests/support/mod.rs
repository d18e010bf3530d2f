//! What lua-resty-gray's nginx tests run on: a real nginx started from
//! `examples/nginx/nginx.conf` in a private prefix (its own ports on 127.0.0.1, pid file,
//! error log and temp folders; no root needed), real upstreams (small HTTP servers that answer
//! with their name and the headers they received), and an HTTP client that can connect from
//! other loopback addresses (127.0.0.3 is an untrusted peer).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Where nginx, its Lua module and libgray.so are.
pub struct Env {
    nginx: PathBuf,
    /// Debian's module files to `load_module`, or none (OpenResty has them built in).
    modules: bool,
    lib: PathBuf,
}

const DEBIAN_MODULES: [&str; 2] = [
    "/usr/lib/nginx/modules/ndk_http_module.so",
    "/usr/lib/nginx/modules/ngx_http_lua_module.so",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// libgray.so of this test run: gray-ffi's cdylib, built beside this test in `deps/`.
fn libgray() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let deps = exe.parent().expect("deps folder");
    let name = if cfg!(target_os = "macos") {
        "libgray.dylib"
    } else {
        "libgray.so"
    };
    [
        deps.join(name),
        deps.parent().expect("profile folder").join(name),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .unwrap_or_else(|| {
        panic!(
            "{name} is not in {}: gray-ffi builds it (cdylib)",
            deps.display()
        )
    })
}

impl Env {
    /// nginx with the Lua module, or `None` after printing why the test is skipped: no nginx,
    /// or Debian's nginx without `libnginx-mod-http-lua`. `GRAY_NGINX` names another binary
    /// (OpenResty: the module is built in); `GRAY_REQUIRE_NGINX=1` (set by
    /// scripts/test-all.sh, which installs them) turns the skip into a failure.
    pub fn get() -> Option<Env> {
        let (nginx, modules) = match std::env::var_os("GRAY_NGINX") {
            Some(p) => (PathBuf::from(p), false),
            None => (PathBuf::from("/usr/sbin/nginx"), true),
        };
        let missing = if !nginx.is_file() {
            Some(format!("{} is not installed", nginx.display()))
        } else if modules {
            DEBIAN_MODULES
                .iter()
                .find(|m| !Path::new(m).is_file())
                .map(|m| format!("{m} is not installed (apt-get install libnginx-mod-http-lua)"))
        } else {
            None
        };
        if let Some(why) = missing {
            let msg = format!(
                "SKIPPED: lua-resty-gray's nginx tests: {why} (apt-get install nginx \
                 libnginx-mod-http-lua, or GRAY_NGINX=/path/to/openresty)"
            );
            assert!(std::env::var_os("GRAY_REQUIRE_NGINX").is_none(), "{msg}");
            eprintln!("{msg}");
            return None;
        }
        Some(Env {
            nginx,
            modules,
            lib: libgray(),
        })
    }
}

/// A free port on 127.0.0.1 (bound and released: good enough for tests).
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` different free ports on 127.0.0.1: all bound at once, then released, so that no two are
/// the same (ports taken one after another can repeat, and nginx accepts two `server` blocks
/// on one port, serving both from the first).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().expect("a bound address").port())
}

/// A running upstream: answers every request with `upstream=NAME` and the request's headers,
/// one `name: value` a line (names lowercase), keeping connections alive when asked.
pub struct Upstream {
    pub port: u16,
}

impl Upstream {
    pub fn start(name: &'static str) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an upstream");
        let port = listener.local_addr().expect("address").port();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                std::thread::spawn(move || serve(name, conn));
            }
        });
        Upstream { port }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

fn serve(name: &str, conn: TcpStream) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut out = conn;
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
            head.push(line.trim_end().to_string());
        }
        let mut body = format!("upstream={name}\n");
        let mut close = head.first().is_some_and(|l| l.ends_with("HTTP/1.0"));
        for h in head.iter().skip(1) {
            if let Some((k, v)) = h.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
                if k == "connection" {
                    close = v.eq_ignore_ascii_case("close");
                }
                body.push_str(&format!("{k}: {v}\n"));
            }
        }
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n{body}",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if out.write_all(resp.as_bytes()).is_err() || close {
            return;
        }
    }
}

/// A response: its status and body (an upstream's: its name and the headers it received).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Response {
    /// The upstream that answered.
    pub fn upstream(&self) -> Option<&str> {
        self.body.lines().next()?.strip_prefix("upstream=")
    }

    /// The value of header `name` as the upstream received it (`None`: not sent).
    pub fn seen(&self, name: &str) -> Option<&str> {
        self.body
            .lines()
            .skip(1)
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
    }
}

/// GET `path` from 127.0.0.1 with extra headers.
pub fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> Response {
    get_from(Ipv4Addr::LOCALHOST, port, path, headers)
}

/// GET `path` on 127.0.0.1:`port` from the local address `source` (any 127.x.y.z).
pub fn get_from(source: Ipv4Addr, port: u16, path: &str, headers: &[(&str, &str)]) -> Response {
    try_get_from(source, port, path, headers)
        .unwrap_or_else(|e| panic!("GET {path} on {port}: {e}"))
}

pub fn try_get_from(
    source: Ipv4Addr,
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Response> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((source, 0)).into())?;
    socket.connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into(),
        Duration::from_secs(5),
    )?;
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: gray.test\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {text:?}")))?;
    Ok(Response {
        status,
        body: body.to_string(),
    })
}

/// The example's rules (examples/nginx/rules.yaml) with the test's upstreams as the stable
/// and canary nodes.
pub fn example_rules(stable: &Upstream, canary: &Upstream) -> String {
    std::fs::read_to_string(repo().join("examples/nginx/rules.yaml"))
        .expect("examples/nginx/rules.yaml")
        .replace("127.0.0.1:18181", &stable.address())
        .replace("127.0.0.1:18182", &canary.address())
}

/// A running nginx from examples/nginx/nginx.conf in a private prefix; stopped on drop.
pub struct Nginx {
    child: Child,
    pub dir: PathBuf,
    /// The proxy_pass $gray_upstream server.
    pub main: u16,
    /// The balancer_by_lua server.
    pub balancer: u16,
    /// The set_by_lua server: gray picks one of nginx's upstream blocks.
    pub group: u16,
    /// Admin calls and /metrics.
    pub admin: u16,
}

/// How often the test nginx checks the rules file (the example's `watch = 1`, made shorter).
pub const WATCH: Duration = Duration::from_millis(200);

fn uid_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

impl Nginx {
    pub fn start(env: &Env, test: &str, rules: &str) -> Nginx {
        Nginx::start_with(env, test, rules, &[])
    }

    /// [`Nginx::start`] with the example's nginx `upstream` blocks (the group-mode server's)
    /// pointing at `nodes`: `(address in examples/nginx/nginx.conf, the test's address)`.
    pub fn start_with(env: &Env, test: &str, rules: &str, nodes: &[(&str, String)]) -> Nginx {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "nginx-{test}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("logs")).expect("mkdir logs");
        std::fs::create_dir_all(dir.join("temp")).expect("mkdir temp");
        let [main, balancer, group, admin] = free_ports();
        let example = repo().join("examples/nginx/nginx.conf");
        let mut conf = std::fs::read_to_string(&example).expect("examples/nginx/nginx.conf");
        for (from, to) in [
            ("127.0.0.1:18080", format!("127.0.0.1:{main}")),
            ("127.0.0.1:18081", format!("127.0.0.1:{balancer}")),
            ("127.0.0.1:18082", format!("127.0.0.1:{group}")),
            ("127.0.0.1:18090", format!("127.0.0.1:{admin}")),
            ("include demo-upstreams.conf;", String::new()),
            (
                "$prefix/../../lua-resty-gray/lib/",
                format!("{}/", repo().join("lua-resty-gray/lib").display()),
            ),
            ("watch = 1,", format!("watch = {},", WATCH.as_secs_f64())),
        ] {
            assert!(
                conf.contains(from),
                "examples/nginx/nginx.conf has no `{from}`"
            );
            conf = conf.replace(from, &to);
        }
        for (from, to) in nodes {
            assert!(
                conf.contains(from),
                "examples/nginx/nginx.conf has no `{from}`"
            );
            conf = conf.replace(from, to);
        }
        if !env.modules {
            conf = conf
                .lines()
                .filter(|l| !l.starts_with("load_module"))
                .collect::<Vec<_>>()
                .join("\n");
        }
        if uid_is_root() {
            // Workers would run as nobody, who may not read the checkout.
            conf = format!("user root;\n{conf}");
        }
        std::fs::write(dir.join("nginx.conf"), conf).expect("write nginx.conf");
        std::fs::write(dir.join("rules.yaml"), rules).expect("write rules.yaml");
        let child = Command::new(&env.nginx)
            .arg("-p")
            .arg(format!("{}/", dir.display()))
            .args([
                "-c",
                "nginx.conf",
                "-e",
                "logs/error.log",
                "-g",
                "daemon off;",
            ])
            .env("GRAY_LIB", &env.lib)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .spawn()
            .expect("start nginx");
        let mut nginx = Nginx {
            child,
            dir,
            main,
            balancer,
            group,
            admin,
        };
        nginx.wait_ready();
        nginx
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nginx exited ({status}):\n{}", self.error_log());
            }
            let up = [self.main, self.balancer, self.group, self.admin]
                .iter()
                .all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok());
            // The master listens before the workers have read the rules: wait for both
            // workers' first load (or its failure), so that a test's next write is a reload.
            let log = self.error_log();
            let loaded =
                log.matches("gray: loaded ").count() + log.matches("gray: cannot load").count();
            if up && loaded >= 2 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not listen:\n{}",
                self.error_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("logs/error.log")).unwrap_or_default()
    }

    /// Replaces the rules file atomically (write beside it, then rename), as an editor or
    /// deploy tool should.
    pub fn write_rules(&self, rules: &str) {
        let tmp = self.dir.join("rules.yaml.new");
        std::fs::write(&tmp, rules).expect("write rules");
        std::fs::rename(&tmp, self.dir.join("rules.yaml")).expect("rename rules");
    }

    /// Waits until `cond` holds for the error log, or panics with it.
    pub fn wait_log(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.error_log();
            if cond(&log) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "the error log never showed {what}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM to the master: it stops its workers (a SIGKILL would orphan them).
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
