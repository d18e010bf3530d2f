//! Exposes PyO3's `Py_3_*` cfgs (the minimum Python version of the stable ABI targeted), so
//! that the binding can pick the cheaper way to take call arguments (see `src/engine.rs`).

fn main() {
    pyo3_build_config::use_pyo3_cfgs();
}
