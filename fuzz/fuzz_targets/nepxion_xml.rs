#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gray_core::testing::fuzz::nepxion_xml(data));
