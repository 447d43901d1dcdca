//! Fuzz target `forms`: arbitrary bytes into the reader `watchpost::fuzz::forms` (src/fuzz.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| watchpost::fuzz::forms(data));
