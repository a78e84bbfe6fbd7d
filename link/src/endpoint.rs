//! Endpoints and locators in Zenoh's `proto/address[?metadata][#config]` form.
//!
//! Rules (following `zenoh-protocol`'s `endpoint.rs`, made stricter where noted):
//! - the protocol is everything before the first `/`; it must be non-empty and made of
//!   ASCII letters, digits, `-`, `_`, `+` or `.`;
//! - the address runs up to the first `?` (metadata) or `#` (config) and must be non-empty;
//!   it may itself contain `/` (unix socket paths);
//! - metadata (`?`) must come before config (`#`); each section present must hold at least
//!   one entry;
//! - a section is a `;`-separated list of `key=value` entries; empty chunks (`a=1;;b=2`,
//!   trailing `;`) are skipped as Zenoh does; keys are non-empty and are kept sorted
//!   alphabetically, as Zenoh does;
//! - stricter than Zenoh: an entry without `=` and a repeated key are errors, `?`/`#`
//!   may not appear inside a section, and a metadata value may not hold `=` (a config
//!   value may, as in Zenoh: everything after the first `=` is the value, e.g. base64
//!   padding);
//! - the locator part (protocol, address, metadata) is at most 255 bytes once printed, as
//!   it travels on the wire behind a one-byte length.

use std::fmt;
use std::str::FromStr;

/// Separator between protocol and address.
pub const PROTO_SEPARATOR: char = '/';
/// Separator introducing the metadata section.
pub const METADATA_SEPARATOR: char = '?';
/// Separator introducing the config section.
pub const CONFIG_SEPARATOR: char = '#';
/// Separator between entries of a metadata or config section.
pub const LIST_SEPARATOR: char = ';';
/// Separator between key and value of an entry.
pub const FIELD_SEPARATOR: char = '=';
/// Largest printed locator, in bytes.
pub const MAX_LOCATOR_LEN: usize = u8::MAX as usize;

/// Which key/value section of an endpoint an error refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    /// The `?metadata` section (part of the locator).
    Metadata,
    /// The `#config` section (local only, never advertised).
    Config,
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Section::Metadata => "metadata",
            Section::Config => "config",
        })
    }
}

/// Why an endpoint or locator string (or its use) is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// There is no `/` between protocol and address.
    #[error("invalid endpoint `{input}`: missing `/` separator between protocol and address")]
    MissingProtocolSeparator {
        /// The string that failed to parse.
        input: String,
    },
    /// The protocol before `/` is empty.
    #[error("invalid endpoint `{input}`: empty protocol before `/`")]
    EmptyProtocol {
        /// The string that failed to parse.
        input: String,
    },
    /// The protocol contains a character outside `[A-Za-z0-9_+.-]`.
    #[error("invalid endpoint `{input}`: invalid character in protocol `{protocol}`")]
    InvalidProtocol {
        /// The string that failed to parse.
        input: String,
        /// The offending protocol.
        protocol: String,
    },
    /// The address after `/` is empty.
    #[error("invalid endpoint `{input}`: empty address after `/`")]
    EmptyAddress {
        /// The string that failed to parse.
        input: String,
    },
    /// A `?` appears after the `#`: metadata must come before config.
    #[error("invalid endpoint `{input}`: metadata (`?`) must come before config (`#`)")]
    MetadataAfterConfig {
        /// The string that failed to parse.
        input: String,
    },
    /// A `?` or `#` is present but introduces no entry.
    #[error("invalid endpoint `{input}`: empty {section} section")]
    EmptySection {
        /// The string that failed to parse.
        input: String,
        /// The empty section.
        section: Section,
    },
    /// A section entry is not of the form `key=value`.
    #[error("invalid endpoint `{input}`: bad {section} entry `{entry}`: {reason}")]
    BadEntry {
        /// The string that failed to parse.
        input: String,
        /// The section holding the entry.
        section: Section,
        /// The offending entry.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The same key appears twice in a section.
    #[error("invalid endpoint `{input}`: duplicate {section} key `{key}`")]
    DuplicateKey {
        /// The string that failed to parse.
        input: String,
        /// The section holding the key.
        section: Section,
        /// The repeated key.
        key: String,
    },
    /// A locator string carries a `#config` section.
    #[error("invalid locator `{input}`: a locator cannot carry a `#config` section")]
    ConfigInLocator {
        /// The string that failed to parse.
        input: String,
    },
    /// The printed locator is longer than [`MAX_LOCATOR_LEN`].
    #[error("invalid endpoint `{input}`: locator is {len} bytes long, at most 255 allowed")]
    TooLong {
        /// The string that failed to parse.
        input: String,
        /// The printed locator length.
        len: usize,
    },
    /// The address is not valid for the protocol (checked when opening).
    #[error("invalid address `{address}` in endpoint `{endpoint}`: {reason}")]
    InvalidAddress {
        /// The endpoint being opened.
        endpoint: String,
        /// The offending address.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A config value could not be interpreted (checked when opening).
    #[error("invalid config value `{key}={value}` in endpoint `{endpoint}`: {reason}")]
    InvalidConfigValue {
        /// The endpoint being opened.
        endpoint: String,
        /// The config key.
        key: String,
        /// The offending value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// An ordered, duplicate-free list of `key=value` entries (metadata or config).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Parameters {
    entries: Vec<(String, String)>,
}

impl Parameters {
    /// Creates an empty parameter list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the value for `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.find(key)
            .ok()
            .and_then(|i| self.entries.get(i))
            .map(|(_, v)| v.as_str())
    }

    /// Returns whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Iterates over `(key, value)` pairs in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Returns the number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Returns whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// Parses a non-empty section body.
    fn parse(body: &str, section: Section, input: &str) -> Result<Self, EndpointError> {
        let mut entries: Vec<(String, String)> = Vec::new();
        for entry in body.split(LIST_SEPARATOR).filter(|e| !e.is_empty()) {
            let bad = |reason: &'static str| EndpointError::BadEntry {
                input: input.to_owned(),
                section,
                entry: entry.to_owned(),
                reason,
            };
            let Some((key, value)) = entry.split_once(FIELD_SEPARATOR) else {
                return Err(bad("expected `key=value`, found no `=`"));
            };
            if key.is_empty() {
                return Err(bad("empty key"));
            }
            if entry.contains([METADATA_SEPARATOR, CONFIG_SEPARATOR]) {
                return Err(bad("`?` and `#` are reserved"));
            }
            // Config values may hold `=` (base64 padding of `*_base64` TLS keys), as in
            // Zenoh; metadata travels in locators and keeps the stricter rule.
            if section == Section::Metadata && value.contains(FIELD_SEPARATOR) {
                return Err(bad("more than one `=`"));
            }
            entries.push((key.to_owned(), value.to_owned()));
        }
        if entries.is_empty() {
            return Err(EndpointError::EmptySection {
                input: input.to_owned(),
                section,
            });
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = entries.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(EndpointError::DuplicateKey {
                input: input.to_owned(),
                section,
                key: w[0].0.clone(),
            });
        }
        Ok(Self { entries })
    }
}

