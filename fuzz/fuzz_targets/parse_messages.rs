//! `cargo fuzz run parse_messages`: input format and checks at `liveagent::testkit::fuzz::parse_messages`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(finding) = liveagent::testkit::fuzz::parse_messages(data) {
        panic!("parse_messages: {finding}")
    }
});
