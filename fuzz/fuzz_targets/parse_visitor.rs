//! `cargo fuzz run parse_visitor`: input format and checks at `liveagent::testkit::fuzz::parse_visitor`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(finding) = liveagent::testkit::fuzz::parse_visitor(data) {
        panic!("parse_visitor: {finding}")
    }
});