impl fmt::Display for Parameters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

/// Where a peer can be reached: `proto/address[?metadata]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Locator {
    protocol: String,
    address: String,
    metadata: Parameters,
}

impl Locator {
    /// Builds a locator from a protocol and an address, validating both.
    pub fn new(protocol: &str, address: &str) -> Result<Self, EndpointError> {
        format!("{protocol}{PROTO_SEPARATOR}{address}").parse()
    }

    /// Returns the protocol, e.g. `tcp`.
    pub fn protocol(&self) -> &str {
        &self.protocol
    }

    /// Returns the address, e.g. `127.0.0.1:7447` or `/tmp/plexus.sock`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Returns the metadata entries.
    pub fn metadata(&self) -> &Parameters {
        &self.metadata
    }

    /// Turns the locator into an endpoint without config.
    pub fn to_endpoint(&self) -> Endpoint {
        Endpoint {
            locator: self.clone(),
            config: Parameters::new(),
        }
    }

    /// Builds a locator without validation; callers guarantee a well-formed address.
    pub(crate) fn from_parts(protocol: &str, address: String) -> Self {
        Self {
            protocol: protocol.to_owned(),
            address,
            metadata: Parameters::new(),
        }
    }

    /// Returns the locator with its metadata replaced.
    pub(crate) fn with_metadata(mut self, metadata: Parameters) -> Self {
        self.metadata = metadata;
        self
    }
}

impl fmt::Display for Locator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{PROTO_SEPARATOR}{}", self.protocol, self.address)?;
        if !self.metadata.is_empty() {
            write!(f, "{METADATA_SEPARATOR}{}", self.metadata)?;
        }
        Ok(())
    }
}

impl FromStr for Locator {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let endpoint: Endpoint = s.parse()?;
        if !endpoint.config.is_empty() {
            return Err(EndpointError::ConfigInLocator {
                input: s.to_owned(),
            });
        }
        Ok(endpoint.locator)
    }
}

/// A locator plus local config: `proto/address[?metadata][#config]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    locator: Locator,
    config: Parameters,
}

impl Endpoint {
    /// Returns the locator part (everything but the config).
    pub fn locator(&self) -> &Locator {
        &self.locator
    }

