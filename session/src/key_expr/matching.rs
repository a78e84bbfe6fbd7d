//! Set relations (intersection and inclusion) between canonical key expressions.
//!
//! Both relations work directly on `&str` slices and never allocate.
//!
//! # Algorithm
//!
//! A verbatim chunk (one starting with `@`) is only ever matched by an
//! identical chunk: `*`, `**` and `$*` never match it. Hence, for either
//! relation to hold, both expressions must contain the same sequence of
//! verbatim chunks, and the pieces between consecutive verbatim chunks can be
//! related independently. Each piece is free of verbatim chunks, so inside a
//! piece `**` matches any sequence of chunks.
//!
//! * `includes(l, r)`: a glob match of `l` against the chunks of `r`, where
//!   `**` in `l` absorbs any chunks of `r` (including `**`) and any other chunk
//!   of `l` must include the facing chunk of `r`. It uses the classic iterative
//!   "backtrack to the last `**`" matcher: `O(n·m)` chunk comparisons for `n`
//!   and `m` chunks, no recursion.
//! * `intersects(a, b)`: if only one piece contains `**`, the same matcher is
//!   used with chunk intersection as the predicate (`O(n·m)`). If both contain
//!   `**`, they intersect exactly when their chunks before the first `**`
//!   pairwise intersect and their chunks after the last `**` pairwise
//!   intersect (aligned from the end), which is `O(n + m)`.
//!
//! Chunk-level comparisons with `$*` are linear in the chunk lengths, except
//! for the in-order search of middle pieces, which is `O(len²)` at worst.
//! There is therefore no exponential case, e.g. for `**/a/**/a/**/a`.

const DOUBLE_WILD: &str = "**";
const SINGLE_WILD: &str = "*";
const SUB_WILD: &str = "$*";

/// Returns `true` if some key belongs to both `a` and `b`.
pub(crate) fn intersects(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    if !a.contains('*') && !b.contains('*') {
        return false;
    }
    across_verbatim(a, b, pieces_intersect)
}

/// Returns `true` if every key in `right` also belongs to `left`.
pub(crate) fn includes(left: &str, right: &str) -> bool {
    if left == right {
        return true;
    }
    if !left.contains('*') {
        return false;
    }
    across_verbatim(left, right, |l, r| glob(l, r, chunk_includes))
}

fn is_verbatim(chunk: &str) -> bool {
    chunk.starts_with('@')
}

/// Splits `expr` into the chunks before its first verbatim chunk, that
/// verbatim chunk, and the chunks after it.
fn split_at_verbatim(expr: &str) -> (&str, Option<&str>, &str) {
    if !expr.contains('@') {
        return (expr, None, "");
    }
    let mut start = 0;
    while start < expr.len() {
        let end = expr[start..].find('/').map_or(expr.len(), |i| start + i);
        let chunk = &expr[start..end];
        if is_verbatim(chunk) {
            let before = if start == 0 { "" } else { &expr[..start - 1] };
            let after = if end == expr.len() {
                ""
            } else {
                &expr[end + 1..]
            };
            return (before, Some(chunk), after);
        }
        start = end + 1;
    }
    (expr, None, "")
}

/// Applies `relate` to corresponding verbatim-free pieces of `a` and `b`,
/// requiring both to have the same verbatim chunks.
fn across_verbatim(mut a: &str, mut b: &str, relate: impl Fn(&str, &str) -> bool) -> bool {
    loop {
        let (piece_a, verbatim_a, rest_a) = split_at_verbatim(a);
        let (piece_b, verbatim_b, rest_b) = split_at_verbatim(b);
        if verbatim_a != verbatim_b || !relate(piece_a, piece_b) {
            return false;
        }
        if verbatim_a.is_none() {
            return true;
        }
        a = rest_a;
        b = rest_b;
    }
}

/// Splits off the first chunk of a (possibly empty) chunk sequence.
fn first_chunk(s: &str) -> Option<(&str, &str)> {
    if s.is_empty() {
        None
    } else {
        Some(s.split_once('/').unwrap_or((s, "")))
    }
}

fn has_double_wild(s: &str) -> bool {
    s.split('/').any(|chunk| chunk == DOUBLE_WILD)
}

