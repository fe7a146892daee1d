//! `cargo fuzz run session_ops`: see `liveagent_fuzz::session_ops` (fuzz/src/lib.rs) for the input format and the checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| liveagent_fuzz::session_ops(data));
