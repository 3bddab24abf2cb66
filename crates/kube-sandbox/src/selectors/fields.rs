//! Field selectors (`apimachinery/pkg/fields/selector.go`) and the per-type selectable fields.

use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
struct FieldReq {
    field: String,
    value: String,
    negated: bool,
}

/// A parsed field selector: `f=v`, `f==v`, `f!=v` joined by commas (AND). Empty selects everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSelector {
    reqs: Vec<FieldReq>,
}

/// Splits on commas not escaped with a backslash.
fn split_terms(s: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push('\\');
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    if escaped {
        cur.push('\\');
    }
    terms.push(cur);
    terms
}

/// Finds the first unescaped operator; returns (lhs, negated, rhs).
fn split_term(term: &str) -> Option<(&str, bool, &str)> {
    let bytes = term.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'!' if bytes.get(i + 1) == Some(&b'=') => return Some((&term[..i], true, &term[i + 2..])),
            b'=' if bytes.get(i + 1) == Some(&b'=') => return Some((&term[..i], false, &term[i + 2..])),
            b'=' => return Some((&term[..i], false, &term[i + 1..])),
            _ => i += 1,
        }
    }
    None
}

fn unescape(v: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(e) => return Err(format!("invalid field selector: invalid escape sequence: \\{e}")),
                None => return Err("invalid field selector: unterminated escape sequence".to_string()),
            }
        } else if c == ',' || c == '=' {
            return Err(format!(
                "invalid field selector: unescaped reserved character {c:?} in {v:?}"
            ));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// The string form of a field's value, as the apiserver's field sets hold it.
fn field_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Where a selectable field lives in the object (a few upstream field labels are not plain paths).
fn resolve<'a>(obj: &'a Value, field: &str) -> Option<&'a Value> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let path = match (kind, field) {
        ("Event", "source") => "source.component",
        _ => field,
    };
    path.split('.').try_fold(obj, |cur, seg| cur.get(seg))
}

impl FieldSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(Self { reqs });
        }
        for term in split_terms(s) {
            let Some((field, negated, value)) = split_term(&term) else {
                return Err(format!("invalid selector: '{s}'; can't understand '{term}'"));
            };
            let field = field.trim();
            if field.is_empty() {
                return Err(format!("invalid selector: '{s}'; can't understand '{term}'"));
            }
            reqs.push(FieldReq {
                field: field.to_string(),
                value: unescape(value)?,
                negated,
            });
        }
        Ok(Self { reqs })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.reqs.iter().all(|r| {
            let have = resolve(obj, &r.field).map(field_string).unwrap_or_default();
            (have == r.value) != r.negated
        })
    }

    /// The field paths the selector uses, to check each with [`supported_field`].
    pub fn fields(&self) -> Vec<&str> {
        self.reqs.iter().map(|r| r.field.as_str()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// If the selector pins `metadata.name` with `=`, that name (lets a server skip a full scan).
    pub fn exact_name(&self) -> Option<&str> {
        self.reqs
            .iter()
            .find(|r| r.field == "metadata.name" && !r.negated)
            .map(|r| r.value.as_str())
    }
}

/// Field labels registered per type (`pkg/apis/*/v1/conversion.go`, `job/strategy.go`, …), besides
/// `metadata.name` and `metadata.namespace` which every resource supports.
fn registered(group: &str, kind: &str) -> Option<&'static [&'static str]> {
    Some(match (group, kind) {
        ("", "Pod") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ],
        ("", "Event") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("", "Secret") => &["type"],
        ("", "Namespace") => &["status.phase"],
        ("", "Node") => &["spec.unschedulable"],
        ("", "ReplicationController") => &["status.replicas"],
        ("apps", "ReplicaSet") => &["status.replicas"],
        ("batch", "Job") => &["status.successful"],
        ("certificates.k8s.io", "CertificateSigningRequest") => &["spec.signerName"],
        _ => return None,
    })
}

/// Whether `field` may be used in a field selector on `group`/`kind`. `crd_selectable` holds a CRD version's
/// `selectableFields[].jsonPath` values (`.spec.color`).
pub fn supported_field(group: &str, kind: &str, field: &str, crd_selectable: &[String]) -> bool {
    field == "metadata.name"
        || field == "metadata.namespace"
        || registered(group, kind).is_some_and(|f| f.contains(&field))
        || crd_selectable.iter().any(|f| f.trim_start_matches('.') == field)
}

/// The 400 message the apiserver gives for an unsupported field selector on this type.
pub fn unsupported_field_message(group: &str, kind: &str, field: &str, crd_selectable: &[String]) -> String {
    if registered(group, kind).is_some() {
        return format!("field label not supported: {field}");
    }
    let mut known = vec![
        "\"metadata.name\"".to_string(),
        "\"metadata.namespace\"".to_string(),
    ];
    known.extend(
        crd_selectable
            .iter()
            .map(|f| format!("{:?}", f.trim_start_matches('.'))),
    );
    format!(
        "{field:?} is not a known field selector: only {}",
        known.join(", ")
    )
}
