//! The simulator's timer queue: a hierarchical timing wheel, so that scheduling, cancelling and firing a timer
//! costs the same with ten sessions or a hundred thousand (a `BTreeMap` keyed by instant grew with
//! the number of sessions, which this replaced).
//!
//! Keys are `(Timestamp, u64)`: the instant a timer is due and a caller-given sequence number, unique per
//! timer, that orders timers due at the same instant by arrival. Iteration order is exactly the key order, as
//! with the `BTreeMap` it replaces.
//!
//! Layout: time is counted in whole milliseconds ("ticks") from an origin. Level `l` has 64 slots of `64^l`
//! ticks each; a timer lives at the level of the highest base-64 digit in which its tick differs from the
//! cursor's, in the slot given by that digit, so level 0 holds the timers of the cursor's current 64 ms and
//! each slot of level 0 holds one millisecond. When level 0 runs empty the cursor moves to the first occupied
//! slot of the lowest occupied level and that slot's timers are spread over the levels below (each timer
//! moves down at most once per level: eleven levels cover every `u64` tick). A timer added for a tick before
//! the cursor (the cursor ran ahead to the next timer) goes into a small ordered map of its own.
//!
//! Every slot is kept sorted by key, so the first timer is the front of level 0's first occupied slot, and
//! a timer is found again from its key alone: its slot follows from its tick and the cursor, its place in
//! the slot by binary search. Timers mostly arrive in key order (a later instant, a higher sequence), so
//! keeping slots sorted is a push at the back; a hundred thousand timers due in the same millisecond cost
//! no more per timer than one.

use crate::time::Timestamp;
use std::collections::{BTreeMap, VecDeque};

/// Timer key: due instant, then arrival.
pub type Key = (Timestamp, u64);

const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
/// `ceil(64 / 6)`: enough levels for any `u64` tick.
const LEVELS: usize = 11;
/// An emptied slot keeps its buffer up to this many entries.
const RETAINED_CAPACITY: usize = 8;

/// A timer queue ordered by [`Key`]. See the module docs.
#[derive(Debug, Clone)]
pub struct TimerQueue<V> {
    origin: Timestamp,
    /// The tick the wheel's levels are relative to; never moves backwards.
    cursor: u64,
    /// `LEVELS * SLOTS` slots, level-major, each sorted by key.
    slots: Vec<VecDeque<(Key, V)>>,
    /// Bit `s` of `occupied[l]`: slot `s` of level `l` is non-empty.
    occupied: [u64; LEVELS],
    /// Timers due before the cursor's tick.
    early: BTreeMap<Key, V>,
    len: usize,
}

impl<V> TimerQueue<V> {
    /// An empty queue counting milliseconds from `origin`.
    pub fn new(origin: Timestamp) -> Self {
        TimerQueue {
            origin,
            cursor: 0,
            slots: (0..LEVELS * SLOTS).map(|_| VecDeque::new()).collect(),
            occupied: [0; LEVELS],
            early: BTreeMap::new(),
            len: 0,
        }
    }

