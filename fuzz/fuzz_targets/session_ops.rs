//! `cargo fuzz run session_ops`: input format and checks at `liveagent::testkit::fuzz::session_ops`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(finding) = liveagent::testkit::fuzz::session_ops(data) {
        panic!("session_ops: {finding}")
    }
});
