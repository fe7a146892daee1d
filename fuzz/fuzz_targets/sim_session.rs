//! `cargo fuzz run sim_session`: see `liveagent_fuzz::sim_session` (fuzz/src/lib.rs) for the input format and the checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| liveagent_fuzz::sim_session(data));
