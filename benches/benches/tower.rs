//! The tower layer: the same trivial service with and without `GrayLayer` in front, on the
//! reference rule set and requests. The difference is what the layer adds to a request:
//! reading the `http::Request` through `HttpRequestView`, `decide`, stripping inbound routing
//! headers, setting the decision's headers and storing the decision in the extensions.
//!
//! `with-layer` hands the layer requests whose header map is a `clone()` of the template, which
//! has no room left: the first header the layer sets reallocates the map's entries.
//! `with-layer-hyper-map` builds the map the way hyper's HTTP/1 server does
//! (`HeaderMap::with_capacity(count)`, then one `append` per header), which leaves room for a
//! few more. `decide-fresh` is `decide` alone on those same freshly built requests: their
//! header maps and extensions are not in the cache yet, unlike `decide-only`'s template, so
//! `with-layer-hyper-map − decide-fresh` is what the layer itself adds. `store-decision` is
//! the cost of inserting a `Decision` into a fresh request's extensions alone (one boxed
//! value).

use std::convert::Infallible;
use std::future::Ready;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use gray_benches::clock::BenchClock;
use gray_core::Engine;
use gray_tower::{GrayLayer, PeerAddr};
use http::Request;
use tower_layer::Layer;
use tower_service::Service;

#[path = "common/tower.rs"]
mod common;
use common::{http_request, Echo};

fn call<S>(svc: &mut S, req: Request<()>) -> Request<()>
where
    S: Service<
        Request<()>,
        Response = Request<()>,
        Error = Infallible,
        Future = Ready<Result<Request<()>, Infallible>>,
    >,
{
    match svc.call(req).into_inner() {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// A copy of `template` with `headers`, built outside the measurement.
fn fresh_request(template: &Request<()>, headers: http::HeaderMap) -> Request<()> {
    let mut req = Request::new(());
    *req.method_mut() = template.method().clone();
    *req.uri_mut() = template.uri().clone();
    *req.headers_mut() = headers;
    req.extensions_mut()
        .insert(*template.extensions().get::<PeerAddr>().expect("peer"));
    req
}

fn layer(c: &mut Criterion<BenchClock>) {
    let engine = Arc::new(Engine::new(gray_benches::reference_spec()).expect("compiles"));
    let mut g = c.benchmark_group("tower");
    for (name, r) in gray_benches::reference_requests() {
        let template = http_request(&r);
        let mut with = GrayLayer::new(engine.clone()).layer(Echo);
        let routed = call(&mut with, http_request(&r));
        let d = routed
            .extensions()
            .get::<gray_core::Decision>()
            .expect("the layer stores the decision");
        assert_eq!(d.rule_id(), engine.decide(&r).rule_id(), "{name}");
        let mut without = Echo;
        let fresh = || fresh_request(&template, template.headers().clone());
        let fresh_hyper = || {
            let mut headers = http::HeaderMap::with_capacity(template.headers().len());
            for (k, v) in template.headers() {
                headers.append(k.clone(), v.clone());
            }
            fresh_request(&template, headers)
        };
        g.bench_function(format!("without-layer/{name}"), |b| {
            b.iter_batched(
                fresh,
                |req| black_box(call(&mut without, req)),
                BatchSize::SmallInput,
            )
        });
        g.bench_function(format!("with-layer/{name}"), |b| {
            b.iter_batched(
                fresh,
                |req| black_box(call(&mut with, req)),
                BatchSize::SmallInput,
            )
        });
        g.bench_function(format!("with-layer-hyper-map/{name}"), |b| {
            b.iter_batched(
                fresh_hyper,
                |req| black_box(call(&mut with, req)),
                BatchSize::SmallInput,
            )
        });
        g.bench_function(format!("decide-fresh/{name}"), |b| {
            b.iter_batched(
                fresh_hyper,
                |req| {
                    let d = engine.decide(&gray_tower::HttpRequestView::new(&req));
                    black_box((d, req))
                },
                BatchSize::SmallInput,
            )
        });
        if name == "hit-first" {
            let decision = engine.decide(&r);
            g.bench_function("store-decision", |b| {
                b.iter_batched(
                    fresh,
                    |mut req| {
                        req.extensions_mut().insert(decision.clone());
                        black_box(req)
                    },
                    BatchSize::SmallInput,
                )
            });
        }
        g.bench_function(format!("decide-only/{name}"), |b| {
            b.iter(|| {
                black_box(engine.decide(&gray_tower::HttpRequestView::new(black_box(&template))))
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = gray_benches::clock::criterion();
    targets = layer
}
criterion_main!(benches);
