//! Rewriting a key expression into Zenoh's canonical form.
//!
//! The rewriting reproduces, byte for byte, what Zenoh 1.10.2's `canonize`
//! produces, including its oddities, so that `autocanonize` accepts and
//! rejects exactly the same strings:
//!
//! * runs of `**` chunks collapse into one `**`, and `*` (or `$*`) chunks that
//!   follow a `**` are moved in front of it (`**/*` becomes `*/**`);
//! * a chunk made only of `$*` (possibly repeated) becomes `*`;
//! * leading repetitions of `$*` in a chunk collapse into one;
//! * inside a chunk, `$*$*` collapses into `$*` only when it is not followed by
//!   a third `$*` and when the byte pair four bytes after the second `$*` is
//!   not `$*`; otherwise the output keeps a `$*$*` and is later rejected.
//!
//! One deliberate difference: when `$*$*` appears inside a chunk within the
//! last five bytes of the input (e.g. `a$*$*` or `a$*$*b`), Zenoh 1.10.2
//! panics (out-of-bounds slice). Plexus instead collapses the pair, giving
//! `a$*` and `a$*b` respectively.

/// Returns the canonical rewriting of `input` (which may still be invalid).
pub(crate) fn canonize(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut pos = 0;
    // A `**` chunk has been consumed but not yet written.
    let mut pending_double_wild = false;
    loop {
        let rest = &input[pos..];
        if rest == "**" {
            out.push_str("**");
            return out;
        }
        if rest.starts_with("**/") {
            pending_double_wild = true;
            pos += 3;
            continue;
        }
        let single_wild_len = if rest.starts_with('*') {
            1
        } else if rest.starts_with("$*") {
            2
        } else {
            0
        };
        if single_wild_len > 0 {
            let after = &rest[single_wild_len..];
            if after.is_empty() {
                out.push('*');
                if pending_double_wild {
                    out.push_str("/**");
                }
                return out;
            }
            if after.starts_with('/') {
                out.push_str("*/");
                pos += single_wild_len + 1;
                continue;
            }
        }
        if rest.starts_with("$*$*") {
            pos += 2;
            continue;
        }
        if pending_double_wild {
            out.push_str("**/");
            pending_double_wild = false;
        }
        match copy_chunk(input, pos, &mut out) {
            Some(next) => pos = next,
            None => return out,
        }
    }
}

/// Copies the chunk starting at `start` (and its trailing `/`, if any) into
/// `out`; returns where the next chunk starts, or `None` at the end of input.
fn copy_chunk(input: &str, start: usize, out: &mut String) -> Option<usize> {
    let bytes = input.as_bytes();
    let mut i = start;
    let mut copy_from = start;
    loop {
        match bytes.get(i) {
            None => {
                out.push_str(&input[copy_from..]);
                return None;
            }
            Some(b'/') => {
                out.push_str(&input[copy_from..=i]);
                return Some(i + 1);
            }
            Some(b'$') if bytes.get(i + 1..i + 4) == Some(b"*$*") => {
                // Keep the first `$*`, drop the second one; drop the two bytes
                // after it as well when a `$*` sits right behind them (Zenoh's
                // behaviour, which always leaves a non-canonical `$*$*`).
                out.push_str(&input[copy_from..i + 2]);
                let second = i + 2;
                let drop_more = bytes
                    .get(second + 4..)
                    .is_some_and(|tail| tail.starts_with(b"$*"));
                i = second + if drop_more { 4 } else { 2 };
                copy_from = i;
            }
            Some(_) => i += 1,
        }
    }
}
