//! `decide` through the C ABI (`gray_engine_decide`, reading the group, `gray_decision_free`)
//! against `Engine::decide` on the same reference rule set and requests. The difference is
//! what the ABI adds: checking the C request data (UTF-8, the peer address), boxing the
//! decision, and its first string read making the decision's C strings.

use std::ffi::CString;
use std::hint::black_box;
use std::ptr;

use criterion::{criterion_group, criterion_main, Criterion};
use gray::{
    gray_decision_free, gray_decision_group, gray_engine_decide, gray_engine_free,
    gray_engine_from_str, GrayHeader, GrayRequest, GrayStatus, GrayStr, GRAY_FORMAT_JSON,
};
use gray_benches::clock::BenchClock;
use gray_core::{Engine, SimpleRequest};

/// A request's C data, borrowing its strings.
struct CData {
    peer: String,
    headers: Vec<GrayHeader>,
}

impl CData {
    fn new(req: &SimpleRequest) -> CData {
        assert!(req.cookies.is_empty(), "reference cookies come as headers");
        CData {
            peer: req.peer.to_string(),
            headers: req
                .headers
                .iter()
                .map(|(k, v)| GrayHeader {
                    name: GrayStr::new(k),
                    value: GrayStr::new(v),
                })
                .collect(),
        }
    }

    fn request<'a>(&'a self, req: &'a SimpleRequest) -> GrayRequest {
        GrayRequest {
            peer: GrayStr::new(&self.peer),
            method: GrayStr::new(&req.method),
            path: GrayStr::new(&req.path),
            query: GrayStr::from_option(req.query.as_deref()),
            host: GrayStr::from_option(req.host.as_deref()),
            headers: self.headers.as_ptr(),
            headers_len: self.headers.len(),
            cookie: GrayStr::NONE,
        }
    }
}

fn decide(c: &mut Criterion<BenchClock>) {
    let spec = gray_benches::reference_spec();
    let engine = Engine::new(spec.clone()).expect("the reference set compiles");
    let text = CString::new(spec.to_json()).expect("JSON has no NUL");
    let mut ffi = ptr::null_mut();
    // SAFETY: `text` is NUL-terminated and `ffi` writable.
    let status =
        unsafe { gray_engine_from_str(text.as_ptr(), GRAY_FORMAT_JSON, &mut ffi, ptr::null_mut()) };
    assert_eq!(
        status,
        GrayStatus::GRAY_OK,
        "the reference set loads through the ABI"
    );

    let requests = gray_benches::reference_requests();
    let data: Vec<CData> = requests.iter().map(|(_, r)| CData::new(r)).collect();
    let mut g = c.benchmark_group("ffi");
    for ((name, req), data) in requests.iter().zip(&data) {
        g.bench_function(format!("{name}/engine"), |b| {
            b.iter(|| black_box(engine.decide(black_box(req)).group().len()))
        });
        let creq = data.request(req);
        let mut d = ptr::null_mut();
        // SAFETY: as in the loop below; the group lives until the decision is freed.
        unsafe {
            assert_eq!(gray_engine_decide(ffi, &creq, &mut d), GrayStatus::GRAY_OK);
            let group = std::ffi::CStr::from_ptr(gray_decision_group(d));
            assert_eq!(
                group.to_str(),
                Ok(engine.decide(req).group()),
                "{name}: same decision"
            );
            gray_decision_free(d);
        }
        g.bench_function(format!("{name}/abi"), |b| {
            b.iter(|| {
                let mut d = ptr::null_mut();
                // SAFETY: the engine is live, `creq` borrows `req` and `data`, `d` writable;
                // the decision is freed once.
                unsafe {
                    let s = gray_engine_decide(ffi, black_box(&creq), &mut d);
                    debug_assert_eq!(s, GrayStatus::GRAY_OK);
                    black_box(gray_decision_group(d));
                    gray_decision_free(d);
                }
            })
        });
    }
    g.finish();
    // SAFETY: made above, freed once.
    unsafe { gray_engine_free(ffi) };
}

criterion_group! {
    name = benches;
    config = gray_benches::clock::criterion();
    targets = decide
}
criterion_main!(benches);
