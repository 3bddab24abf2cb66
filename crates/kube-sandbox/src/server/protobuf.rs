//! Decoding of Kubernetes protobuf request bodies for the few built-in kinds kubectl's imperative generators
//! send (`kubectl create namespace|configmap|secret|serviceaccount`, `create role|rolebinding...`, `auth can-i`). Every field of those messages is mapped;
//! a field this decoder does not know makes the request fail with 415 rather than being dropped silently.

use serde_json::{Map, Value, json};

mod messages;
mod workloads;

/// `k8s\0`: the envelope magic of `application/vnd.kubernetes.protobuf` bodies.
const MAGIC: &[u8] = b"k8s\0";

#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    #[error("malformed protobuf: {0}")]
    Malformed(&'static str),
    #[error("unsupported protobuf content: {0}")]
    Unsupported(String),
}

enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or(ProtoError::Malformed("truncated varint"))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ProtoError::Malformed("varint too long"))
    }

    /// The next (field number, value), or None at the end.
    fn next(&mut self) -> Result<Option<(u64, Wire<'a>)>, ProtoError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let (field, wire) = (key >> 3, key & 7);
        let value = match wire {
            0 => Wire::Varint(self.varint()?),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| ProtoError::Malformed("length"))?;
                let end = self
                    .pos
                    .checked_add(len)
                    .filter(|e| *e <= self.buf.len())
                    .ok_or(ProtoError::Malformed("truncated field"))?;
                let b = &self.buf[self.pos..end];
                self.pos = end;
                Wire::Bytes(b)
            }
            _ => return Err(ProtoError::Unsupported(format!("wire type {wire}"))),
        };
        Ok(Some((field, value)))
    }
}

fn bytes<'a>(w: Wire<'a>, what: &'static str) -> Result<&'a [u8], ProtoError> {
    match w {
        Wire::Bytes(b) => Ok(b),
        Wire::Varint(_) => Err(ProtoError::Malformed(what)),
    }
}

fn string(w: Wire<'_>, what: &'static str) -> Result<String, ProtoError> {
    String::from_utf8(bytes(w, what)?.to_vec()).map_err(|_| ProtoError::Malformed(what))
}

fn varint(w: Wire<'_>, what: &'static str) -> Result<u64, ProtoError> {
    match w {
        Wire::Varint(v) => Ok(v),
        Wire::Bytes(_) => Err(ProtoError::Malformed(what)),
    }
}

fn unknown(msg: &str, field: u64) -> ProtoError {
    ProtoError::Unsupported(format!(
        "field {field} of {msg} is not supported by kube-sandbox; use kubectl create -f / apply -f"
    ))
}

/// A `map<string, string>` (or bytes, base64-encoded as JSON does) entry.
fn map_entry(b: &[u8], binary: bool) -> Result<(String, Value), ProtoError> {
    let mut r = Reader::new(b);
    let (mut k, mut v) = (String::new(), Value::String(String::new()));
    while let Some((f, w)) = r.next()? {
        match f {
            1 => k = string(w, "map key")?,
            2 if binary => v = Value::String(crate::store::meta::base64(bytes(w, "map value")?)),
            2 => v = Value::String(string(w, "map value")?),
            _ => return Err(unknown("map entry", f)),
        }
    }
    Ok((k, v))
}

fn insert_entry(m: &mut Map<String, Value>, key: &str, entry: (String, Value)) {
    let obj = m.entry(key.to_string()).or_insert_with(|| json!({}));
    if let Some(o) = obj.as_object_mut() {
        o.insert(entry.0, entry.1);
    }
}

fn push(m: &mut Map<String, Value>, key: &str, v: Value) {
    let arr = m.entry(key.to_string()).or_insert_with(|| json!([]));
    if let Some(a) = arr.as_array_mut() {
        a.push(v);
    }
}

