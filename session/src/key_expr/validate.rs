//! Checking that a string is a canonical key expression.
//!
//! The accepted language is exactly the one accepted by Zenoh 1.10.2's
//! `keyexpr::new`, and when several problems exist the first one (scanning
//! left to right, after a trailing-`/` check) is reported, as Zenoh does.

use super::error::KeyExprError;

/// Returns `Ok(())` if `expr` is a valid canonical key expression.
pub(crate) fn validate(expr: &str) -> Result<(), KeyExprError> {
    if expr.is_empty() {
        return Err(KeyExprError::Empty);
    }
    if expr.ends_with('/') {
        return Err(KeyExprError::EmptyChunk {
            expr: expr.to_owned(),
            index: expr.split('/').count() - 1,
        });
    }
    let mut after_double_wild = false;
    for (index, chunk) in expr.split('/').enumerate() {
        validate_chunk(expr, index, chunk, after_double_wild)?;
        after_double_wild = chunk == "**";
    }
    Ok(())
}

fn validate_chunk(
    expr: &str,
    index: usize,
    chunk: &str,
    after_double_wild: bool,
) -> Result<(), KeyExprError> {
    let chunk_err =
        |make: fn(String, String) -> KeyExprError| Err(make(expr.to_owned(), chunk.to_owned()));
    if chunk.is_empty() {
        return Err(KeyExprError::EmptyChunk {
            expr: expr.to_owned(),
            index,
        });
    }
    if after_double_wild {
        if chunk == "*" {
            return Err(KeyExprError::StarAfterDoubleStar {
                expr: expr.to_owned(),
                index,
            });
        }
        if chunk == "**" {
            return Err(KeyExprError::DoubleStarAfterDoubleStar {
                expr: expr.to_owned(),
                index,
            });
        }
    }
    if chunk == "*" || chunk == "**" {
        return Ok(());
    }
    let bytes = chunk.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'*' => return chunk_err(|expr, chunk| KeyExprError::StarInChunk { expr, chunk }),
            b'$' => {
                if bytes.get(i + 1) != Some(&b'*') {
                    return chunk_err(|expr, chunk| KeyExprError::UnboundDollar { expr, chunk });
                }
                match bytes.get(i + 2) {
                    Some(b'$') => {
                        return chunk_err(|expr, chunk| KeyExprError::DollarAfterDollarStar {
                            expr,
                            chunk,
                        });
                    }
                    None if i == 0 => {
                        return chunk_err(|expr, chunk| KeyExprError::LoneDollarStar {
                            expr,
                            chunk,
                        });
                    }
                    _ => i += 2,
                }
            }
            c @ (b'#' | b'?') => {
                return Err(KeyExprError::ForbiddenCharacter {
                    expr: expr.to_owned(),
                    chunk: chunk.to_owned(),
                    character: char::from(c),
                });
            }
            _ => i += 1,
        }
    }
    Ok(())
}
