//! `cargo fuzz run parse_visitor`: see `liveagent_fuzz::parse_visitor` (fuzz/src/lib.rs) for the input format and the checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| liveagent_fuzz::parse_visitor(data));
