//! Imports a Nepxion Discovery rule (XML or JSON) and routes sample requests through a
//! gateway → service-a → service-b chain, explaining every step:
//!
//! ```sh
//! cargo run -p gray-examples --bin nepxion -- testdata/nepxion/09-guide-discovery-strategy-all.xml a=1
//! ```
//!
//! Arguments after the file are request headers (`name=value`). Services are the four guide
//! instances (a1 1.0/dev, a2 1.1/qa, b1 1.0/qa, b2 1.1/dev).

use gray_core::{nepxion, Engine, Format, SimpleRequest, Spec};

const TOPOLOGY: &str = r#"
version: 1
default: discovery-guide-service-a
groups:
  discovery-guide-service-a:
    nodes:
      - { address: "127.0.0.1:3001", metadata: { version: "1.0", region: dev, env: env1, zone: zone1 } }
      - { address: "127.0.0.1:3002", metadata: { version: "1.1", region: qa, env: common, zone: zone2 } }
  discovery-guide-service-b:
    nodes:
      - { address: "127.0.0.1:4001", metadata: { version: "1.0", region: qa, env: env1, zone: zone1 } }
      - { address: "127.0.0.1:4002", metadata: { version: "1.1", region: dev, env: common, zone: zone2 } }
headers: { trusted_peers: ["127.0.0.0/8"] }
release: { local: { service: discovery-guide-gateway } }
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: nepxion RULE.xml|RULE.json [header=value ...]");
        std::process::exit(2);
    };
    let import = nepxion::import(&std::fs::read_to_string(&path)?)?;
    for w in &import.warnings {
        println!("{w}");
    }
    let mut spec = Spec::from_str(TOPOLOGY, Format::Yaml)?;
    import.apply_to(&mut spec);
    let gateway = Engine::new(spec.clone())?;
    // Service A has no rule of its own: it follows the gateway's headers.
    spec.release = None;
    let service_a = Engine::new(spec)?;

    let mut req = SimpleRequest::new("203.0.113.7".parse()?);
    for a in args {
        let (k, v) = a.split_once('=').ok_or("headers are written name=value")?;
        req = req.with_header(k, v);
    }
    println!("=== gateway");
    println!("{}", gateway.explain(&req));
    let d = gateway.decide(&req);
    let mut hop = SimpleRequest::new("127.0.0.1".parse()?);
    for (k, v) in &req.headers {
        if d.forward_inbound(k) {
            hop = hop.with_header(k, v);
        }
    }
    for (k, v) in d.headers() {
        hop = hop.with_header(k, v);
    }
    println!(
        "=== service-a ({}) calls service-b",
        d.node_address().unwrap_or("no instance")
    );
    println!(
        "{}",
        service_a.explain_instance("discovery-guide-service-b", &hop)
    );
    Ok(())
}
