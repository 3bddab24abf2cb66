//! The Go Arcane operator's `configuration-hash`, recomputed exactly, so that the workloads and the
//! statuses the Go operator left behind can be recognised when this operator takes over
//! (reference/arcane-behavior.md §3.6, `status_v0/status_wrapper.go` in the Go repository).
//!
//! The Go operator hashes the stream's `.spec` as Go's `encoding/json` serialises an unstructured map
//! (compact, keys sorted byte-wise, `<`, `>`, `&`, U+2028 and U+2029 escaped, integral numbers
//! without a fraction, other floats in Go's shortest form) with MD5. A backfill Job's hash also
//! covers the request's spec, each MD5 hex string hex-encoded once more (129 characters).
//!
//! Only used to tell "this Go-built workload runs the current definition" from "the definition
//! changed since": a workload built by this operator carries its own hash ([`super::hash`]).

use std::fmt::Write as _;

use md5::{Digest, Md5};
use serde_json::{Number, Value};

use super::hash::{JsonStyle, write_escaped, write_sorted};

/// The Go hash of a stream spec (no BackfillRequest): lowercase hex MD5 of its Go JSON.
pub fn spec_hash(spec: &Value) -> String {
    md5_hex(go_json(spec).as_bytes())
}

/// The Go hash of a stream spec together with a BackfillRequest spec (`streamClass`, `streamId`,
/// `completed` only when true): each MD5 hex string hex-encoded again, joined by `:`.
pub fn backfill_hash(spec: &Value, stream_class: &str, stream_id: &str, completed: bool) -> String {
    let mut request = String::from("{\"streamClass\":");
    write_string(stream_class, &mut request);
    request.push_str(",\"streamId\":");
    write_string(stream_id, &mut request);
    if completed {
        request.push_str(",\"completed\":true");
    }
    request.push('}');
    format!(
        "{}:{}",
        hex(spec_hash(spec).as_bytes()),
        hex(md5_hex(request.as_bytes()).as_bytes())
    )
}

/// The hashes a Go operator may have recorded for a workload or status built from `spec` without
/// a backfill: the plain one, and the one with the empty placeholder request that the Go operator
/// writes to `status.configurationHash` when it finds its workload unchanged.
pub fn streaming_hashes(spec: &Value) -> [String; 2] {
    [spec_hash(spec), backfill_hash(spec, "", "", false)]
}

fn md5_hex(data: &[u8]) -> String {
    hex(&Md5::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// `.spec` as Go's `json.Marshal` writes an unstructured map.
pub fn go_json(value: &Value) -> String {
    let mut out = String::new();
    let style = JsonStyle {
        number: &write_number,
        string: &write_string,
    };
    write_sorted(value, &mut out, &style);
    out
}

/// Kubernetes' unstructured decoding keeps integers as `int64` and everything else as `float64`;
/// Go writes a `float64` with `strconv.FormatFloat(f, 'f', -1, 64)`, or in exponent form below
/// 1e-6 and from 1e21 on (`e-07` shortened to `e-7`, positive exponents with a `+`).
fn write_number(n: &Number, out: &mut String) {
    if n.is_i64() || n.is_u64() {
        let _ = write!(out, "{n}");
        return;
    }
    let Some(f) = n.as_f64() else {
        let _ = write!(out, "{n}");
        return;
    };
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let text = format!("{f:e}");
        match text.split_once('e') {
            Some((mantissa, exponent)) if !exponent.starts_with('-') => {
                let _ = write!(out, "{mantissa}e+{exponent}");
            }
            _ => out.push_str(&text),
        }
    } else {
        // Rust's `Display` for f64 is the shortest round-trip form without an exponent, as Go's.
        let _ = write!(out, "{f}");
    }
}

/// A string as Go's `encoding/json` escapes it (HTML-safe).
fn write_string(s: &str, out: &mut String) {
    write_escaped(s, out, true);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The test vectors of reference/arcane-behavior.md §3.6.
    #[test]
    fn matches_the_go_operators_vectors() {
        let spec = json!({"suspended": true, "source": "sourceA", "destination": "destinationB"});
        assert_eq!(spec_hash(&spec), "d27f2c74a4b6d299d3f1cbeb96d90204");
        assert_eq!(
            backfill_hash(&spec, "stream-class", "stream1", false),
            "6432376632633734613462366432393964336631636265623936643930323034:\
             3738393631353062626261653730343430393965336638343763643033613364"
        );
        assert_eq!(
            md5_hex(br#"{"streamClass":"","streamId":""}"#),
            "c746d6b1f33686d2c23d9a7b129511da"
        );
        let [plain, placeholder] = streaming_hashes(&spec);
        assert_eq!(plain, spec_hash(&spec));
        assert_eq!(placeholder.len(), 129);
        assert!(placeholder.ends_with(&hex(b"c746d6b1f33686d2c23d9a7b129511da")));
    }

    #[test]
    fn writes_json_as_go_does() {
        let value = json!({
            "b": [1, -2, 1.5, 1.0, 1e21, 1.5e-7, 0.000001, 123456789.25, 0.0],
            "a": "<tag> & \u{2028}\u{01}\u{08}\"\\",
            "B": {"z": null, "y": false},
        });
        assert_eq!(
            go_json(&value),
            r#"{"B":{"y":false,"z":null},"a":"\u003ctag\u003e \u0026 \u2028\u0001\b\"\\","b":[1,-2,1.5,1,1e+21,1.5e-7,0.000001,123456789.25,0]}"#
        );
    }

    #[test]
    fn completed_requests_hash_differently() {
        let spec = json!({"a": 1});
        assert_ne!(
            backfill_hash(&spec, "c", "s", false),
            backfill_hash(&spec, "c", "s", true)
        );
    }
}
