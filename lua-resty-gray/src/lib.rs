//! lua-resty-gray: gray inside nginx through LuaJIT's FFI (`lib/resty/gray.lua`, see
//! `README.md` beside this crate).
//!
//! This crate has no code of its own: it holds the module's tests, which `cargo test
//! --workspace` runs. `tests/cdef.rs` checks that the module's `ffi.cdef` matches
//! `gray-ffi/include/gray.h`; `tests/nginx.rs` starts a real nginx with the Lua module (Debian's
//! `libnginx-mod-http-lua`, or OpenResty through `GRAY_NGINX`) in front of real upstreams and
//! checks what they receive.
