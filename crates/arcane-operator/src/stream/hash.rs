//! The `configuration-hash`: a stable digest of everything a rendered workload depends on.
//!
//! OWNER: builder helper.

use std::fmt::Write as _;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Hex characters of a [`digest`]: 128 bits are plenty to tell configurations apart.
pub const DIGEST_HEX_LEN: usize = 32;

/// Hex digest of a JSON value in canonical form (object keys sorted, compact), so equal values give
/// equal hashes whatever their key order.
pub fn digest(value: &Value) -> String {
    let mut hex = sha256_hex(canonical_json(value).as_bytes());
    hex.truncate(DIGEST_HEX_LEN);
    hex
}

/// Compact JSON with object keys sorted byte-wise at every level.
///
/// Written by hand rather than through `serde_json`, whose map ordering depends on a crate feature
/// that any dependency may switch on (`preserve_order`); a hash must not change with that.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

/// Lowercase hex SHA-256 of `data` (64 characters).
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    let bytes = Sha256::digest(data);
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

fn write_canonical(value: &Value, out: &mut String) {
    // serde_json prints integers exactly and floats in shortest round-trip form, which is
    // deterministic for a given parsed value.
    let number = |n: &serde_json::Number, out: &mut String| {
        let _ = write!(out, "{n}");
    };
    write_sorted(
        value,
        out,
        &JsonStyle {
            number: &number,
            string: &write_string,
        },
    );
}

/// How a [`write_sorted`] writer prints the leaves: numbers and strings are where JSON encoders
/// differ (this crate's canonical form, Go's `encoding/json`).
pub(crate) struct JsonStyle<'a> {
    pub number: &'a dyn Fn(&serde_json::Number, &mut String),
    pub string: &'a dyn Fn(&str, &mut String),
}

/// Compact JSON with object keys sorted byte-wise at every level, leaves printed by `style`.
pub(crate) fn write_sorted(value: &Value, out: &mut String, style: &JsonStyle<'_>) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => (style.number)(n, out),
        Value::String(s) => (style.string)(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_sorted(item, out, style);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                (style.string)(key, out);
                out.push(':');
                write_sorted(item, out, style);
            }
            out.push('}');
        }
    }
}

/// A JSON string literal with the minimal escaping RFC 8259 requires.
fn write_string(s: &str, out: &mut String) {
    write_escaped(s, out, false);
}

/// A JSON string literal: the minimal escaping RFC 8259 requires, and with `html_safe` also
/// `<`, `>`, `&`, U+2028 and U+2029 as `\uXXXX` (as Go's `encoding/json` writes them).
pub(crate) fn write_escaped(s: &str, out: &mut String, html_safe: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' if html_safe => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_recursively_and_is_compact() {
        let value = json!({"b": [{"z": 1, "a": null}], "a": {"d": true, "c": "x"}, "A": 1.5});
        assert_eq!(
            canonical_json(&value),
            r#"{"A":1.5,"a":{"c":"x","d":true},"b":[{"a":null,"z":1}]}"#
        );
    }

    #[test]
    fn canonical_json_escapes_strings() {
        let value = json!({"k\"ey": "line\nbreak\ttab\\ \u{01} é <&>"});
        let text = canonical_json(&value);
        assert_eq!(text, "{\"k\\\"ey\":\"line\\nbreak\\ttab\\\\ \\u0001 é <&>\"}");
        // The output is JSON that parses back to the same value.
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn digest_of_fixed_input_is_fixed() {
        // sha256 of `{"a":1,"b":[true,null]}`, first 32 hex characters. If this changes, every
        // running workload would be replaced on upgrade: change it only on purpose.
        let value = json!({"b": [true, null], "a": 1});
        assert_eq!(canonical_json(&value), r#"{"a":1,"b":[true,null]}"#);
        assert_eq!(digest(&value), "1cc69c7fa23616ca2ec3ee70d24390a6");
    }

    #[test]
    fn digest_is_lowercase_hex_of_fixed_length() {
        for value in [json!(null), json!(""), json!({}), json!([1, 2, 3])] {
            let d = digest(&value);
            assert_eq!(d.len(), DIGEST_HEX_LEN);
            assert!(
                d.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
                "{d}"
            );
        }
    }

    #[test]
    fn digest_distinguishes_values() {
        let values = [
            json!(1),
            json!("1"),
            json!([1]),
            json!({"a": 1}),
            json!({"a": 2}),
            json!(1.5),
        ];
        for (i, a) in values.iter().enumerate() {
            for b in &values[i + 1..] {
                assert_ne!(digest(a), digest(b), "{a} vs {b}");
            }
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "[a-z\"\\\\\n ]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec(("[a-zA-Z]{0,4}", inner), 0..5)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    /// The same object with its keys inserted in reverse order, recursively.
    fn reversed(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.reverse();
                Value::Object(keys.into_iter().map(|k| (k.clone(), reversed(&map[k]))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(reversed).collect()),
            other => other.clone(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn canonical_json_round_trips_and_ignores_key_order(value in arb_json()) {
            let text = canonical_json(&value);
            let back: Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(&back, &value);
            prop_assert_eq!(canonical_json(&reversed(&value)), text);
            prop_assert_eq!(digest(&reversed(&value)), digest(&value));
        }
    }
}
