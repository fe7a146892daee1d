//! `cargo fuzz run decode_noun`: input format and checks at `liveagent::testkit::fuzz::decode_noun`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(finding) = liveagent::testkit::fuzz::decode_noun(data) {
        panic!("decode_noun: {finding}")
    }
});
