#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gray_core::testing::fuzz::spec_parse(data));