fn object_meta(b: &[u8]) -> Result<Value, ProtoError> {
    let mut r = Reader::new(b);
    let mut m = Map::new();
    while let Some((f, w)) = r.next()? {
        match f {
            // Go encodes empty optional strings; JSON (omitempty) leaves them out.
            1..=3 => {
                let key = ["name", "generateName", "namespace"][usize::try_from(f - 1).unwrap_or(0)];
                let v = string(w, key)?;
                if !v.is_empty() {
                    m.insert(key.into(), json!(v));
                }
            }
            // selfLink, uid, resourceVersion, creationTimestamp: the server sets or ignores them on create.
            4..=6 | 8 => {}
            // Always written by Go (a non-pointer int64); 0 means unset.
            7 => {
                let g = varint(w, "generation")?;
                if g != 0 {
                    m.insert("generation".into(), json!(g));
                }
            }
            11 => insert_entry(&mut m, "labels", map_entry(bytes(w, "labels")?, false)?),
            12 => insert_entry(&mut m, "annotations", map_entry(bytes(w, "annotations")?, false)?),
            13 => {
                let r = messages::decode_with(
                    messages::OWNER_REF,
                    "OwnerReference",
                    bytes(w, "ownerReferences")?,
                )?;
                push(&mut m, "ownerReferences", Value::Object(r));
            }
            14 => push(&mut m, "finalizers", json!(string(w, "finalizers")?)),
            _ => return Err(unknown("ObjectMeta", f)),
        }
    }
    Ok(Value::Object(m))
}

fn decode_kind(kind: &str, b: &[u8]) -> Result<Map<String, Value>, ProtoError> {
    let mut r = Reader::new(b);
    let mut m = Map::new();
    while let Some((f, w)) = r.next()? {
        match (kind, f) {
            (_, 1) => drop(m.insert("metadata".into(), object_meta(bytes(w, "metadata")?)?)),
            ("ConfigMap", 2) => insert_entry(&mut m, "data", map_entry(bytes(w, "data")?, false)?),
            ("ConfigMap", 3) => insert_entry(&mut m, "binaryData", map_entry(bytes(w, "binaryData")?, true)?),
            ("ConfigMap", 4) | ("Secret", 5) => {
                drop(m.insert("immutable".into(), json!(varint(w, "immutable")? != 0)));
            }
            ("Secret", 2) => insert_entry(&mut m, "data", map_entry(bytes(w, "data")?, true)?),
            ("Secret", 3) => drop(m.insert("type".into(), json!(string(w, "type")?))),
            ("Secret", 4) => insert_entry(&mut m, "stringData", map_entry(bytes(w, "stringData")?, false)?),
            ("Namespace", 2) => {
                let mut spec = Map::new();
                let mut sr = Reader::new(bytes(w, "spec")?);
                while let Some((sf, sw)) = sr.next()? {
                    match sf {
                        1 => push(&mut spec, "finalizers", json!(string(sw, "finalizers")?)),
                        _ => return Err(unknown("NamespaceSpec", sf)),
                    }
                }
                m.insert("spec".into(), Value::Object(spec));
            }
            // Namespace status is set by the server.
            ("Namespace", 3) => {}
            ("ServiceAccount", 4) => {
                m.insert(
                    "automountServiceAccountToken".into(),
                    json!(varint(w, "automount")? != 0),
                );
            }
            _ => return Err(unknown(kind, f)),
        }
    }
    Ok(m)
}

