//! An estimate of the heap memory a decoded value owns, read from its `Serialize` form (so a field added to a
//! payload type is counted without anyone remembering to): strings at their length (serde_json allocates them
//! exactly), vectors at the capacity that pushing their elements one by one leaves (serde builds every
//! `Vec` so: 4 slots, then doubling), maps at one B-tree node per five entries (what `serde_json::Map`, a
//! `BTreeMap`, holds at worst), plus whatever their elements own. Inline data (numbers, struct fields,
//! `Option`s) costs nothing beyond its container. A `Box` is invisible to `Serialize`: its owner adds the
//! boxed size. `benches/backlog.rs` compares the estimate with a counting allocator.
//!
//! `Serialize` hands a list's elements over by reference, so an element's inline size (its slot in the
//! vector) is read from how it serializes: a struct by its name ([`struct_size`], every list element type of
//! the wire payloads), anything else as a `serde_json::Value` (32 bytes; a `String` is 24).

use super::messages::{FooterMenuItem, RichItem};
use super::types::{
    AvailabilityResult, Button, CustomDetail, Entity, EntityFieldsMap, EntityMap,
    SensitiveDataRule, TranscriptEntry, TriggeredRule,
};
use serde::ser::{self, Serialize};
use std::fmt;
use std::mem::size_of;

/// The heap bytes `value` owns (its own size excluded), estimated as the module docs say.
pub(crate) fn heap_bytes<T: Serialize + ?Sized>(value: &T) -> usize {
    value.serialize(Heap).map_or(0, |m| m.heap)
}

/// The capacity a `Vec` of `len` elements of `size` bytes reaches when built by pushing (`RawVec`'s smallest
/// allocation, then doubling), in bytes.
pub(crate) fn vec_bytes(len: usize, size: usize) -> usize {
    if len == 0 || size == 0 {
        return 0;
    }
    let smallest = match size {
        1 => 8,
        2..=1024 => 4,
        _ => 1,
    };
    len.checked_next_power_of_two()
        .unwrap_or(len)
        .max(smallest)
        .saturating_mul(size)
}

/// The nodes of a `BTreeMap` of `len` entries (each node holds up to 11; at least 5 but in the root).
fn map_bytes(len: usize, key: usize, value: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let node = key
        .saturating_add(value)
        .saturating_mul(11)
        .saturating_add(16);
    let nodes = if len <= 11 { 1 } else { len / 5 + 1 };
    node.saturating_mul(nodes)
}

/// A `serde_json::Value`: the slot of a list element that is not one of the named structs.
const VALUE: usize = size_of::<serde_json::Value>();

/// A struct whose name this module does not know, as a list element: larger than any payload struct.
const UNKNOWN_STRUCT: usize = 512;

/// The inline size of a struct that appears in lists, by its serde name.
pub(crate) fn struct_size(name: &str) -> usize {
    match name {
        "FooterMenuItem" => size_of::<FooterMenuItem>(),
        "RichItem" => size_of::<RichItem>(),
        "CustomDetail" => size_of::<CustomDetail>(),
        "EntityMap" => size_of::<EntityMap>(),
        "Entity" => size_of::<Entity>(),
        "EntityFieldsMap" => size_of::<EntityFieldsMap>(),
        "SensitiveDataRule" => size_of::<SensitiveDataRule>(),
        "TriggeredRule" => size_of::<TriggeredRule>(),
        "TranscriptEntry" => size_of::<TranscriptEntry>(),
        "AvailabilityResult" => size_of::<AvailabilityResult>(),
        "Button" => size_of::<Button>(),
        _ => UNKNOWN_STRUCT,
    }
}

/// What one value costs: the heap it owns, and its inline size were it a list element.
#[derive(Clone, Copy)]
struct Measure {
    heap: usize,
    slot: usize,
}

impl Measure {
    /// A value that owns `heap` bytes and would sit in a `Value`-sized slot.
    fn value(heap: usize) -> Result<Measure> {
        Ok(Measure { heap, slot: VALUE })
    }
}

/// Never produced by [`Heap`]; a `Serialize` impl of someone else's could make one.
#[derive(Debug)]
pub(crate) struct Unmeasurable;

impl fmt::Display for Unmeasurable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("value could not be measured")
    }
}

impl std::error::Error for Unmeasurable {}

impl ser::Error for Unmeasurable {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Unmeasurable
    }
}

/// The serializer that adds up heap bytes instead of writing anything.
struct Heap;

/// A sequence: its elements' slots (at the pushed capacity) and what each owns.
struct Seq {
    owned: usize,
    len: usize,
    slot: usize,
}

