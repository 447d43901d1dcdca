//! Fuzz target `esphome_sse`: arbitrary bytes into the reader `watchpost::fuzz::esphome_sse` (src/fuzz.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| watchpost::fuzz::esphome_sse(data));
