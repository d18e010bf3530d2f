//! The `gateway` binary: flags, refusing an unprotected public admin API, SIGHUP reloads.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_gateway");

#[test]
fn help_and_bad_flags() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--listen",
        "--admin-listen",
        "--admin-token",
        "--config",
        "--no-demo-upstreams",
        "--tls-cert",
        "--tls-key",
        "--upstream-tls",
        "--upstream-ca",
        "--shutdown-timeout",
    ] {
        assert!(text.contains(flag), "usage lacks {flag}");
    }
    let out = Command::new(BIN)
        .arg("--listen")
        .arg("nowhere")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("IP:port"));
}

#[test]
fn a_public_admin_listener_without_a_token_is_refused() {
    let out = Command::new(BIN)
        .args([
            "--no-demo-upstreams",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "0.0.0.0:0",
        ])
        .env_remove("GRAY_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to serve the admin API on non-loopback address"),
        "{err}"
    );
}

#[test]
fn an_invalid_config_file_stops_the_start_with_its_error() {
    let path = std::env::temp_dir().join(format!("gray-cli-bad-{}.yaml", std::process::id()));
    std::fs::write(&path, "version: 1\ngroups: {}\ndefault: missing\n").unwrap();
    let out = Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "off",
            "--config",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid config") && err.contains("missing"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_config_file() {
    let (stable, canary) = (upstream("stable").await, upstream("canary").await);
    let path = std::env::temp_dir().join(format!("gray-cli-hup-{}.yaml", std::process::id()));
    let config = seed_config(&[stable.addr()], &[canary.addr()], "10s");
    std::fs::write(&path, &config).unwrap();
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .args(["--watch-interval", "10m", "--config"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let proxy: std::net::SocketAddr = first
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    let second = lines.next().unwrap().unwrap();
    let admin_addr = second
        .strip_prefix("admin: http://")
        .and_then(|s| s.split('/').next())
        .unwrap()
        .to_owned();

    let c = client();
    let cookie = [("cookie", "canary=xaaa")];
    assert_eq!(get(&c, proxy, "/", &cookie).await.upstream(), "canary");
    std::fs::write(&path, config.replace("regex: \"aaa$\"", "regex: \"bbb$\"")).unwrap();
    // The shell's builtin kill exists everywhere, unlike a separate kill binary.
    let hup = Command::new("sh")
        .args(["-c", &format!("kill -HUP {}", child.id())])
        .status()
        .unwrap();
    assert!(hup.success());
    eventually("SIGHUP reloads the file", 500, || {
        let c = c.clone();
        let url = format!("http://{admin_addr}/api/status");
        async move {
            let req = http::Request::get(url).body(Default::default()).unwrap();
            let r = send(&c, req).await.unwrap();
            r.json()["generation"] == 2
        }
    })
    .await;
    assert_eq!(get(&c, proxy, "/", &cookie).await.upstream(), "stable");
    assert_eq!(
        get(&c, proxy, "/", &[("cookie", "canary=xbbb")])
            .await
            .upstream(),
        "canary"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_missing_certificate_stops_the_start_with_the_file_named() {
    let missing = std::env::temp_dir().join(format!("gray-cli-no-cert-{}.pem", std::process::id()));
    let out = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "off"])
        .args(["--no-demo-upstreams", "--tls-cert"])
        .arg(&missing)
        .arg("--tls-key")
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TLS")
            && err.contains(&*missing.to_string_lossy())
            && err.contains("cannot read"),
        "{err}"
    );
    let out = Command::new(BIN)
        .args(["--tls-cert", "a.pem"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pairs"));
}

#[test]
fn what_if_reports_moves_of_recorded_requests_and_refuses_too_many() {
    let dir = std::env::temp_dir().join(format!("gray-what-if-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let live = "version: 1\ngroups: { stable: {}, canary: {}, office: {} }\n\
                rules:\n  - { id: canary-cookie, when: { cookie: { name: canary, regex: \"aaa$\" } }, route: canary }\n\
                default: stable\n";
    let candidate = live.replace(
        "rules:\n",
        "rules:\n  - { id: office, when: { ip: [\"10.1.0.0/16\"] }, route: office }\n",
    );
    std::fs::write(dir.join("live.yaml"), live).unwrap();
    std::fs::write(dir.join("new.yaml"), &candidate).unwrap();
    std::fs::write(
        dir.join("bad.yaml"),
        candidate.replace("route: office", "route: nowhere"),
    )
    .unwrap();
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/what-if/requests.jsonl"
    );
    let run = |config: &str, extra: &[&str]| {
        Command::new(BIN)
            .args(["what-if", "--live"])
            .arg(dir.join("live.yaml"))
            .arg("--config")
            .arg(dir.join(config))
            .args(["--sample", sample])
            .args(extra)
            .output()
            .unwrap()
    };
    // 50 of the 200 recorded requests come from 10.1.0.0/16.
    let out = run("new.yaml", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.starts_with("50 of 200 requests would change group (25.0%)"),
        "{text}"
    );
    assert!(
        text.contains("rule office: 0 -> 50 requests (takes 50, loses 0)"),
        "{text}"
    );
    // --max-moved refuses a candidate that moves more.
    let out = run("new.yaml", &["--max-moved", "5%"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("refused"));
    assert_eq!(
        run("new.yaml", &["--max-moved", "30%"]).status.code(),
        Some(0)
    );
    // A candidate that does not compile: the located error, exit 2.
    let out = run("bad.yaml", &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no group named \"nowhere\"") && err.contains("bad.yaml, line 4"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_if_on_the_live_sample_of_a_running_gateway() {
    let (web, office) = (upstream("web").await, upstream("office").await);
    let live = format!(
        "version: 1\nclient_ip: {{ trusted_proxies: [\"127.0.0.1\"] }}\n\
         groups: {{ web: {{ nodes: [{{ address: \"{}\" }}] }}, office: {{ nodes: [{{ address: \"{}\" }}] }} }}\n\
         rules:\n  - {{ id: office, when: {{ ip: [\"10.9.0.0/16\"] }}, route: office }}\ndefault: web\n",
        web.addr(),
        office.addr()
    );
    let gw = gateway_with(&live, |o| {
        o.sample = Some(gray_core::sample::SampleConfig {
            every: 1,
            ..Default::default()
        })
    })
    .await;
    let c = client();
    // Traffic flows: 40 requests, one in four from the office network the candidate adds.
    for i in 0..40 {
        let from = if i % 4 == 0 { "10.1.2.3" } else { "192.0.2.7" };
        let r = get(&c, gw.proxy_addr(), "/", &[("x-forwarded-for", from)]).await;
        assert_eq!(r.upstream(), "web");
    }
    let stats = admin(&gw, "GET", "/api/sample", "").await.json();
    assert_eq!(
        (stats["kept"].as_u64(), stats["seen"].as_u64()),
        (Some(40), Some(40)),
        "{stats}"
    );

    let dir = std::env::temp_dir().join(format!("gray-what-if-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let candidate = dir.join("new.yaml");
    std::fs::write(&candidate, live.replace("10.9.0.0/16", "10.1.0.0/16")).unwrap();
    let admin_url = format!("http://{}", gw.admin_addr().unwrap());
    let run = |extra: &[&str]| {
        Command::new(BIN)
            .args(["what-if", "--config"])
            .arg(&candidate)
            .args(["--admin", &admin_url])
            .args(extra)
            .env_remove("GRAY_ADMIN_TOKEN")
            .output()
            .unwrap()
    };
    let out = tokio::task::block_in_place(|| run(&[]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with("10 of 40 requests would change group (25.0%)"),
        "{text}"
    );
    assert!(text.contains("web -> office"), "{text}");
    let out = tokio::task::block_in_place(|| run(&["--max-moved", "10%"]));
    assert_eq!(out.status.code(), Some(1));
    // Nothing was applied, and the sample keeps serving what-if through the API too.
    assert_eq!(
        admin(&gw, "GET", "/api/status", "").await.json()["generation"],
        1
    );
    let body = serde_json::json!({ "config": std::fs::read_to_string(&candidate).unwrap(), "sample": "live" });
    let r = admin_with(
        &gw,
        "POST",
        "/api/what-if",
        &body.to_string(),
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(r.json()["moved"], 10, "{}", r.body);
    // Turned off, the sample is gone and what-if on it says why.
    let r = admin_with(
        &gw,
        "PUT",
        "/api/sample",
        r#"{"off": true}"#,
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(r.json()["kept"], 0, "{}", r.body);
    let r = admin_with(
        &gw,
        "POST",
        "/api/what-if",
        &body.to_string(),
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(r.status, http::StatusCode::BAD_REQUEST);
    assert!(r.body.contains("--sample-every"), "{}", r.body);
    let r = admin_with(
        &gw,
        "PUT",
        "/api/sample",
        r#"{"every": 0}"#,
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(r.status, http::StatusCode::BAD_REQUEST);
    assert!(r.body.contains("sample.every"), "{}", r.body);
    std::fs::remove_dir_all(&dir).ok();
}