    /// Returns the protocol, e.g. `tcp`.
    pub fn protocol(&self) -> &str {
        self.locator.protocol()
    }

    /// Returns the address, e.g. `127.0.0.1:7447`.
    pub fn address(&self) -> &str {
        self.locator.address()
    }

    /// Returns the metadata entries.
    pub fn metadata(&self) -> &Parameters {
        self.locator.metadata()
    }

    /// Returns the config entries.
    pub fn config(&self) -> &Parameters {
        &self.config
    }

    /// Returns a copy with the locator replaced and the config kept.
    pub(crate) fn with_locator(&self, locator: Locator) -> Self {
        Self {
            locator,
            config: self.config.clone(),
        }
    }
}

impl From<Locator> for Endpoint {
    fn from(locator: Locator) -> Self {
        locator.to_endpoint()
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.locator)?;
        if !self.config.is_empty() {
            write!(f, "{CONFIG_SEPARATOR}{}", self.config)?;
        }
        Ok(())
    }
}

fn is_protocol_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '.')
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let input = || s.to_owned();
        let Some((protocol, rest)) = s.split_once(PROTO_SEPARATOR) else {
            return Err(EndpointError::MissingProtocolSeparator { input: input() });
        };
        if protocol.is_empty() {
            return Err(EndpointError::EmptyProtocol { input: input() });
        }
        if !protocol.chars().all(is_protocol_char) {
            return Err(EndpointError::InvalidProtocol {
                input: input(),
                protocol: protocol.to_owned(),
            });
        }
        let midx = rest.find(METADATA_SEPARATOR);
        let cidx = rest.find(CONFIG_SEPARATOR);
        if matches!((midx, cidx), (Some(m), Some(c)) if m > c) {
            return Err(EndpointError::MetadataAfterConfig { input: input() });
        }
        let addr_end = midx.or(cidx).unwrap_or(rest.len());
        let address = &rest[..addr_end];
        if address.is_empty() {
            return Err(EndpointError::EmptyAddress { input: input() });
        }
        let metadata = match midx {
            Some(m) => {
                let end = cidx.unwrap_or(rest.len());
                Parameters::parse(&rest[m + 1..end], Section::Metadata, s)?
            }
            None => Parameters::new(),
        };
        let config = match cidx {
            Some(c) => Parameters::parse(&rest[c + 1..], Section::Config, s)?,
            None => Parameters::new(),
        };
        let locator = Locator {
            protocol: protocol.to_owned(),
            address: address.to_owned(),
            metadata,
        };
        let len = locator.to_string().len();
        if len > MAX_LOCATOR_LEN {
            return Err(EndpointError::TooLong {
                input: input(),
                len,
            });
        }
        Ok(Endpoint { locator, config })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_sorted_and_round_trip() {
        let e: Endpoint = "tcp/127.0.0.1:7447?b=2;a=1#so_sndbuf=65536;so_rcvbuf=1"
            .parse()
            .expect("valid");
        assert_eq!(
            e.to_string(),
            "tcp/127.0.0.1:7447?a=1;b=2#so_rcvbuf=1;so_sndbuf=65536"
        );
        assert_eq!(e.metadata().get("a"), Some("1"));
        assert_eq!(e.config().get("so_sndbuf"), Some("65536"));
        assert_eq!(e.config().get("nope"), None);
        let again: Endpoint = e.to_string().parse().expect("valid");
        assert_eq!(again, e);
    }

    #[test]
    fn empty_chunks_are_skipped() {
        let e: Endpoint = "udp/1.2.3.4:5?a=1;;b=;".parse().expect("valid");
        assert_eq!(e.to_string(), "udp/1.2.3.4:5?a=1;b=");
        assert_eq!(e.metadata().get("b"), Some(""));
    }

    #[test]
    fn config_values_may_hold_equal_signs_but_metadata_values_may_not() {
        let e: Endpoint = "tls/localhost:7447#root_ca_certificate_base64=LS0tLQ=="
            .parse()
            .expect("valid");
        assert_eq!(
            e.config().get("root_ca_certificate_base64"),
            Some("LS0tLQ==")
        );
        assert_eq!(e.to_string().parse::<Endpoint>().expect("round trip"), e);
        let err = "tls/localhost:7447?a=b=c"
            .parse::<Endpoint>()
            .expect_err("metadata");
        assert!(err.to_string().contains("more than one `=`"), "{err}");
    }

    #[test]
    fn too_long_locator_is_rejected() {
        let s = format!("tcp/{}:1", "a".repeat(300));
        let err = s.parse::<Endpoint>().expect_err("too long");
        assert!(err.to_string().contains("at most 255"), "{err}");
    }
}
