//! The `gray-redis` command as a CI job or an operator runs it.

mod common;

use std::process::{Command, Output};

use common::{RedisServer, TempDir, RULES};

fn cli(server: &RedisServer, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gray-redis"))
        .args(["--redis", &server.url(), "--ns", "ci"])
        .args(args)
        .env_remove("GRAY_REDIS_URL")
        .env_remove("GRAY_NS")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn fails(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "expected exit 1");
    String::from_utf8(out.stderr.clone()).unwrap()
}

#[test]
fn publish_validates_then_writes() {
    let server = RedisServer::start();
    let dir = TempDir::new("cli");
    let good = dir.join("rules.yaml");
    std::fs::write(&good, RULES).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, RULES.replace("route: canary", "route: nowhere")).unwrap();
    let good = good.to_str().unwrap();
    let bad = bad.to_str().unwrap();

    // Before anything is published, show says so.
    assert!(fails(&cli(&server, &["show"])).contains("no spec in Redis"));

    let out = ok(&cli(&server, &["publish", "--dry-run", good]));
    assert!(
        out.contains("valid (1 rules, 2 groups, 1 IP sets)"),
        "{out}"
    );
    assert!(fails(&cli(&server, &["show"])).contains("no spec in Redis"));

    let out = ok(&cli(&server, &["publish", good]));
    assert!(out.contains("published"), "{out}");
    assert!(out.contains("gray:{ci}:spec"), "{out}");

    let err = fails(&cli(&server, &["publish", bad]));
    assert!(
        err.contains(&format!(
            "unknown reference at rules[0] (id \"testers\").route ({bad}, line 8, column 56): "
        )),
        "{err}"
    );
    assert!(err.contains("nowhere"), "{err}");
    // Redis still holds the good spec.
    assert!(ok(&cli(&server, &["show"])).contains("route: canary"));

    let err = fails(&cli(&server, &["publish", "/nonexistent/rules.yaml"]));
    assert!(err.contains("cannot read"), "{err}");
    let txt = dir.join("rules.txt");
    std::fs::write(&txt, RULES).unwrap();
    let err = fails(&cli(&server, &["publish", txt.to_str().unwrap()]));
    assert!(err.contains("--format"), "{err}");
    ok(&cli(
        &server,
        &["publish", "--format", "yaml", txt.to_str().unwrap()],
    ));

    // A Nepxion rule (by its .xml name) goes to its own key, on top of the spec.
    let rule = dir.join("rule.xml");
    std::fs::write(
        &rule,
        include_str!("../../testdata/nepxion/03-guide-discovery-strategy-blue-green.xml"),
    )
    .unwrap();
    let rule = rule.to_str().unwrap();
    let out = ok(&cli(&server, &["publish", "--dry-run", rule]));
    assert!(out.contains("valid Nepxion rule"), "{out}");
    assert!(out.contains("a release section"), "{out}");
    let out = ok(&cli(&server, &["publish", rule]));
    assert!(out.contains("gray:{ci}:nepxion"), "{out}");
    assert!(ok(&cli(&server, &["show"])).contains("release:"));
    let bad_rule = dir.join("bad.xml");
    std::fs::write(&bad_rule, "<rule><strategy>").unwrap();
    let err = fails(&cli(&server, &["publish", bad_rule.to_str().unwrap()]));
    assert!(err.contains("bad.xml"), "{err}");
    let out = ok(&cli(&server, &["remove-nepxion"]));
    assert!(out.contains("removed gray:{ci}:nepxion"), "{out}");
    assert!(!ok(&cli(&server, &["show"])).contains("release:"));

    // Usage errors exit 2.
    let out = cli(&server, &["publish"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn ipset_subcommands() {
    let server = RedisServer::start();
    let dir = TempDir::new("cli-ipset");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, RULES).unwrap();
    ok(&cli(&server, &["publish", rules.to_str().unwrap()]));

    let out = ok(&cli(
        &server,
        &[
            "ipset",
            "add",
            "testers",
            "192.0.2.1",
            "10.8.0.0/16",
            "192.0.2.1/32",
        ],
    ));
    assert!(out.contains("added 2 members"), "{out}");
    let out = ok(&cli(&server, &["ipset", "remove", "testers", "192.0.2.1"]));
    assert!(out.contains("removed 1 members"), "{out}");
    assert_eq!(
        ok(&cli(&server, &["ipset", "list", "testers"])),
        "10.8.0.0/16\n"
    );

    let list = dir.join("testers.txt");
    std::fs::write(&list, "# testers\n192.0.2.10\n192.0.2.11  # laptop\n\n").unwrap();
    let out = ok(&cli(
        &server,
        &["ipset", "load", "testers", "--file", list.to_str().unwrap()],
    ));
    assert!(out.contains("testers now has 2 members"), "{out}");
    let show = ok(&cli(&server, &["show"]));
    assert!(show.contains("192.0.2.11"), "{show}");
    assert!(!show.contains("10.8.0.0/16"), "{show}");

    std::fs::write(&list, "192.0.2.10\n192.0.2.300\n").unwrap();
    let err = fails(&cli(
        &server,
        &["ipset", "load", "testers", "--file", list.to_str().unwrap()],
    ));
    assert!(
        err.contains(&format!(
            "invalid IP address at {}, line 2: ",
            list.display()
        )),
        "{err}"
    );
    assert!(err.contains("192.0.2.300"), "{err}");
    let err = fails(&cli(&server, &["ipset", "add", "bad name", "192.0.2.1"]));
    assert!(err.contains("ip set name"), "{err}");
    // Nothing changed.
    assert_eq!(
        ok(&cli(&server, &["ipset", "list", "testers"])),
        "192.0.2.10\n192.0.2.11\n"
    );
}

#[test]
fn publish_what_if_shows_the_moves_and_max_moved_refuses() {
    let server = RedisServer::start();
    let dir = TempDir::new("cli-what-if");
    let live = dir.join("rules.yaml");
    std::fs::write(&live, RULES).unwrap();
    // The candidate sends 10.9.0.0/16 to canary too.
    let candidate = dir.join("new.yaml");
    std::fs::write(
        &candidate,
        RULES.replace(
            "rules: [{ id: testers, when: { ip: [testers] }, route: canary }]",
            "rules:\n  - { id: testers, when: { ip: [testers] }, route: canary }\n  - { id: lab, when: { ip: [\"10.9.0.0/16\"] }, route: canary }",
        ),
    )
    .unwrap();
    let sample = dir.join("requests.jsonl");
    let lines: Vec<String> = (0..10)
        .map(|i| {
            let ip = if i < 3 {
                format!("10.9.0.{i}")
            } else {
                format!("192.0.2.{i}")
            };
            format!("{{\"peer\": \"{ip}\"}}")
        })
        .collect();
    std::fs::write(&sample, lines.join("\n")).unwrap();
    let (live, candidate, sample) = (
        live.to_str().unwrap(),
        candidate.to_str().unwrap(),
        sample.to_str().unwrap(),
    );
    // Nothing published yet: the what-if says so and the publish goes ahead.
    let out = ok(&cli(
        &server,
        &["publish", live, "--what-if", sample, "--max-moved", "0%"],
    ));
    assert!(out.contains("nothing is published yet"), "{out}");
    // 3 of the 10 sampled requests would move: over 20 % the publish is refused.
    let err = fails(&cli(
        &server,
        &[
            "publish",
            candidate,
            "--what-if",
            sample,
            "--max-moved",
            "20%",
        ],
    ));
    assert!(
        err.contains("refused: 30.0% of the sample would change group"),
        "{err}"
    );
    assert!(
        !ok(&cli(&server, &["show"])).contains("lab"),
        "nothing was written"
    );
    let out = ok(&cli(
        &server,
        &[
            "publish",
            candidate,
            "--what-if",
            sample,
            "--max-moved",
            "50%",
        ],
    ));
    assert!(
        out.contains("3 of 10 requests would change group (30.0%)"),
        "{out}"
    );
    assert!(
        out.contains("rule lab: 0 -> 3 requests (takes 3, loses 0)"),
        "{out}"
    );
    assert!(out.contains("published"), "{out}");
    assert!(ok(&cli(&server, &["show"])).contains("lab"));
    // A bad percentage is a usage error of the flag.
    let err = fails(&cli(
        &server,
        &[
            "publish",
            candidate,
            "--what-if",
            sample,
            "--max-moved",
            "lots",
        ],
    ));
    assert!(err.contains("--max-moved"), "{err}");
}

#[test]
fn rollout_controls_move_the_fleets_state() {
    let server = RedisServer::start();
    let out = ok(&cli(&server, &["rollout", "status", "web"]));
    assert!(out.contains("web: no fleet state yet"), "{out}");
    assert!(out.contains("no engine holds the lease"), "{out}");
    let out = ok(&cli(&server, &["rollout", "pause", "web"]));
    assert_eq!(
        out.trim(),
        "web: paused at step 1 (version 1, by operator): Pause"
    );
    // Pausing a paused rollout is refused and writes nothing.
    let err = fails(&cli(&server, &["rollout", "pause", "web"]));
    assert!(
        err.contains("cannot Pause a rollout that is paused"),
        "{err}"
    );
    let out = ok(&cli(&server, &["rollout", "abort", "web"]));
    assert!(out.starts_with("web: aborted (version 2"), "{out}");
    let out = ok(&cli(&server, &["rollout", "status", "web"]));
    assert!(out.starts_with("web: aborted (version 2"), "{out}");
    let err = fails(&cli(&server, &["rollout", "restart", "web"]));
    assert!(
        err.contains("use status, pause, resume, promote or abort"),
        "{err}"
    );
}
