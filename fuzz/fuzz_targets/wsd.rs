//! Fuzz target `wsd`: arbitrary bytes into the reader `watchpost::fuzz::wsd` (src/fuzz.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| watchpost::fuzz::wsd(data));
