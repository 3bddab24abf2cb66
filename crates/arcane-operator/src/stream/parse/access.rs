//! Typed access to the untyped stream object, each value carrying its JSON path so that every
//! error names the exact offending field.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::stream::model::InvalidSpec;

/// Values longer than this are cut when echoed in an error message, so that an absurd value
/// cannot blow up a status condition or an Event.
const ECHO_LIMIT: usize = 64;

pub(super) fn invalid(field: impl Into<String>, message: impl Into<String>) -> InvalidSpec {
    InvalidSpec {
        field: field.into(),
        message: message.into(),
    }
}

/// `value` in double quotes for a message, cut to a readable length.
///
/// Escaped the way JSON escapes strings (`\"`, `\\`, `\n`, `\u00XX`), the notation `kubectl get -o
/// json` shows the same value in, rather than Rust's debug notation. Invisible characters that JSON
/// would leave raw (other blanks, zero-width and direction marks) are escaped too, so that a
/// value that looks right but is not can be told apart.
pub(super) fn quote(value: &str) -> String {
    let (shown, cut) = match value.char_indices().nth(ECHO_LIMIT) {
        Some((cut, _)) => (&value[..cut], true),
        None => (value, false),
    };
    let mut out = String::with_capacity(shown.len() + 2);
    out.push('"');
    for c in shown.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_invisible(c) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    // Writing to a String cannot fail.
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    if cut {
        out.push('…');
    }
    out
}

/// Control characters, blanks other than the plain space, and the zero-width and bidirectional
/// formatting characters.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(
            c,
            '\u{00ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}' | '\u{feff}'
        )
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value found, or not, at a JSON path. An explicit `null` counts as absent: API clients use it
/// to mean "unset".
#[derive(Debug, Clone)]
pub(super) struct Node<'a> {
    path: String,
    value: Option<&'a Value>,
}

impl<'a> Node<'a> {
    pub(super) fn new(path: impl Into<String>, value: Option<&'a Value>) -> Self {
        Node {
            path: path.into(),
            value: value.filter(|v| !v.is_null()),
        }
    }

    pub(super) fn path(&self) -> &str {
        &self.path
    }

    pub(super) fn is_present(&self) -> bool {
        self.value.is_some()
    }

    /// The member `key`. Absent when this node is absent or not an object; the accessor that
    /// expects this node to be an object reports that type error.
    pub(super) fn child(&self, key: &str) -> Node<'a> {
        Node::new(
            format!("{}.{key}", self.path),
            self.value.and_then(|v| v.get(key)),
        )
    }

    fn wrong_type(&self, expected: &str, found: &Value) -> InvalidSpec {
        invalid(
            self.path.clone(),
            format!("must be {expected}, not {}", describe(found)),
        )
    }

    pub(super) fn missing(&self) -> InvalidSpec {
        invalid(self.path.clone(), "required but missing")
    }

    pub(super) fn object(&self) -> Result<Option<&'a Map<String, Value>>, InvalidSpec> {
        match self.value {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(other) => Err(self.wrong_type("an object", other)),
        }
    }

    pub(super) fn required_object(&self) -> Result<&'a Map<String, Value>, InvalidSpec> {
        self.object()?.ok_or_else(|| self.missing())
    }

    pub(super) fn bool(&self) -> Result<Option<bool>, InvalidSpec> {
        match self.value {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(other) => Err(self.wrong_type("a boolean", other)),
        }
    }

    pub(super) fn string(&self) -> Result<Option<&'a str>, InvalidSpec> {
        match self.value {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(self.wrong_type("a string", other)),
        }
    }

    /// A present, non-empty string.
    pub(super) fn required_string(&self) -> Result<&'a str, InvalidSpec> {
        match self.string()? {
            None => Err(self.missing()),
            Some("") => Err(invalid(self.path.clone(), "must not be empty")),
            Some(text) => Ok(text),
        }
    }
}