/// A map: its nodes and what each key and value owns.
struct Map {
    owned: usize,
    len: usize,
}

/// Inline fields (a struct, a tuple): only what each owns; `slot` is the whole's inline size.
struct Fields {
    owned: usize,
    slot: usize,
}

type Result<T> = std::result::Result<T, Unmeasurable>;

impl ser::Serializer for Heap {
    type Ok = Measure;
    type Error = Unmeasurable;
    type SerializeSeq = Seq;
    type SerializeTuple = Fields;
    type SerializeTupleStruct = Fields;
    type SerializeTupleVariant = Fields;
    type SerializeMap = Map;
    type SerializeStruct = Fields;
    type SerializeStructVariant = Fields;

    fn serialize_bool(self, _: bool) -> Result<Measure> {
        Measure::value(0)
    }
    fn serialize_i8(self, _: i8) -> Result<Measure> {
        Measure::value(0)
    }
    fn serialize_i16(self, _: i16) -> Result<Measure> {
        Measure::value(0)
    }
    fn serialize_i32(self, _: i32) -> Result<Measure> {
        Measure::value(0)
    }
    fn serialize_i64(self, _: i64) -> Result<Measure> {
        Measure::value(0)
    }
    fn serialize_u8(self, _: u8) -> Result<Measure> {
        Measure::value(0)
    }
    fn serialize_u16(self, _: u16) -> Result<Measure> {
        Measure::value(0)
    }
    fn serialize_u32(self, _: u32) -> Result<Measure> {
        Measure::value(0)
    }
    fn serialize_u64(self, _: u64) -> Result<Measure> {
        Measure::value(0)
    }
    fn serialize_f32(self, _: f32) -> Result<Measure> {
        Measure::value(0)
    }
    fn serialize_f64(self, _: f64) -> Result<Measure> {
        Measure::value(0)
    }
    fn serialize_char(self, _: char) -> Result<Measure> {
        Measure::value(0)
    }
    fn serialize_str(self, v: &str) -> Result<Measure> {
        Measure::value(v.len())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Measure> {
        Measure::value(v.len())
    }
    fn serialize_none(self) -> Result<Measure> {
        Measure::value(0)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Measure> {
        value.serialize(Heap)
    }
    fn serialize_unit(self) -> Result<Measure> {
        Measure::value(0)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Measure> {
        Measure::value(0)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<Measure> {
        Measure::value(0)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Measure> {
        value.serialize(Heap)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Result<Measure> {
        value.serialize(Heap)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Seq> {
        Ok(Seq {
            owned: 0,
            len: 0,
            slot: 0,
        })
    }
    fn serialize_tuple(self, _: usize) -> Result<Fields> {
        Ok(Fields::new(UNKNOWN_STRUCT))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Fields> {
        Ok(Fields::new(UNKNOWN_STRUCT))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Fields> {
        Ok(Fields::new(UNKNOWN_STRUCT))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Map> {
        Ok(Map { owned: 0, len: 0 })
    }
    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Fields> {
        Ok(Fields::new(struct_size(name)))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Fields> {
        Ok(Fields::new(UNKNOWN_STRUCT))
    }
}

impl ser::SerializeSeq for Seq {
    type Ok = Measure;
    type Error = Unmeasurable;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let m = value.serialize(Heap)?;
        self.len += 1;
        self.slot = self.slot.max(m.slot);
        self.owned = self.owned.saturating_add(m.heap);
        Ok(())
    }
    fn end(self) -> Result<Measure> {
        Measure::value(vec_bytes(self.len, self.slot).saturating_add(self.owned))
    }
}

impl ser::SerializeMap for Map {
    type Ok = Measure;
    type Error = Unmeasurable;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.len += 1;
        self.owned = self.owned.saturating_add(key.serialize(Heap)?.heap);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.owned = self.owned.saturating_add(value.serialize(Heap)?.heap);
        Ok(())
    }
    fn end(self) -> Result<Measure> {
        // The maps of decoded payloads are `serde_json::Map`s: `String` keys, `Value` values.
        let nodes = map_bytes(self.len, size_of::<String>(), VALUE);
        Measure::value(nodes.saturating_add(self.owned))
    }
}

impl Fields {
    fn new(slot: usize) -> Fields {
        Fields { owned: 0, slot }
    }

    fn add<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.owned = self.owned.saturating_add(value.serialize(Heap)?.heap);
        Ok(())
    }

    fn done(self) -> Result<Measure> {
        Ok(Measure {
            heap: self.owned,
            slot: self.slot,
        })
    }
}

impl ser::SerializeTuple for Fields {
    type Ok = Measure;
    type Error = Unmeasurable;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.add(value)
    }
    fn end(self) -> Result<Measure> {
        self.done()
    }
}

impl ser::SerializeTupleStruct for Fields {
    type Ok = Measure;
    type Error = Unmeasurable;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.add(value)
    }
    fn end(self) -> Result<Measure> {
        self.done()
    }
}

impl ser::SerializeTupleVariant for Fields {
    type Ok = Measure;
    type Error = Unmeasurable;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.add(value)
    }
    fn end(self) -> Result<Measure> {
        self.done()
    }
}

impl ser::SerializeStruct for Fields {
    type Ok = Measure;
    type Error = Unmeasurable;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, value: &T) -> Result<()> {
        self.add(value)
    }
    fn end(self) -> Result<Measure> {
        self.done()
    }
}

impl ser::SerializeStructVariant for Fields {
    type Ok = Measure;
    type Error = Unmeasurable;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, value: &T) -> Result<()> {
        self.add(value)
    }
    fn end(self) -> Result<Measure> {
        self.done()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_count_their_length_and_inline_data_nothing() {
        assert_eq!(heap_bytes(&"x".repeat(100)), 100);
        assert_eq!(heap_bytes(&7u64), 0);
        assert_eq!(heap_bytes(&Some(3.5f64)), 0);
        assert_eq!(heap_bytes(&Some("abc".to_owned())), 3);
        assert_eq!(heap_bytes(&(1u8, "ab".to_owned())), 2);
    }

    #[test]
    fn lists_count_the_capacity_pushing_leaves_and_what_their_elements_own() {
        assert_eq!(heap_bytes(&Vec::<String>::new()), 0);
        // 2 elements: the smallest allocation, 4 slots (`Value`-sized: the larger reading of a string).
        let strings = vec!["ab".to_owned(), "cde".to_owned()];
        assert_eq!(heap_bytes(&strings), 4 * VALUE + 5);
        // 1,025 pushed elements sit in 2,048 slots.
        assert_eq!(heap_bytes(&json!(vec![0; 1025])), 2048 * VALUE);
        // A list of structs: their own size per slot, whatever they hold.
        let items = vec![RichItem::default(); 5];
        assert_eq!(heap_bytes(&items), 8 * size_of::<RichItem>());
        let rules = vec![
            SensitiveDataRule {
                name: Some("abcd".into()),
                ..Default::default()
            };
            3
        ];
        assert_eq!(heap_bytes(&rules), 4 * size_of::<SensitiveDataRule>() + 12);
    }

    #[test]
    fn every_struct_that_appears_in_a_payload_list_is_known_by_name() {
        for (name, size) in [
            ("FooterMenuItem", size_of::<FooterMenuItem>()),
            ("RichItem", size_of::<RichItem>()),
            ("CustomDetail", size_of::<CustomDetail>()),
            ("EntityMap", size_of::<EntityMap>()),
            ("Entity", size_of::<Entity>()),
            ("EntityFieldsMap", size_of::<EntityFieldsMap>()),
            ("SensitiveDataRule", size_of::<SensitiveDataRule>()),
            ("TriggeredRule", size_of::<TriggeredRule>()),
            ("TranscriptEntry", size_of::<TranscriptEntry>()),
            ("AvailabilityResult", size_of::<AvailabilityResult>()),
            ("Button", size_of::<Button>()),
        ] {
            assert_eq!(struct_size(name), size, "{name}");
            assert!(size <= UNKNOWN_STRUCT, "{name}: {size} B");
        }
    }

    #[test]
    fn a_value_tree_counts_its_nodes() {
        // [0, 0, 0, 0, 0]: eight 32-byte `Value` slots.
        assert_eq!(heap_bytes(&json!([0, 0, 0, 0, 0])), 8 * VALUE);
        // A one-key object: a whole B-tree leaf (11 key and value slots) and the key's text.
        let leaf = 11 * (24 + VALUE) + 16;
        assert_eq!(heap_bytes(&json!({"ab": 0})), leaf + 2);
        // Many entries: a node per five at most.
        let many: serde_json::Map<String, serde_json::Value> =
            (0..100).map(|i| (format!("{i:03}"), json!(null))).collect();
        assert_eq!(heap_bytes(&many), 21 * leaf + 300);
    }

    #[test]
    fn the_estimate_grows_with_every_element_added() {
        let mut v = Vec::new();
        let mut last = 0;
        for i in 0..200 {
            v.push(json!({"k": i}));
            let now = heap_bytes(&v);
            assert!(now > last, "{i}: {now} <= {last}");
            last = now;
        }
    }
}
