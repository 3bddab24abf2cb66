//! How the store keeps an object: its JSON bytes. A parsed `serde_json::Value` takes about ten times the
//! memory of its serialization (every JSON object allocates B-tree nodes of 11 entries), which made 10,000
//! streams with their Jobs and Events cost a gigabyte. Reads parse (tens of microseconds for a Job); lists of
//! whole objects copy the bytes as they are.

use std::sync::Arc;

use serde_json::Value;

/// One stored object: immutable JSON bytes, cheap to clone.
#[derive(Clone, Debug)]
pub struct Stored(Arc<[u8]>);

impl Stored {
    pub fn encode(v: &Value) -> Stored {
        // Serializing a Value cannot fail (its map keys are strings).
        Stored(serde_json::to_vec(v).unwrap_or_default().into())
    }

    /// The object. The bytes were written by `encode`, so parsing cannot fail short of memory corruption;
    /// `null` then stands for the object rather than a panic.
    pub fn decode(&self) -> Arc<Value> {
        Arc::new(serde_json::from_slice(&self.0).unwrap_or(Value::Null))
    }

    /// The JSON serialization of the object.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn round_trips_and_is_smaller_than_the_value() {
        let v =
            json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"list": [1, 2, {"k": null}]}});
        let s = Stored::encode(&v);
        assert_eq!(*s.decode(), v);
        assert_eq!(s.bytes(), serde_json::to_vec(&v).unwrap().as_slice());
        assert!(s.bytes().len() * 4 < super::super::meta::estimated_size(&v));
    }
}
