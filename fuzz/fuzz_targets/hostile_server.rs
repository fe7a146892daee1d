//! `cargo fuzz run hostile_server`: input format and checks at `liveagent::testkit::fuzz::hostile_server`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(finding) = liveagent::testkit::fuzz::hostile_server(data) {
        panic!("hostile_server: {finding}")
    }
});
