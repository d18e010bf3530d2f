//! Sends reference requests through `GrayLayer` in a loop, for profilers:
//! `valgrind --tool=callgrind target/release/examples/tower-loop 20000 hit-first [spare]`
//! (`cargo build --profile bench -p gray-benches --example tower-loop`). Requests are prepared
//! in batches of 1000 as the `tower` benchmark does; `spare` builds their header maps the way
//! hyper does (room for a few more headers) instead of cloning the template's.

use std::sync::Arc;

use gray_core::Engine;
use gray_tower::{GrayLayer, PeerAddr};
use http::Request;
use tower_layer::Layer;
use tower_service::Service;

#[path = "../benches/common/tower.rs"]
mod common;
use common::{http_request, Echo};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let which = args.next().unwrap_or_else(|| "hit-first".into());
    let spare = args.next().is_some_and(|a| a == "spare");
    let engine = Arc::new(Engine::new(gray_benches::reference_spec()).expect("compiles"));
    let (_, r) = gray_benches::reference_requests()
        .into_iter()
        .find(|(k, _)| *k == which)
        .expect("known request");
    let template = http_request(&r);
    let fresh = || {
        let mut req = Request::new(());
        *req.method_mut() = template.method().clone();
        *req.uri_mut() = template.uri().clone();
        if spare {
            let mut h = http::HeaderMap::with_capacity(template.headers().len());
            for (k, v) in template.headers() {
                h.append(k.clone(), v.clone());
            }
            *req.headers_mut() = h;
        } else {
            *req.headers_mut() = template.headers().clone();
        }
        req.extensions_mut()
            .insert(*template.extensions().get::<PeerAddr>().expect("peer"));
        req
    };
    let mut svc = GrayLayer::new(engine).layer(Echo);
    let mut done = 0;
    let mut out = Vec::with_capacity(1000);
    while done < n {
        let batch: Vec<_> = (0..1000).map(|_| fresh()).collect();
        for req in batch {
            let Ok(r) = svc.call(req).into_inner();
            out.push(r);
        }
        done += 1000;
        out.clear();
    }
}
