//! `cargo fuzz run parse_session_id`: see `liveagent_fuzz::parse_session_id` (fuzz/src/lib.rs) for the input format and the checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| liveagent_fuzz::parse_session_id(data));
