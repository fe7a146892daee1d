//! `cargo fuzz run parse_session_id`: input format and checks at `liveagent::testkit::fuzz::parse_session_id`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(finding) = liveagent::testkit::fuzz::parse_session_id(data) {
        panic!("parse_session_id: {finding}")
    }
});
