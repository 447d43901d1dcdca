//! Fuzz target `telegram_update`: arbitrary bytes into the reader `watchpost::fuzz::telegram_update` (src/fuzz.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| watchpost::fuzz::telegram_update(data));
