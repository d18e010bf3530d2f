//! Readers deciding while a writer reloads in a loop: every decision is consistent with exactly
//! one generation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use gray_core::{Engine, Format, SimpleRequest};

/// Generation parity decides everything: even generations route the cookie to `even` with header
/// `x-gen: even`, odd ones to `odd`. A torn read would mix them.
fn spec(parity: &str) -> String {
    format!(
        r#"
version: 1
groups:
  even: {{ nodes: [{{ address: "127.0.0.1:1000" }}] }}
  odd: {{ nodes: [{{ address: "127.0.0.1:2000" }}] }}
rules:
  - id: rule-{parity}
    when: {{ cookie: {{ name: c, present: true }} }}
    route: {parity}
    set_headers: {{ x-gen: {parity} }}
default: {parity}
"#
    )
}

#[test]
fn every_decision_belongs_to_one_generation() {
    let engine = Arc::new(Engine::from_str(&spec("odd"), Format::Yaml).unwrap());
    assert_eq!(engine.generation(), 1);
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (engine, stop) = (engine.clone(), stop.clone());
            std::thread::spawn(move || {
                let req =
                    SimpleRequest::new("10.0.0.1".parse().unwrap()).with_header("cookie", "c=1");
                let mut last = 0;
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) || n < 1000 {
                    let d = engine.decide(&req);
                    let parity = if d.generation() % 2 == 0 {
                        "even"
                    } else {
                        "odd"
                    };
                    assert_eq!(d.group(), parity);
                    assert_eq!(d.rule_id(), Some(format!("rule-{parity}").as_str()));
                    assert_eq!(d.headers().collect::<Vec<_>>(), [("x-gen", parity)]);
                    let port = if parity == "even" { "1000" } else { "2000" };
                    assert!(d.node_address().unwrap().ends_with(port));
                    assert!(d.generation() >= last, "generations never go back");
                    last = d.generation();
                    n += 1;
                }
                n
            })
        })
        .collect();
    for i in 2..=300u64 {
        let g = engine
            .reload_str(&spec(if i % 2 == 0 { "even" } else { "odd" }), Format::Yaml)
            .unwrap();
        assert_eq!(g, i);
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() >= 1000);
    }
}

#[test]
fn concurrent_admin_changes_are_never_lost() {
    let engine = Arc::new(
        Engine::from_str(
            "version: 1\ngroups: { web: { nodes: [] } }\ndefault: web\n",
            Format::Yaml,
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                for i in 0..20 {
                    engine
                        .add_node(
                            "web",
                            gray_core::spec::NodeSpec::new(&format!("10.0.{t}.{i}:80")),
                        )
                        .unwrap();
                }
                for i in 0..20 {
                    if i % 2 == 0 {
                        engine
                            .remove_node("web", &format!("10.0.{t}.{i}:80"))
                            .unwrap();
                    }
                }
                let _ = engine.nodes("web").unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut got: Vec<String> = engine
        .nodes("web")
        .unwrap()
        .nodes
        .into_iter()
        .map(|n| n.address)
        .collect();
    got.sort();
    let mut want: Vec<String> = (0..8)
        .flat_map(|t| {
            (0..20)
                .filter(|i| i % 2 == 1)
                .map(move |i| format!("10.0.{t}.{i}:80"))
        })
        .collect();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(engine.generation(), 1 + 8 * 30);
}
