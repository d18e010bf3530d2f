//! The README's "Using the engine" snippet as a program that compiles and runs:
//! `cargo run -p gray-core --example engine_tour`. It writes a small `gray.yaml` into a fresh
//! temporary directory and works there. The test `tests/readme.rs` checks that every line of
//! the README snippet is here, so the two cannot drift apart.

use std::error::Error;

use gray_core::spec::NodeSpec;
use gray_core::{Engine, Outcome, SimpleRequest};

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::temp_dir().join(format!("gray-engine-tour-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("gray.yaml"), SPEC)?;
    std::env::set_current_dir(&dir)?;
    let engine = Engine::from_file("gray.yaml")?;
    let request = SimpleRequest::new("10.0.0.7".parse()?).with_header("cookie", "canary=xaaa");
    let decision = engine.decide(&request); // any RequestView; lock- and allocation-free
    println!("{decision}"); // rule → group → node [generation]
    println!("{}", engine.explain(&request)); // every rule, condition and value seen
    engine.record(&decision, Outcome::Status(502)); // passive health: the group's fail_on classifies
    engine.reload_file("gray.yaml")?; // atomic; on error the old rules keep serving
    engine.add_node("canary", NodeSpec::new("10.0.2.12:8080"))?; // runtime node admin (RCU)
    print!("{}", engine.metrics()); // Prometheus text
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

const SPEC: &str = r#"
version: 1
groups:
  stable: { nodes: [{ address: "10.0.1.11:8080" }] }
  canary: { nodes: [{ address: "10.0.2.11:8080" }], fallback: stable }
rules:
  - { id: canary-cookie, when: { cookie: { name: canary, regex: "aaa$" } }, route: canary }
default: stable
"#;
