//! `cargo fuzz run parse_error`: input format and checks at `liveagent::testkit::fuzz::parse_error`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(finding) = liveagent::testkit::fuzz::parse_error(data) {
        panic!("parse_error: {finding}")
    }
});
