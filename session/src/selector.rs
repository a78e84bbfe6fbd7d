//! Selectors: a key expression with parameters, `key[?parameters]`, what a query asks
//! for ([`crate::Session::get`]) and what a queryable receives
//! ([`crate::Query::selector`]).

use std::fmt;
use std::str::FromStr;

use crate::key_expr::{KeyExprError, OwnedKeyExpr};

/// A key expression and the parameters after its `?` (possibly empty).
///
/// From a string, the key part is canonised (`a/**/**` becomes `a/**`) and the
/// parameters are kept as they are.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Selector {
    key_expr: OwnedKeyExpr,
    parameters: String,
}

impl Selector {
    /// A selector of `key_expr` with `parameters` (without the `?`).
    pub fn new(key_expr: OwnedKeyExpr, parameters: impl Into<String>) -> Self {
        Selector {
            key_expr,
            parameters: parameters.into(),
        }
    }

    /// The key expression.
    pub fn key_expr(&self) -> &OwnedKeyExpr {
        &self.key_expr
    }

    /// The parameters (after `?`), possibly empty.
    pub fn parameters(&self) -> &str {
        &self.parameters
    }

    /// The key expression and the parameters.
    pub fn into_parts(self) -> (OwnedKeyExpr, String) {
        (self.key_expr, self.parameters)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.parameters.is_empty() {
            write!(f, "{}", self.key_expr)
        } else {
            write!(f, "{}?{}", self.key_expr, self.parameters)
        }
    }
}

impl FromStr for Selector {
    type Err = KeyExprError;

    fn from_str(s: &str) -> Result<Self, KeyExprError> {
        let (key, parameters) = s.split_once('?').unwrap_or((s, ""));
        Ok(Selector::new(
            OwnedKeyExpr::autocanonize_str(key)?,
            parameters,
        ))
    }
}

impl TryFrom<&str> for Selector {
    type Error = KeyExprError;

    fn try_from(s: &str) -> Result<Self, KeyExprError> {
        s.parse()
    }
}

impl TryFrom<&String> for Selector {
    type Error = KeyExprError;

    fn try_from(s: &String) -> Result<Self, KeyExprError> {
        s.parse()
    }
}

impl TryFrom<String> for Selector {
    type Error = KeyExprError;

    fn try_from(s: String) -> Result<Self, KeyExprError> {
        s.parse()
    }
}

impl From<OwnedKeyExpr> for Selector {
    fn from(key_expr: OwnedKeyExpr) -> Self {
        Selector::new(key_expr, "")
    }
}

impl From<&OwnedKeyExpr> for Selector {
    fn from(key_expr: &OwnedKeyExpr) -> Self {
        Selector::new(key_expr.clone(), "")
    }
}

impl From<&Selector> for Selector {
    fn from(s: &Selector) -> Self {
        s.clone()
    }
}

impl PartialEq<str> for Selector {
    fn eq(&self, other: &str) -> bool {
        let (key, parameters) = other.split_once('?').unwrap_or((other, ""));
        self.key_expr.as_str() == key && self.parameters == parameters
    }
}

impl PartialEq<&str> for Selector {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

#[cfg(test)]
mod tests {
    use super::Selector;

    #[test]
    fn parses_canonises_and_prints_back() {
        let s: Selector = "a/**/**?x=1;y".parse().expect("selector");
        assert_eq!(s.key_expr().as_str(), "a/**");
        assert_eq!(s.parameters(), "x=1;y");
        assert_eq!(s.to_string(), "a/**?x=1;y");
        assert_eq!(s, "a/**?x=1;y");
        let bare = Selector::try_from("a/b").expect("selector");
        assert_eq!((bare.to_string().as_str(), bare.parameters()), ("a/b", ""));
        assert!(
            Selector::try_from("a//b?x").is_err(),
            "the key part is checked"
        );
    }
}
