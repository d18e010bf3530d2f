//! Loads the embedded default config and prints the explained decision for a few sample
//! requests: `cargo run -p gray-examples --bin demo`.

use gray_core::{Engine, Format, SimpleRequest};

use gray_examples::DEFAULT_CONFIG;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::from_str(DEFAULT_CONFIG, Format::Yaml)?;
    let samples = [
        (
            "a canary account (cookie canary=...aaa)",
            SimpleRequest::new("203.0.113.7".parse()?).with_header("cookie", "canary=userAAA"),
        ),
        (
            "a tester behind the local proxy",
            SimpleRequest::new("127.0.0.1".parse()?).with_header("x-forwarded-for", "10.8.3.4"),
        ),
        (
            "the same header from an untrusted peer",
            SimpleRequest::new("203.0.113.9".parse()?).with_header("x-forwarded-for", "10.8.3.4"),
        ),
        (
            "an ordinary user",
            SimpleRequest::new("203.0.113.10".parse()?).with_header("cookie", "uid=alice"),
        ),
    ];
    for (what, req) in &samples {
        println!("=== {what}");
        println!("{}", engine.explain(req));
    }
    Ok(())
}