/// Decodes an enveloped protobuf body into the JSON object it stands for.
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or(ProtoError::Malformed("missing k8s envelope"))?;
    let mut r = Reader::new(rest);
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), None);
    while let Some((f, w)) = r.next()? {
        match f {
            1 => {
                let mut tr = Reader::new(bytes(w, "typeMeta")?);
                while let Some((tf, tw)) = tr.next()? {
                    match tf {
                        1 => api_version = string(tw, "apiVersion")?,
                        2 => kind = string(tw, "kind")?,
                        _ => {}
                    }
                }
            }
            2 => raw = Some(bytes(w, "raw")?),
            3 | 4 => {}
            _ => return Err(unknown("Unknown", f)),
        }
    }
    if let Some(schema) = messages::schema_of(&api_version, &kind) {
        let mut obj = messages::decode_with(schema, &kind, raw.unwrap_or_default())?;
        obj.insert("apiVersion".into(), json!(api_version));
        obj.insert("kind".into(), json!(kind));
        return Ok(Value::Object(obj));
    }
    if api_version != "v1"
        || !matches!(
            kind.as_str(),
            "Namespace" | "ConfigMap" | "Secret" | "ServiceAccount"
        )
    {
        return Err(ProtoError::Unsupported(format!(
            "{api_version}/{kind} in protobuf; only v1 Namespace, ConfigMap, Secret, ServiceAccount, the RBAC kinds and the access reviews are decoded: use kubectl create -f / apply -f"
        )));
    }
    let mut obj = decode_kind(&kind, raw.unwrap_or_default())?;
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_bytes(n: u64, b: &[u8]) -> Vec<u8> {
        let mut out = vec![];
        let mut key = (n << 3) | 2;
        loop {
            let byte = (key & 0x7f) as u8;
            key >>= 7;
            if key == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.push(u8::try_from(b.len()).unwrap());
        out.extend_from_slice(b);
        out
    }

    #[test]
    fn decodes_a_configmap() {
        let meta = [
            field_bytes(1, b"x"),
            field_bytes(11, &[field_bytes(1, b"app"), field_bytes(2, b"a")].concat()),
        ]
        .concat();
        let cm = [
            field_bytes(1, &meta),
            field_bytes(2, &[field_bytes(1, b"k"), field_bytes(2, b"v")].concat()),
        ]
        .concat();
        let type_meta = [field_bytes(1, b"v1"), field_bytes(2, b"ConfigMap")].concat();
        let body = [MAGIC.to_vec(), field_bytes(1, &type_meta), field_bytes(2, &cm)].concat();
        let v = decode(&body).unwrap();
        assert_eq!(v["kind"], "ConfigMap");
        assert_eq!(v["metadata"]["name"], "x");
        assert_eq!(v["metadata"]["labels"]["app"], "a");
        assert_eq!(v["data"]["k"], "v");
        let odd = [
            MAGIC.to_vec(),
            field_bytes(1, &type_meta),
            field_bytes(2, &field_bytes(9, b"?")),
        ]
        .concat();
        assert!(matches!(decode(&odd), Err(ProtoError::Unsupported(_))));
        assert!(decode(b"nope").is_err());
    }

    fn field_varint(n: u64, v: u8) -> Vec<u8> {
        vec![u8::try_from(n << 3).unwrap(), v]
    }

    /// What client-go's typed clients send on DELETE with a protobuf content type (helm's release Secrets).
    #[test]
    fn decodes_delete_options() {
        let preconditions = [field_bytes(1, b"u-1"), field_bytes(2, b"42")].concat();
        let opts = [
            field_varint(1, 0),
            field_bytes(2, &preconditions),
            field_bytes(4, b"Background"),
            field_bytes(5, b"All"),
        ]
        .concat();
        for api_version in [&b"v1"[..], b"meta.k8s.io/v1"] {
            let type_meta = [field_bytes(1, api_version), field_bytes(2, b"DeleteOptions")].concat();
            let body = [MAGIC.to_vec(), field_bytes(1, &type_meta), field_bytes(2, &opts)].concat();
            let v = decode(&body).unwrap();
            assert_eq!(v["kind"], "DeleteOptions");
            assert_eq!(v["gracePeriodSeconds"], 0);
            assert_eq!(v["propagationPolicy"], "Background");
            assert_eq!(v["dryRun"], json!(["All"]));
            assert_eq!(v["preconditions"], json!({"uid": "u-1", "resourceVersion": "42"}));
        }
    }
}
