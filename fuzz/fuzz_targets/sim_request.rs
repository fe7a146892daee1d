//! `cargo fuzz run sim_request`: input format and checks at `liveagent::testkit::fuzz::sim_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(finding) = liveagent::testkit::fuzz::sim_request(data) {
        panic!("sim_request: {finding}")
    }
});