    /// How many timers are queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no timer is queued.
    #[cfg_attr(not(feature = "__testkit"), allow(dead_code))]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn tick(&self, at: Timestamp) -> u64 {
        let ms = at.saturating_duration_since(self.origin).as_millis();
        u64::try_from(ms).unwrap_or(u64::MAX)
    }

    /// Index in `slots` of `tick` relative to the cursor; `tick >= cursor`.
    fn slot_of(&self, tick: u64) -> usize {
        let diff = tick ^ self.cursor;
        let level = if diff == 0 {
            0
        } else {
            ((63 - diff.leading_zeros()) / SLOT_BITS) as usize
        };
        let digit = ((tick >> (level as u32 * SLOT_BITS)) & (SLOTS as u64 - 1)) as usize;
        level * SLOTS + digit
    }

    /// Adds a timer, or replaces the value of the same key.
    pub fn insert(&mut self, key: Key, value: V) {
        let tick = self.tick(key.0);
        if tick < self.cursor {
            if self.early.insert(key, value).is_none() {
                self.len += 1;
            }
            return;
        }
        self.push_wheel(key, value, tick);
        self.normalize();
    }

    fn push_wheel(&mut self, key: Key, value: V, tick: u64) {
        let slot = self.slot_of(tick);
        let Some(list) = self.slots.get_mut(slot) else {
            return;
        };
        match list.back() {
            // The common case: later than everything in the slot.
            None => list.push_back((key, value)),
            Some((last, _)) if *last < key => list.push_back((key, value)),
            Some(_) => match list.binary_search_by(|(k, _)| k.cmp(&key)) {
                Ok(i) => {
                    if let Some(e) = list.get_mut(i) {
                        e.1 = value;
                    }
                    return;
                }
                Err(i) => list.insert(i, (key, value)),
            },
        }
        self.len += 1;
        if let Some(bits) = self.occupied.get_mut(slot / SLOTS) {
            *bits |= 1 << (slot % SLOTS);
        }
    }

    /// Removes the timer with this key.
    pub fn remove(&mut self, key: &Key) -> Option<V> {
        let tick = self.tick(key.0);
        if tick < self.cursor {
            let v = self.early.remove(key)?;
            self.len -= 1;
            return Some(v);
        }
        let slot = self.slot_of(tick);
        let list = self.slots.get_mut(slot)?;
        let i = list.binary_search_by(|(k, _)| k.cmp(key)).ok()?;
        let (_, v) = list.remove(i)?;
        self.len -= 1;
        if list.is_empty() {
            // A slot is used for one window and then, until the wheel comes round, not at all: keeping the
            // capacity of every slot ever used held a whole run's replies (5 KB per finished chat in the
            // scale bench). A small one is kept for the next window.
            if list.capacity() > RETAINED_CAPACITY {
                *list = VecDeque::new();
            }
            if let Some(bits) = self.occupied.get_mut(slot / SLOTS) {
                *bits &= !(1 << (slot % SLOTS));
            }
        }
        self.normalize();
        Some(v)
    }

    /// Keeps level 0 non-empty while the wheel holds anything, so the first timer is the front of level 0's
    /// first occupied slot (or in `early`).
    fn normalize(&mut self) {
        while self.occupied[0] == 0 {
            let Some(level) = (1..LEVELS).find(|&l| self.occupied[l] != 0) else {
                return;
            };
            let digit = u64::from(self.occupied[level].trailing_zeros());
            let shift = level as u32 * SLOT_BITS;
            // The start of that slot: the cursor's higher digits, this digit, zeros below.
            let above = if shift + SLOT_BITS >= 64 {
                0
            } else {
                (self.cursor >> (shift + SLOT_BITS)) << (shift + SLOT_BITS)
            };
            self.cursor = above | (digit << shift);
            let slot = level * SLOTS + digit as usize;
            self.occupied[level] &= !(1 << digit);
            let entries = self
                .slots
                .get_mut(slot)
                .map(std::mem::take)
                .unwrap_or_default();
            self.len -= entries.len();
            // In key order, into empty lower levels: every push is at the back of its slot.
            for (key, value) in entries {
                let tick = self.tick(key.0);
                self.push_wheel(key, value, tick);
            }
        }
    }

    /// The least key and its value.
    pub fn first_key_value(&self) -> Option<(Key, &V)> {
        let wheel = if self.occupied[0] == 0 {
            None
        } else {
            let slot = self.occupied[0].trailing_zeros() as usize;
            self.slots.get(slot)?.front().map(|(k, v)| (*k, v))
        };
        let early = self.early.first_key_value().map(|(k, v)| (*k, v));
        match (early, wheel) {
            (Some(e), Some(w)) => Some(if e.0 <= w.0 { e } else { w }),
            (e, w) => e.or(w),
        }
    }

    /// The least key.
    pub fn first_key(&self) -> Option<Key> {
        self.first_key_value().map(|(k, _)| k)
    }

    /// Removes and returns the least key and its value.
    #[cfg_attr(not(feature = "__testkit"), allow(dead_code))]
    pub fn pop_first(&mut self) -> Option<(Key, V)> {
        let key = self.first_key()?;
        let value = self.remove(&key)?;
        Some((key, value))
    }

    /// Removes every timer whose value matches, returning how many were removed.
    pub fn remove_where(&mut self, mut pred: impl FnMut(&V) -> bool) -> usize {
        let mut keys: Vec<Key> = self
            .early
            .iter()
            .filter(|(_, v)| pred(v))
            .map(|(k, _)| *k)
            .collect();
        for list in &self.slots {
            keys.extend(list.iter().filter(|(_, v)| pred(v)).map(|(k, _)| *k));
        }
        keys.iter().filter(|k| self.remove(k).is_some()).count()
    }
}
