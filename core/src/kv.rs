//! `KvList`: the ordered key-value user data that travels with an interaction.
//!
//! Ordered (BTreeMap) so that iteration, encoding and trace rendering never depend on a hasher.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One user-data value: the product's KV lists hold strings, integers and nested lists.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum KvValue {
    Int(i64),
    Str(String),
    List(KvList),
}

/// Ordered user data.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug, Default, Serialize)]
pub struct KvList(pub BTreeMap<String, KvValue>);

/// Deepest nesting of lists a decoder accepts: a peer controls the bytes, and unbounded
/// recursion would overflow the stack.
pub const KV_DEPTH_MAX: u32 = 8;

thread_local! {
    static DECODE_DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

impl<'de> Deserialize<'de> for KvList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let depth = DECODE_DEPTH.with(|depth| depth.get());
        if depth >= KV_DEPTH_MAX {
            return Err(serde::de::Error::custom("user data nested too deeply"));
        }
        DECODE_DEPTH.with(|cell| cell.set(depth + 1));
        let map = BTreeMap::deserialize(deserializer);
        DECODE_DEPTH.with(|cell| cell.set(depth));
        map.map(KvList)
    }
}

impl KvList {
    pub fn new() -> Self {
        KvList(BTreeMap::new())
    }

    pub fn with(mut self, key: &str, value: KvValue) -> Self {
        self.0.insert(key.to_string(), value);
        self
    }

    pub fn get(&self, key: &str) -> Option<&KvValue> {
        self.0.get(key)
    }

    /// Applies `changes` on top of `self`: keys in `changes` replace or add values.
    pub fn merge(&mut self, changes: &KvList) {
        for (key, value) in &changes.0 {
            self.0.insert(key.clone(), value.clone());
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for KvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvValue::Int(value) => write!(f, "{value}"),
            KvValue::Str(value) => write!(f, "{value:?}"),
            KvValue::List(list) => write!(f, "{list}"),
        }
    }
}

impl fmt::Display for KvList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (index, (key, value)) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{key}={value}")?;
        }
        f.write_str("}")
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for KvList {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut list = KvList::new();
        for _ in 0..u.int_in_range(0..=4u8)? {
            let key = u
                .choose(&["Subject", "Lang", "VIP", "RouterTag", "x"])?
                .to_string();
            let value = if u.arbitrary()? {
                KvValue::Int(u.arbitrary()?)
            } else {
                KvValue::Str(u.choose(&["en", "fr", "yes", ""])?.to_string())
            };
            list.0.insert(key, value);
        }
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fuzz inputs draw user data with keys and values of both kinds (the targets' user-data
    /// paths need non-empty lists).
    #[cfg(feature = "arbitrary")]
    #[test]
    fn arbitrary_user_data_is_not_always_empty() {
        use arbitrary::{Arbitrary, Unstructured};
        let mut ints = 0;
        let mut strs = 0;
        for seed in 0..64u8 {
            let bytes: Vec<u8> = (0..64u8)
                .map(|i| i.wrapping_mul(37).wrapping_add(seed.wrapping_mul(101)))
                .collect();
            let list = KvList::arbitrary(&mut Unstructured::new(&bytes)).expect("enough bytes");
            for value in list.0.values() {
                match value {
                    KvValue::Int(_) => ints += 1,
                    KvValue::Str(_) => strs += 1,
                    _ => {}
                }
            }
        }
        assert!(ints > 0 && strs > 0, "ints {ints}, strings {strs}");
    }

    #[test]
    fn merge_replaces_and_adds() {
        let mut base = KvList::new()
            .with("a", KvValue::Int(1))
            .with("b", KvValue::Int(2));
        base.merge(
            &KvList::new()
                .with("b", KvValue::Int(3))
                .with("c", KvValue::Str("x".into())),
        );
        assert_eq!(base.to_string(), r#"{a=1, b=3, c="x"}"#);
        assert_eq!(base.len(), 3);
        assert!(!base.is_empty());
        assert!(KvList::new().is_empty());
    }
}
