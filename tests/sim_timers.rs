//! The simulator's timer wheel (`sim::timers`, reached through the private test kit) against the
//! `BTreeMap` it replaced.

use liveagent::Timestamp;
use liveagent::testkit::{TimerKey as Key, TimerQueue};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone)]
enum Op {
    /// Insert at origin + ms (plus sub-ms nanos), with the next sequence number.
    Insert(u64, u32),
    /// Remove the n-th queued key (modulo the count).
    Remove(usize),
    Pop,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (prop_oneof![0u64..200, 0u64..100_000, 0u64..u64::from(u32::MAX)], 0u32..1_000_000)
            .prop_map(|(ms, ns)| Op::Insert(ms, ns)),
        2 => any::<usize>().prop_map(Op::Remove),
        3 => Just(Op::Pop),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    /// The wheel behaves exactly like the BTreeMap it replaces, under any interleaving of inserts (also
    /// before the cursor), removals and pops.
    #[test]
    fn behaves_like_a_btreemap(ops in proptest::collection::vec(op(), 1..300)) {
        let origin = Timestamp::ZERO;
        let mut wheel = TimerQueue::new(origin);
        let mut model: BTreeMap<Key, u64> = BTreeMap::new();
        let mut seq = 0u64;
        for op in ops {
            match op {
                Op::Insert(ms, ns) => {
                    let at = origin + Duration::from_millis(ms) + Duration::from_nanos(u64::from(ns));
                    wheel.insert((at, seq), seq);
                    model.insert((at, seq), seq);
                    seq += 1;
                }
                Op::Remove(n) => {
                    if !model.is_empty() {
                        let key = *model.keys().nth(n % model.len()).ok_or(TestCaseError::fail("nth"))?;
                        prop_assert_eq!(wheel.remove(&key), model.remove(&key));
                    }
                    // A key never inserted.
                    prop_assert_eq!(wheel.remove(&(origin, u64::MAX)), None);
                }
                Op::Pop => prop_assert_eq!(wheel.pop_first(), model.pop_first()),
            }
            prop_assert_eq!(wheel.len(), model.len());
            prop_assert_eq!(wheel.first_key(), model.keys().next().copied());
        }
        let n = wheel.remove_where(|v| v % 2 == 0);
        let before = model.len();
        model.retain(|_, v| *v % 2 != 0);
        prop_assert_eq!(n, before - model.len());
        while let Some(kv) = model.pop_first() {
            prop_assert_eq!(wheel.pop_first(), Some(kv));
        }
        prop_assert!(wheel.is_empty());
        prop_assert_eq!(wheel.pop_first(), None);
    }
}

#[test]
fn instants_before_the_origin_and_far_ahead_keep_their_order() {
    let origin = Timestamp::ZERO;
    let mut q = TimerQueue::new(origin + Duration::from_secs(10));
    let far = origin + Duration::from_secs(3600 * 24 * 365 * 50);
    q.insert((far, 0), "far");
    q.insert((origin, 1), "before origin");
    q.insert((origin + Duration::from_secs(11), 2), "soon");
    assert_eq!(q.pop_first().map(|(_, v)| v), Some("before origin"));
    assert_eq!(q.pop_first().map(|(_, v)| v), Some("soon"));
    // The cursor has moved to the far timer's window: an insert behind it still comes first.
    q.insert((origin + Duration::from_secs(12), 3), "behind the cursor");
    assert_eq!(q.pop_first().map(|(_, v)| v), Some("behind the cursor"));
    assert_eq!(q.pop_first().map(|(_, v)| v), Some("far"));
    assert_eq!(q.pop_first(), None);
}
