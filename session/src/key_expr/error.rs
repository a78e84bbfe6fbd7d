//! The error returned when a string is not a valid canonical key expression.

use thiserror::Error;

/// Why a string was rejected as a key expression.
///
/// Every variant that concerns a particular chunk names it, together with the
/// whole expression, in its `Display` output.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Error)]
#[non_exhaustive]
pub enum KeyExprError {
    /// The string is empty.
    #[error("invalid key expression: a key expression may not be empty")]
    Empty,
    /// A chunk is empty (leading `/`, trailing `/` or `//`).
    #[error(
        "invalid key expression `{expr}`: chunk #{index} is empty \
         (leading `/`, trailing `/` and `//` are forbidden)"
    )]
    EmptyChunk {
        /// The rejected expression.
        expr: String,
        /// Zero-based position of the empty chunk.
        index: usize,
    },
    /// A chunk contains `#` or `?`.
    #[error(
        "invalid key expression `{expr}`: chunk `{chunk}` contains the forbidden character `{character}`"
    )]
    ForbiddenCharacter {
        /// The rejected expression.
        expr: String,
        /// The offending chunk.
        chunk: String,
        /// The forbidden character found.
        character: char,
    },
    /// A `$` that is not the start of `$*`.
    #[error("invalid key expression `{expr}`: chunk `{chunk}` has a `$` that is not part of `$*`")]
    UnboundDollar {
        /// The rejected expression.
        expr: String,
        /// The offending chunk.
        chunk: String,
    },
    /// A `$*` directly followed by `$` (for example `$*$*`), which is not canonical.
    #[error(
        "invalid key expression `{expr}`: chunk `{chunk}` has a `$` right after `$*` \
         (repeated `$*` must be written once)"
    )]
    DollarAfterDollarStar {
        /// The rejected expression.
        expr: String,
        /// The offending chunk.
        chunk: String,
    },
    /// A chunk consisting only of `$*`, which must be written `*`.
    #[error("invalid key expression `{expr}`: chunk `{chunk}` must be written `*` to be canonical")]
    LoneDollarStar {
        /// The rejected expression.
        expr: String,
        /// The offending chunk.
        chunk: String,
    },
    /// A `*` that is neither a whole `*`/`**` chunk nor part of `$*`.
    #[error(
        "invalid key expression `{expr}`: chunk `{chunk}` misuses `*` \
         (only `*`, `**` or `$*` are allowed)"
    )]
    StarInChunk {
        /// The rejected expression.
        expr: String,
        /// The offending chunk.
        chunk: String,
    },
    /// A `*` chunk right after `**`; the canonical form is `*/**`.
    #[error(
        "invalid key expression `{expr}`: chunk `*` at #{index} follows `**` \
         (`**/*` must be written `*/**`)"
    )]
    StarAfterDoubleStar {
        /// The rejected expression.
        expr: String,
        /// Zero-based position of the `*` chunk.
        index: usize,
    },
    /// A `**` chunk right after `**`; the canonical form is a single `**`.
    #[error(
        "invalid key expression `{expr}`: chunk `**` at #{index} follows `**` \
         (`**/**` must be written `**`)"
    )]
    DoubleStarAfterDoubleStar {
        /// The rejected expression.
        expr: String,
        /// Zero-based position of the second `**` chunk.
        index: usize,
    },
}
