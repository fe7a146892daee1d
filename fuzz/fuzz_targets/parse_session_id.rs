//! `cargo fuzz run parse_session_id`: input format and checks at `liveagent::testkit::fuzz::parse_session_id`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| liveagent::testkit::fuzz::parse_session_id(data));
