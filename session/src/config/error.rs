//! Configuration errors: what was wrong, and at which key.

use std::path::PathBuf;

use plexus_link::EndpointError;
use plexus_transport::wire::ZenohIdParseError;

/// Why a configuration could not be read or a key could not be set.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text is not valid JSON5.
    #[error("{}", fmt_syntax(.origin, .location, .message))]
    Syntax {
        /// What was being parsed: `configuration` or the key whose value was parsed.
        origin: String,
        /// One-based line and column of the error, when known.
        location: Option<(usize, usize)>,
        /// The parser's message.
        message: String,
    },
    /// A key that Plexus does not know.
    #[error("unknown configuration key {path:?}{}", fmt_suggestion(.suggestion))]
    UnknownKey {
        /// The full `/`-separated path of the key.
        path: String,
        /// A known key at the same level with a similar name.
        suggestion: Option<&'static str>,
    },
    /// A value of the wrong type or out of range.
    #[error("{path:?}: expected {expected}, got {got}")]
    InvalidValue {
        /// The key path (with `[index]` for a list item).
        path: String,
        /// What the key accepts.
        expected: &'static str,
        /// The value that was given.
        got: String,
    },
    /// An endpoint string that does not parse.
    #[error("{path:?}[{index}]: {source}")]
    InvalidEndpoint {
        /// The key path of the list.
        path: String,
        /// Zero-based position in the list.
        index: usize,
        /// Why the endpoint is invalid.
        source: EndpointError,
    },
    /// An `id` that is not a valid zenoh id.
    #[error("{path:?}: {source}")]
    InvalidId {
        /// The key path (`id`).
        path: String,
        /// Why the id is invalid.
        source: ZenohIdParseError,
    },
    /// Two keys for the same setting were given different values.
    #[error(
        "{first:?} ({first_value}) and {second:?} ({second_value}) set the same setting to different values"
    )]
    Conflict {
        /// The key seen first.
        first: String,
        /// Its value.
        first_value: String,
        /// The key seen second.
        second: String,
        /// Its value.
        second_value: String,
    },
    /// The configuration file could not be read.
    #[error("cannot read configuration file {}: {source}", .file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A setting that cannot be used as given (e.g. a key without its companion, an
    /// unreadable dictionary file).
    #[error("{path:?}: {reason}")]
    Invalid {
        /// The key (or section) path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The configuration file holds an invalid configuration.
    #[error("configuration file {}: {source}", .file.display())]
    File {
        /// The file.
        file: PathBuf,
        /// What is wrong with its content.
        source: Box<ConfigError>,
    },
}

fn fmt_syntax(origin: &str, location: &Option<(usize, usize)>, message: &str) -> String {
    match location {
        Some((line, column)) => {
            format!("{origin}: invalid JSON5 at line {line}, column {column}: {message}")
        }
        None => format!("{origin}: invalid JSON5: {message}"),
    }
}

fn fmt_suggestion(suggestion: &Option<&'static str>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean {s:?}?)"),
        None => String::new(),
    }
}

impl ConfigError {
    /// The key path the error is about, if it is about one.
    pub fn path(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownKey { path, .. }
            | ConfigError::InvalidValue { path, .. }
            | ConfigError::InvalidEndpoint { path, .. }
            | ConfigError::InvalidId { path, .. }
            | ConfigError::Invalid { path, .. } => Some(path),
            ConfigError::Conflict { second, .. } => Some(second),
            ConfigError::File { source, .. } => source.path(),
            ConfigError::Syntax { .. } | ConfigError::Io { .. } => None,
        }
    }
}
