//! `cargo fuzz run hostile_server`: input format and checks at `liveagent::testkit::fuzz::hostile_server`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| liveagent::testkit::fuzz::hostile_server(data));
