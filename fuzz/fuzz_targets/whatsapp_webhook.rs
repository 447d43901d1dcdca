//! Fuzz target `whatsapp_webhook`: arbitrary bytes into the reader `watchpost::fuzz::whatsapp_webhook` (src/fuzz.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| watchpost::fuzz::whatsapp_webhook(data));
