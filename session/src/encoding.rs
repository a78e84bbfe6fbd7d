//! Payload encodings: Zenoh's numbered well-known names plus an optional schema.

use std::fmt;

use bytes::Bytes;
use plexus_transport::wire;

/// Well-known encoding names, indexed by their wire id (Zenoh 1.x numbering).
const NAMES: [&str; 53] = [
    "zenoh/bytes",
    "zenoh/string",
    "zenoh/serialized",
    "application/octet-stream",
    "text/plain",
    "application/json",
    "text/json",
    "application/cdr",
    "application/cbor",
    "application/yaml",
    "text/yaml",
    "text/json5",
    "application/python-serialized-object",
    "application/protobuf",
    "application/java-serialized-object",
    "application/openmetrics-text",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/bmp",
    "image/webp",
    "application/xml",
    "application/x-www-form-urlencoded",
    "text/html",
    "text/xml",
    "text/css",
    "text/javascript",
    "text/markdown",
    "text/csv",
    "application/sql",
    "application/coap-payload",
    "application/json-patch+json",
    "application/json-seq",
    "application/jsonpath",
    "application/jwt",
    "application/mp4",
    "application/soap+xml",
    "application/yang",
    "audio/aac",
    "audio/flac",
    "audio/mp4",
    "audio/ogg",
    "audio/vorbis",
    "video/h261",
    "video/h263",
    "video/h264",
    "video/h265",
    "video/h266",
    "video/mp4",
    "video/ogg",
    "video/raw",
    "video/vp8",
    "video/vp9",
];

/// The encoding of a payload, e.g. `application/json` or `text/plain;utf-8`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Encoding(wire::Encoding);

impl Encoding {
    /// `zenoh/bytes`, the default.
    pub const ZENOH_BYTES: Encoding = Encoding::id(0);
    /// `zenoh/string`.
    pub const ZENOH_STRING: Encoding = Encoding::id(1);
    /// `text/plain`.
    pub const TEXT_PLAIN: Encoding = Encoding::id(4);
    /// `application/json`.
    pub const APPLICATION_JSON: Encoding = Encoding::id(5);

    const fn id(id: u16) -> Self {
        Encoding(wire::Encoding { id, schema: None })
    }

    /// The same encoding with a schema suffix.
    pub fn with_schema(self, schema: impl Into<String>) -> Self {
        Encoding(wire::Encoding {
            id: self.0.id,
            schema: Some(Bytes::from(schema.into())),
        })
    }

    /// The wire form.
    pub fn to_wire(&self) -> wire::Encoding {
        self.0.clone()
    }

    /// From the wire form.
    pub fn from_wire(e: wire::Encoding) -> Self {
        Encoding(e)
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match NAMES.get(self.0.id as usize) {
            Some(name) => f.write_str(name)?,
            None => write!(f, "unknown({})", self.0.id)?,
        }
        if let Some(schema) = &self.0.schema {
            write!(f, ";{}", String::from_utf8_lossy(schema))?;
        }
        Ok(())
    }
}

impl From<&str> for Encoding {
    /// Parses `name[;schema]`; an unknown name becomes `zenoh/bytes` with the whole
    /// string as its schema, as Zenoh does.
    fn from(s: &str) -> Self {
        let (name, schema) = match s.split_once(';') {
            Some((n, sc)) => (n, Some(sc)),
            None => (s, None),
        };
        match NAMES.iter().position(|n| *n == name) {
            Some(id) => {
                let e = Encoding::id(id as u16);
                match schema {
                    Some(sc) => e.with_schema(sc),
                    None => e,
                }
            }
            None => Encoding::ZENOH_BYTES.with_schema(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(Encoding::APPLICATION_JSON.to_string(), "application/json");
        assert_eq!(
            Encoding::from("application/json"),
            Encoding::APPLICATION_JSON
        );
        let e = Encoding::from("text/plain;utf-8");
        assert_eq!(e.to_wire().id, 4);
        assert_eq!(e.to_string(), "text/plain;utf-8");
        let custom = Encoding::from("my/thing");
        assert_eq!(custom.to_wire().id, 0);
        assert_eq!(custom.to_string(), "zenoh/bytes;my/thing");
        assert_eq!(NAMES[52], "video/vp9");
    }
}
