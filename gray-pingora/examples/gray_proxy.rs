//! A pingora reverse proxy routed by gray.
//!
//! ```sh
//! cargo run -p gray-pingora --example gray_proxy -- gray.yaml 127.0.0.1:6188
//! curl -H 'Cookie: canary=xaaa' http://127.0.0.1:6188/
//! ```
//!
//! Every request is decided by the rules in the file (its groups' node addresses are the
//! upstreams, plain HTTP); the file is read once at start. SIGINT stops at once, SIGTERM after
//! pingora's grace period.

use std::sync::Arc;

use gray_core::Engine;
use gray_pingora::GrayProxy;
use pingora::server::Server;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(rules), listen) = (args.next(), args.next()) else {
        eprintln!("usage: gray_proxy RULES.yaml [LISTEN_ADDR (default 127.0.0.1:6188)]");
        std::process::exit(2);
    };
    let listen = listen.unwrap_or_else(|| "127.0.0.1:6188".to_owned());
    let engine = Arc::new(Engine::from_file(&rules)?);
    let mut server = Server::new(None)?;
    server.bootstrap();
    let mut proxy =
        pingora::proxy::http_proxy_service(&server.configuration, GrayProxy::new(engine));
    proxy.add_tcp(&listen);
    server.add_service(proxy);
    eprintln!("gray_proxy: {rules} on http://{listen}/");
    server.run_forever();
}
