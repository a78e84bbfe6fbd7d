//! The JSON forms of samples (Zenoh's REST plugin's) and of the admin space's values.

use base64::Engine;
use plexus::{Encoding, Sample};
use serde::Serialize;
use serde_json::Value;

/// A sample as Zenoh's REST plugin writes it, plus `attachment` when there is one
/// (a Plexus extension: the admin space's Deletes carry their reason there).
#[derive(Debug, Serialize)]
pub(crate) struct JsonSample {
    pub(crate) key: String,
    pub(crate) value: Value,
    pub(crate) encoding: String,
    pub(crate) timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) attachment: Option<Value>,
}

impl From<&Sample> for JsonSample {
    fn from(s: &Sample) -> Self {
        JsonSample {
            key: s.key_expr().to_string(),
            value: payload_to_json(s.payload(), s.encoding()),
            encoding: s.encoding().to_string(),
            timestamp: s.timestamp().map(|t| t.to_string()),
            attachment: s.attachment().map(|a| attachment_to_json(a)),
        }
    }
}

impl JsonSample {
    /// An error reply: key `ERROR`, as Zenoh's plugin writes it.
    pub(crate) fn error(payload: &[u8], encoding: &Encoding) -> Self {
        JsonSample {
            key: "ERROR".into(),
            value: payload_to_json(payload, encoding),
            encoding: encoding.to_string(),
            timestamp: None,
            attachment: None,
        }
    }
}

fn base64(data: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(data))
}

/// Zenoh's rule: `null` when empty; parsed for the JSON encodings (`application/json`,
/// `text/json`, `text/json5`); a string for `text/plain` and `zenoh/string`; base64
/// otherwise, and whenever the bytes do not fit the encoding. (Unlike Zenoh, an
/// encoding's schema suffix, e.g. `;charset=utf-8`, does not change the rule.)
pub(crate) fn payload_to_json(payload: &[u8], encoding: &Encoding) -> Value {
    if payload.is_empty() {
        return Value::Null;
    }
    match encoding.to_wire().id {
        // application/json, text/json, text/json5
        5 | 6 | 11 => serde_json::from_slice(payload).unwrap_or_else(|_| base64(payload)),
        // text/plain, zenoh/string
        4 | 1 => match std::str::from_utf8(payload) {
            Ok(s) => Value::String(s.to_string()),
            Err(_) => base64(payload),
        },
        _ => base64(payload),
    }
}

/// An attachment: JSON when it parses as JSON, else a UTF-8 string, else base64.
pub(crate) fn attachment_to_json(a: &[u8]) -> Value {
    if let Ok(v) = serde_json::from_slice::<Value>(a) {
        return v;
    }
    match std::str::from_utf8(a) {
        Ok(s) => Value::String(s.to_string()),
        Err(_) => base64(a),
    }
}

/// Escapes text for HTML element content.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_follow_zenohs_rules() {
        let json = Encoding::APPLICATION_JSON;
        assert_eq!(payload_to_json(b"", &json), Value::Null);
        assert_eq!(
            payload_to_json(br#"{"a":1}"#, &json),
            serde_json::json!({"a": 1})
        );
        assert_eq!(
            payload_to_json(b"{oops", &json),
            Value::String("e29vcHM=".into())
        );
        assert_eq!(
            payload_to_json(b"hi", &Encoding::TEXT_PLAIN),
            Value::String("hi".into())
        );
        assert_eq!(
            payload_to_json(&[0xff, 0xfe], &Encoding::TEXT_PLAIN),
            Value::String("//4=".into())
        );
        assert_eq!(
            payload_to_json(b"hi", &Encoding::ZENOH_BYTES),
            Value::String("aGk=".into())
        );
        assert_eq!(
            payload_to_json(b"[1]", &Encoding::from("text/json5")),
            serde_json::json!([1])
        );
        assert_eq!(
            payload_to_json(b"x", &Encoding::from("text/plain;charset=utf-8")),
            Value::String("x".into())
        );
    }

    #[test]
    fn attachments_and_html() {
        assert_eq!(
            attachment_to_json(br#"{"reason":"lease expired"}"#)["reason"],
            "lease expired"
        );
        assert_eq!(attachment_to_json(b"plain"), Value::String("plain".into()));
        assert_eq!(attachment_to_json(&[0xff]), Value::String("/w==".into()));
        assert_eq!(html_escape("<a&b>\"'"), "&lt;a&amp;b&gt;&quot;&#39;");
    }
}
