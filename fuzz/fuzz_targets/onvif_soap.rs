//! Fuzz target `onvif_soap`: arbitrary bytes into the reader `watchpost::fuzz::onvif_soap` (src/fuzz.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| watchpost::fuzz::onvif_soap(data));
