//! Fuzz target `mdns_txt`: arbitrary bytes into the reader `watchpost::fuzz::mdns_txt` (src/fuzz.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| watchpost::fuzz::mdns_txt(data));
