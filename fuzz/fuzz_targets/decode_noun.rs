//! `cargo fuzz run decode_noun`: see `liveagent_fuzz::decode_noun` (fuzz/src/lib.rs) for the input format and the checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| liveagent_fuzz::decode_noun(data));
