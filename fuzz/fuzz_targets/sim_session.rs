//! `cargo fuzz run sim_session`: input format and checks at `liveagent::testkit::fuzz::sim_session`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| liveagent::testkit::fuzz::sim_session(data));
