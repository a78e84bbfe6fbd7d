//! JSON5 text to a value tree ([`J`]): duplicate keys and excessive nesting rejected,
//! errors with line and column.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::error::ConfigError;

/// Parses JSON5 text into a tree, rejecting duplicate keys and excessive nesting.
pub(super) fn parse(text: &str, origin: &str) -> Result<J, ConfigError> {
    if let Some(line) = too_deep(text) {
        return Err(ConfigError::Syntax {
            origin: origin.to_string(),
            location: Some((line, 1)),
            message: format!("nesting deeper than {MAX_DEPTH} levels"),
        });
    }
    json5::from_str::<J>(text).map_err(|e| {
        let json5::Error::Message { msg, location } = e;
        ConfigError::Syntax {
            origin: origin.to_string(),
            location: location.map(|l| (l.line, l.column)),
            message: msg,
        }
    })
}

/// Deepest `[`/`{` nesting accepted (the JSON5 parser recurses once per level).
const MAX_DEPTH: usize = 64;

/// The line where nesting exceeds [`MAX_DEPTH`], skipping strings and comments.
fn too_deep(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let (mut i, mut depth, mut line) = (0, 0usize, 1);
    while i < b.len() {
        match b[i] {
            b'\n' => line += 1,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(line);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    if i < b.len() && b[i] == b'\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    if b[i] == b'\n' {
                        line += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// A parsed JSON5 value; objects keep their key order.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum J {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    /// The same value as `serde_json` (non-finite numbers become `null`).
    pub(super) fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as V;
        match self {
            J::Null => V::Null,
            J::Bool(b) => V::Bool(*b),
            J::Int(i) => V::from(*i),
            J::Float(x) => serde_json::Number::from_f64(*x).map_or(V::Null, V::Number),
            J::Str(s) => V::String(s.clone()),
            J::Arr(a) => V::Array(a.iter().map(J::to_json).collect()),
            J::Obj(o) => V::Object(o.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }
}

impl fmt::Display for J {
    /// A short rendering for error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            J::Null => f.write_str("null"),
            J::Bool(b) => write!(f, "{b}"),
            J::Int(i) => write!(f, "{i}"),
            J::Float(x) => write!(f, "{x}"),
            J::Str(s) if s.chars().count() > 80 => {
                let short: String = s.chars().take(77).collect();
                write!(f, "{:?}", format!("{short}..."))
            }
            J::Str(s) => write!(f, "{s:?}"),
            J::Arr(a) => write!(f, "a list of {} items", a.len()),
            J::Obj(_) => f.write_str("an object"),
        }
    }
}

impl<'de> Deserialize<'de> for J {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<J, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = J;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON5 value")
            }
            fn visit_unit<E>(self) -> Result<J, E> {
                Ok(J::Null)
            }
            fn visit_none<E>(self) -> Result<J, E> {
                Ok(J::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<J, D::Error> {
                J::deserialize(d)
            }
            fn visit_bool<E>(self, b: bool) -> Result<J, E> {
                Ok(J::Bool(b))
            }
            fn visit_i64<E>(self, i: i64) -> Result<J, E> {
                Ok(J::Int(i))
            }
            fn visit_u64<E: de::Error>(self, u: u64) -> Result<J, E> {
                i64::try_from(u)
                    .map(J::Int)
                    .map_err(|_| E::custom("integer too large"))
            }
            fn visit_f64<E>(self, x: f64) -> Result<J, E> {
                Ok(J::Float(x))
            }
            fn visit_str<E>(self, s: &str) -> Result<J, E> {
                Ok(J::Str(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<J, E> {
                Ok(J::Str(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(J::Arr(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J, A::Error> {
                let mut out: Vec<(String, J)> = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    if out.iter().any(|(seen, _)| *seen == k) {
                        return Err(de::Error::custom(format!("duplicate key {k:?}")));
                    }
                    let v = map.next_value()?;
                    out.push((k, v));
                }
                Ok(J::Obj(out))
            }
        }
        d.deserialize_any(V)
    }
}
