//! The decision lands in the request span's `gray.*` fields.

use std::convert::Infallible;
use std::io::Write;
use std::sync::{Arc, Mutex};

use gray_core::{Engine, Format};
use gray_tower::{trace::request_span, GrayLayer, PeerAddr};
use tower::{service_fn, Layer, Service};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn gray_records_rule_group_node_and_generation_into_the_current_span() {
    let engine = Arc::new(
        Engine::from_str(
            r#"
version: 1
groups:
  stable: { nodes: [{ address: "127.0.0.1:6002" }] }
  canary: { nodes: [{ address: "127.0.0.1:6004" }] }
rules: [{ id: cookie, when: { cookie: { name: canary, regex: "aaa$" } }, route: canary }]
default: stable
"#,
            Format::Yaml,
        )
        .unwrap(),
    );
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let mut svc = GrayLayer::new(engine).layer(service_fn(|_req: http::Request<()>| {
            tracing::info!("handled");
            std::future::ready(Ok::<_, Infallible>(()))
        }));
        let mut req = http::Request::get("/")
            .header("cookie", "canary=xaaa")
            .body(())
            .unwrap();
        req.extensions_mut()
            .insert(PeerAddr("10.0.0.1:1".parse().unwrap()));
        let span = request_span(&req);
        let _entered = span.enter();
        drop(svc.call(req));
    });
    let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let handled = out
        .lines()
        .find(|l| l.contains("handled"))
        .unwrap_or_else(|| panic!("{out}"));
    for field in [
        "gray.rule=\"cookie\"",
        "gray.group=\"canary\"",
        "gray.node=\"127.0.0.1:6004\"",
        "gray.generation=1",
    ] {
        assert!(handled.contains(field), "{field} missing in {handled}");
    }
    assert!(
        out.contains("decision"),
        "the debug event is emitted: {out}"
    );
}