/// Matches the chunk sequence `pattern` (whose `**` absorb any chunks)
/// against `subject`, comparing other chunks with `matches`.
fn glob(pattern: &str, subject: &str, matches: impl Fn(&str, &str) -> bool) -> bool {
    let mut p = pattern;
    let mut s = subject;
    // Pattern after the most recent `**`, and where that `**` stops absorbing.
    let mut resume: Option<(&str, &str)> = None;
    loop {
        match first_chunk(p) {
            Some((DOUBLE_WILD, p_rest)) => {
                if p_rest.is_empty() {
                    return true;
                }
                resume = Some((p_rest, s));
                p = p_rest;
                continue;
            }
            Some((p_chunk, p_rest)) => {
                // (A guarded match rather than a let-chain keeps Rust 1.85 support.)
                match first_chunk(s) {
                    Some((s_chunk, s_rest)) if matches(p_chunk, s_chunk) => {
                        p = p_rest;
                        s = s_rest;
                        continue;
                    }
                    _ => {}
                }
            }
            None if s.is_empty() => return true,
            None => {}
        }
        // Mismatch: let the last `**` absorb one more chunk, if any.
        let Some((resume_p, resume_s)) = resume else {
            return false;
        };
        let Some((_, next_s)) = first_chunk(resume_s) else {
            return false;
        };
        resume = Some((resume_p, next_s));
        p = resume_p;
        s = next_s;
    }
}

/// Intersection of two verbatim-free chunk sequences.
fn pieces_intersect(a: &str, b: &str) -> bool {
    match (has_double_wild(a), has_double_wild(b)) {
        (true, true) => ends_intersect(a, b),
        (true, false) => glob(a, b, chunk_intersects),
        (false, _) => glob(b, a, chunk_intersects),
    }
}

/// For two sequences that both contain `**`: their chunks before the first
/// `**`, and after the last `**`, must pairwise intersect.
fn ends_intersect(a: &str, b: &str) -> bool {
    let aligned = |mut x: std::str::Split<'_, char>, mut y: std::str::Split<'_, char>, back| loop {
        let (cx, cy) = if back {
            (x.next_back(), y.next_back())
        } else {
            (x.next(), y.next())
        };
        match (cx, cy) {
            (Some(cx), Some(cy)) if cx != DOUBLE_WILD && cy != DOUBLE_WILD => {
                if !chunk_intersects(cx, cy) {
                    return false;
                }
            }
            _ => return true,
        }
    };
    aligned(a.split('/'), b.split('/'), false) && aligned(a.split('/'), b.split('/'), true)
}

/// Whether two single chunks (neither being `**`) have a common instance.
fn chunk_intersects(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    if is_verbatim(a) || is_verbatim(b) {
        return false;
    }
    if a == SINGLE_WILD || b == SINGLE_WILD {
        return true;
    }
    match (a.contains('$'), b.contains('$')) {
        (false, false) => false,
        (true, false) => sub_wild_matches(a, b),
        (false, true) => sub_wild_matches(b, a),
        (true, true) => sub_wild_patterns_intersect(a, b),
    }
}

/// Whether chunk `left` includes chunk `right` (`left` is not `**`).
fn chunk_includes(left: &str, right: &str) -> bool {
    if left == right {
        return true;
    }
    if right == DOUBLE_WILD || is_verbatim(left) || is_verbatim(right) {
        return false;
    }
    if left == SINGLE_WILD {
        return true;
    }
    // `right` is compared byte for byte: its own `$*` can only be covered by
    // a `$*` of `left`, which this achieves since `left`'s literal parts
    // contain neither `$` nor `*`.
    left.contains('$') && sub_wild_matches(left, right)
}

/// Whether `text` (taken literally) matches the chunk pattern `pattern`,
/// in which `$*` stands for any substring.
fn sub_wild_matches(pattern: &str, text: &str) -> bool {
    let Some((head, tail)) = pattern.split_once(SUB_WILD) else {
        return pattern == text;
    };
    let (middle, last) = match tail.rsplit_once(SUB_WILD) {
        Some((middle, last)) => (Some(middle), last),
        None => (None, tail),
    };
    let Some(rest) = text.strip_prefix(head) else {
        return false;
    };
    let Some(mut rest) = rest.strip_suffix(last) else {
        return false;
    };
    if let Some(middle) = middle {
        for needle in middle.split(SUB_WILD) {
            match rest.find(needle) {
                Some(at) => rest = &rest[at + needle.len()..],
                None => return false,
            }
        }
    }
    true
}

/// Whether two chunk patterns that both contain `$*` have a common instance:
/// their literal heads must be prefix-compatible and their literal tails
/// suffix-compatible (the parts in between can always be satisfied).
fn sub_wild_patterns_intersect(a: &str, b: &str) -> bool {
    let (Some((head_a, _)), Some((head_b, _))) = (a.split_once(SUB_WILD), b.split_once(SUB_WILD))
    else {
        return false;
    };
    let (Some((_, tail_a)), Some((_, tail_b))) = (a.rsplit_once(SUB_WILD), b.rsplit_once(SUB_WILD))
    else {
        return false;
    };
    (head_a.starts_with(head_b) || head_b.starts_with(head_a))
        && (tail_a.ends_with(tail_b) || tail_b.ends_with(tail_a))
}
