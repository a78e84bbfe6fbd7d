//! Hand-written edge cases for key expressions.

use super::{KeyExprError, KeyExprRef, OwnedKeyExpr, canonize};

fn ke(s: &str) -> KeyExprRef<'_> {
    match KeyExprRef::new(s) {
        Ok(k) => k,
        Err(e) => panic!("test key `{s}` should be valid: {e}"),
    }
}

fn inter(a: &str, b: &str) -> bool {
    let r = ke(a).intersects(ke(b));
    assert_eq!(
        r,
        ke(b).intersects(ke(a)),
        "intersects is not symmetric for {a} / {b}"
    );
    r
}

fn incl(a: &str, b: &str) -> bool {
    ke(a).includes(ke(b))
}

fn err(s: &str) -> String {
    match KeyExprRef::new(s) {
        Ok(_) => panic!("`{s}` should be rejected"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn double_wild_matches_zero_chunks() {
    assert!(inter("a/**", "a"));
    assert!(incl("a/**", "a"));
    assert!(!incl("a", "a/**"));
    assert!(inter("a/**/b", "a/b"));
    assert!(incl("a/**/b", "a/b"));
    assert!(incl("a/**/b", "a/x/y/b"));
    assert!(!incl("a/**/b", "a/x/y/c"));
}

#[test]
fn single_wild_matches_exactly_one_chunk() {
    assert!(!inter("a/*", "a"));
    assert!(inter("a/*", "a/b"));
    assert!(!inter("a/*", "a/b/c"));
    assert!(inter("*/b", "a/*"));
    assert!(incl("*", "a"));
    assert!(!incl("*", "**"));
    assert!(incl("**", "*"));
}

#[test]
fn sub_wild_matches_within_a_chunk() {
    assert!(inter("a$*", "a"));
    assert!(inter("a$*", "ab"));
    assert!(!inter("a$*", "ba"));
    assert!(inter("a$*", "$*b"));
    assert!(!inter("a$*b", "a$*c"));
    assert!(incl("a$*", "a$*b"));
    assert!(!incl("a$*b", "a$*"));
    assert!(incl("$*a$*", "xay"));
    assert!(!incl("$*ab$*", "$*a$*b$*"));
}

#[test]
fn verbatim_chunks_only_match_themselves() {
    assert!(inter("@a", "@a/**"));
    assert!(incl("@a/**", "@a"));
    assert!(!inter("@a/**", "@a/@b"));
    assert!(!inter("*", "@a"));
    assert!(!inter("**", "@a"));
    assert!(!inter("a$*", "@a"));
    assert!(!incl("**", "@a"));
    assert!(!inter("**", "x/@a/y"));
    assert!(inter("**/@a/**", "x/@a/y"));
    assert!(!inter("@a", "@b"));
    assert!(inter("@", "@"));
    assert!(!inter("@", "*"));
    assert!(!inter("@$*", "@x"));
    assert!(inter("@$*", "@$*"));
}

#[test]
fn many_double_wilds_stay_fast() {
    let pattern = "**/a/**/a/**/a/**/a/**/a/**/a/**/a/**/a/**/a/**/a/**/b";
    let subject = ["a"; 64].join("/");
    assert!(!inter(pattern, &subject));
    assert!(!incl(pattern, &subject));
    let both = "**/a/**/a/**/a/**/a/**/a/**/a/**/c";
    assert!(!inter(pattern, both));
}

#[test]
fn literal_keys() {
    assert!(inter("a/b", "a/b"));
    assert!(!inter("a/b", "a/c"));
    assert!(incl("a/b", "a/b"));
    assert!(!incl("a/b", "a/b/c"));
}

#[test]
fn errors_name_the_offending_chunk() {
    assert_eq!(KeyExprRef::new(""), Err(KeyExprError::Empty));
    assert!(err("a//b").contains("chunk #1 is empty"));
    assert!(err("/a").contains("chunk #0 is empty"));
    assert!(err("a/").contains("chunk #1 is empty"));
    let e = err("a/b#c/d");
    assert!(e.contains("chunk `b#c`") && e.contains("`#`"), "{e}");
    let e = err("x/b?");
    assert!(e.contains("chunk `b?`") && e.contains("`?`"), "{e}");
    let e = err("a/x$y");
    assert!(
        e.contains("chunk `x$y`") && e.contains("not part of `$*`"),
        "{e}"
    );
    let e = err("a/b*");
    assert!(e.contains("chunk `b*`") && e.contains("`*`"), "{e}");
    let e = err("a$*$*");
    assert!(e.contains("chunk `a$*$*`"), "{e}");
    let e = err("k/$*");
    assert!(e.contains("chunk `$*`") && e.contains("written `*`"), "{e}");
    let e = err("a/**/*");
    assert!(e.contains("`**/*` must be written `*/**`"), "{e}");
    let e = err("a/**/**");
    assert!(e.contains("`**/**` must be written `**`"), "{e}");
}

#[test]
fn canonization() {
    let canon = |s: &str| OwnedKeyExpr::autocanonize(s.to_owned()).map(|k| k.to_string());
    assert_eq!(canon("a/**/*").as_deref(), Ok("a/*/**"));
    assert_eq!(canon("**/**/a").as_deref(), Ok("**/a"));
    assert_eq!(canon("a/$*/b").as_deref(), Ok("a/*/b"));
    assert_eq!(canon("x/a$*$*/y").as_deref(), Ok("x/a$*/y"));
    assert_eq!(canon("$*$*$*b").as_deref(), Ok("$*b"));
    // Zenoh 1.10.2 panics on these two; Plexus collapses the repetition.
    assert_eq!(canon("a$*$*").as_deref(), Ok("a$*"));
    assert_eq!(canon("a$*$*b").as_deref(), Ok("a$*b"));
    // Zenoh rejects three `$*` in a row inside a chunk; so does Plexus.
    assert!(canon("a$*$*$*b").is_err());
    assert_eq!(canonize("a/"), "a/");
}

#[test]
fn join_canonizes() {
    let a = ke("a/**");
    assert_eq!(a.join("*").map(|k| k.to_string()).as_deref(), Ok("a/*/**"));
    assert!(a.join("").is_err());
    assert!(a.join("b#").is_err());
}

#[test]
fn owned_and_borrowed_agree() {
    let owned: OwnedKeyExpr = match "a/*/c".parse() {
        Ok(k) => k,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(owned, ke("a/*/c"));
    assert!(owned.is_wild());
    assert!(!ke("a/b").is_wild());
    assert_eq!(owned.chunks().collect::<Vec<_>>(), ["a", "*", "c"]);
    assert!(owned.intersects(ke("a/b/c")));
    assert!(owned.includes(&owned.clone()));
    assert_eq!(format!("{owned}"), "a/*/c");
    assert_eq!(format!("{owned:?}"), "OwnedKeyExpr(\"a/*/c\")");
    assert!(OwnedKeyExpr::try_from(String::from("a//b")).is_err());
}
