//! Key expressions: validated, canonical, `/`-separated sets of keys.
//!
//! The semantics are those of Eclipse Zenoh 1.10.2:
//!
//! * a key expression is a non-empty list of non-empty chunks separated by `/`;
//! * `*` matches exactly one chunk, `**` matches zero or more chunks;
//! * `$*` inside a chunk matches any (possibly empty) substring of that chunk;
//! * a chunk starting with `@` is *verbatim*: it is only matched by an
//!   identical chunk, never by `*`, `**` or `$*`;
//! * `#` and `?` are forbidden, and only canonical forms are valid (for
//!   instance `**/*` must be written `*/**` and `$*$*` must be written `$*`).
//!
//! [`KeyExprRef`] borrows a validated `&str`; [`OwnedKeyExpr`] owns one
//! behind an `Arc<str>` so that cloning is cheap.

mod canon;
mod error;
mod matching;
mod validate;

#[cfg(test)]
mod tests;

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;
use std::sync::Arc;

pub use error::KeyExprError;

/// Rewrites `expr` the way Zenoh's canonizer does, without validating it.
///
/// The result is the canonical form when `expr` denotes a valid key
/// expression; use [`OwnedKeyExpr::autocanonize`] to also validate it.
pub fn canonize(expr: &str) -> String {
    canon::canonize(expr)
}

/// A borrowed, validated, canonical key expression.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyExprRef<'a>(&'a str);

/// An owned, validated, canonical key expression; cloning it is cheap.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OwnedKeyExpr(Arc<str>);

/// Iterator over the `/`-separated chunks of a key expression.
#[derive(Debug, Clone)]
pub struct Chunks<'a>(std::str::Split<'a, char>);

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        self.0.next()
    }
}

impl DoubleEndedIterator for Chunks<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back()
    }
}

impl<'a> KeyExprRef<'a> {
    /// Validates `expr` as a canonical key expression, without allocating on success.
    pub fn new(expr: &'a str) -> Result<Self, KeyExprError> {
        validate::validate(expr)?;
        Ok(Self(expr))
    }

    /// Returns the underlying string.
    pub fn as_str(&self) -> &'a str {
        self.0
    }

    /// Copies this key expression into an [`OwnedKeyExpr`].
    pub fn into_owned(self) -> OwnedKeyExpr {
        OwnedKeyExpr(Arc::from(self.0))
    }

    /// Returns `true` if some key belongs to both `self` and `other`.
    pub fn intersects<'b>(&self, other: impl Into<KeyExprRef<'b>>) -> bool {
        matching::intersects(self.0, other.into().0)
    }

    /// Returns `true` if every key matched by `other` is also matched by `self`.
    pub fn includes<'b>(&self, other: impl Into<KeyExprRef<'b>>) -> bool {
        matching::includes(self.0, other.into().0)
    }

    /// Joins `self` and `other` with a `/` and canonizes the result, like Zenoh's `join`.
    pub fn join(&self, other: &str) -> Result<OwnedKeyExpr, KeyExprError> {
        OwnedKeyExpr::autocanonize(format!("{}/{}", self.0, other))
    }

    /// Returns `true` if the expression contains a wildcard (`*`, `**` or `$*`).
    pub fn is_wild(&self) -> bool {
        self.0.contains('*')
    }

    /// Iterates over the `/`-separated chunks.
    pub fn chunks(&self) -> Chunks<'a> {
        Chunks(self.0.split('/'))
    }
}

impl OwnedKeyExpr {
    /// Validates `expr` as a canonical key expression and takes ownership of it.
    pub fn new(expr: impl Into<String>) -> Result<Self, KeyExprError> {
        let expr = expr.into();
        validate::validate(&expr)?;
        Ok(Self(Arc::from(expr)))
    }

    /// Canonizes `expr`, then validates it (same result as Zenoh's `OwnedKeyExpr::autocanonize`).
    pub fn autocanonize(expr: String) -> Result<Self, KeyExprError> {
        Self::autocanonize_str(&expr)
    }

    /// Canonizes the borrowed `expr` into a new owned key expression, then validates it.
    pub fn autocanonize_str(expr: &str) -> Result<Self, KeyExprError> {
        let canonical = canon::canonize(expr);
        validate::validate(&canonical)?;
        Ok(Self(Arc::from(canonical)))
    }

    /// Returns the underlying string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Borrows this key expression as a [`KeyExprRef`].
    pub fn as_key_expr(&self) -> KeyExprRef<'_> {
        KeyExprRef(&self.0)
    }

    /// Returns `true` if some key belongs to both `self` and `other`.
    pub fn intersects<'b>(&self, other: impl Into<KeyExprRef<'b>>) -> bool {
        self.as_key_expr().intersects(other)
    }

    /// Returns `true` if every key matched by `other` is also matched by `self`.
    pub fn includes<'b>(&self, other: impl Into<KeyExprRef<'b>>) -> bool {
        self.as_key_expr().includes(other)
    }

    /// Joins `self` and `other` with a `/` and canonizes the result, like Zenoh's `join`.
    pub fn join(&self, other: &str) -> Result<OwnedKeyExpr, KeyExprError> {
        self.as_key_expr().join(other)
    }

    /// Returns `true` if the expression contains a wildcard (`*`, `**` or `$*`).
    pub fn is_wild(&self) -> bool {
        self.as_key_expr().is_wild()
    }

    /// Iterates over the `/`-separated chunks.
    pub fn chunks(&self) -> Chunks<'_> {
        self.as_key_expr().chunks()
    }
}

impl<'a> From<&'a OwnedKeyExpr> for KeyExprRef<'a> {
    fn from(value: &'a OwnedKeyExpr) -> Self {
        value.as_key_expr()
    }
}

impl<'a> From<&KeyExprRef<'a>> for KeyExprRef<'a> {
    fn from(value: &KeyExprRef<'a>) -> Self {
        *value
    }
}

impl From<KeyExprRef<'_>> for OwnedKeyExpr {
    fn from(value: KeyExprRef<'_>) -> Self {
        value.into_owned()
    }
}

impl<'a> TryFrom<&'a str> for KeyExprRef<'a> {
    type Error = KeyExprError;

    fn try_from(value: &'a str) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl TryFrom<&str> for OwnedKeyExpr {
    type Error = KeyExprError;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl TryFrom<String> for OwnedKeyExpr {
    type Error = KeyExprError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl TryFrom<&String> for OwnedKeyExpr {
    type Error = KeyExprError;

    fn try_from(value: &String) -> Result<Self, Self::Error> {
        Self::new(value.as_str())
    }
}

impl FromStr for OwnedKeyExpr {
    type Err = KeyExprError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl Deref for KeyExprRef<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        self.0
    }
}

impl Deref for OwnedKeyExpr {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for KeyExprRef<'_> {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl AsRef<str> for OwnedKeyExpr {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for OwnedKeyExpr {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyExprRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Display for OwnedKeyExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyExprRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyExprRef({:?})", self.0)
    }
}

impl fmt::Debug for OwnedKeyExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OwnedKeyExpr({:?})", &*self.0)
    }
}

impl PartialEq<str> for KeyExprRef<'_> {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for KeyExprRef<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<str> for OwnedKeyExpr {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for OwnedKeyExpr {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<KeyExprRef<'_>> for OwnedKeyExpr {
    fn eq(&self, other: &KeyExprRef<'_>) -> bool {
        &*self.0 == other.0
    }
}

impl PartialEq<OwnedKeyExpr> for KeyExprRef<'_> {
    fn eq(&self, other: &OwnedKeyExpr) -> bool {
        self.0 == &*other.0
    }
}
