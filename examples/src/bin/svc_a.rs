//! A middle service of a gray call chain: answers every request by calling the next service
//! through gray's call layer (see `gray_examples::call_chain`).
//!
//! `svc_a --config svc-a.yaml [--listen 127.0.0.1:18090] [--callee svc-b]`

use std::sync::Arc;

use gray_core::Engine;
use gray_examples::call_chain::MiddleService;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = None;
    let mut listen = "127.0.0.1:18090".to_string();
    let mut callee = "svc-b".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--config" => config = Some(value("--config")?),
            "--listen" => listen = value("--listen")?,
            "--callee" => callee = value("--callee")?,
            other => return Err(format!("unknown argument {other:?} (try --config FILE)").into()),
        }
    }
    let config =
        config.ok_or("--config FILE is required: the service's spec (its callees as groups)")?;
    let engine = Arc::new(Engine::from_file(&config)?);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let svc = MiddleService::start(listener, engine, &callee)?;
    eprintln!("svc_a on {} calling {callee}", svc.addr());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
