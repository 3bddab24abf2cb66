//! Label and field selectors.

use serde_json::{Map, Value};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelSelector {
    reqs: Vec<(String, String)>,
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("unable to parse requirement: {part}"))?;
            reqs.push((k.trim().to_string(), v.trim_start_matches('=').trim().to_string()));
        }
        Ok(Self { reqs })
    }

    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        self.reqs.iter().all(|(k, v)| {
            labels
                .and_then(|l| l.get(k))
                .and_then(Value::as_str)
                .is_some_and(|x| x == v)
        })
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSelector {
    reqs: Vec<(String, String)>,
}

impl FieldSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("invalid selector: '{s}'; can't understand '{part}'"))?;
            reqs.push((k.to_string(), v.trim_start_matches('=').to_string()));
        }
        Ok(Self { reqs })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.reqs.iter().all(|(k, v)| {
            let ptr = format!("/{}", k.replace('.', "/"));
            obj.pointer(&ptr).and_then(Value::as_str).unwrap_or("") == v
        })
    }

    pub fn fields(&self) -> Vec<&str> {
        self.reqs.iter().map(|(k, _)| k.as_str()).collect()
    }
}

pub fn supported_field(group: &str, kind: &str, field: &str, crd_selectable: &[String]) -> bool {
    let _ = (group, kind);
    field == "metadata.name"
        || field == "metadata.namespace"
        || crd_selectable.iter().any(|f| f.trim_start_matches('.') == field)
}
