//! `cargo fuzz run sim_session`: input format and checks at `liveagent::testkit::fuzz::sim_session`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(finding) = liveagent::testkit::fuzz::sim_session(data) {
        panic!("sim_session: {finding}")
    }
});
