//! `cargo fuzz run hostile_server`: see `liveagent_fuzz::hostile_server` (fuzz/src/lib.rs) for the input format and the checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| liveagent_fuzz::hostile_server(data));
