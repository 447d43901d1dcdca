//! Fuzz target `config`: arbitrary bytes into the reader `watchpost::fuzz::config` (src/fuzz.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| watchpost::fuzz::config(data));
