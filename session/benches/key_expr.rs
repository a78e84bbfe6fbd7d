//! Benchmarks for key-expression intersection and inclusion.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use plexus::key_expr::{KeyExprRef, OwnedKeyExpr};

/// Representative (left, right) pairs: literal/literal, wild/literal, `**`-heavy.
const PAIRS: &[(&str, &str)] = &[
    ("demo/example/test", "demo/example/test"),
    ("demo/example/test", "demo/example/tesu"),
    ("a/b/c/d/e/f/g/h", "a/b/c/d/e/f/g/i"),
    ("demo/example/*", "demo/example/test"),
    ("*/example/*", "demo/example/test"),
    ("demo/*/test", "demo/example/other"),
    ("demo/ex$*/test", "demo/example/test"),
    ("demo/$*ple/t$*t", "demo/example/test"),
    ("demo/ex$*", "demo/$*ple"),
    ("demo/**", "demo/example/test"),
    ("**", "demo/example/test"),
    ("**/test", "demo/example/test"),
    ("demo/**/test", "demo/a/b/c/d/test"),
    ("demo/**/x", "demo/a/b/c/d/test"),
    ("**/a/**/a/**/a", "a/b/a/b/a/b/a/b/c"),
    ("**/a/**/b/**", "x/**/a/*/b/c"),
    ("a/**/b/**/c", "a/**/c"),
    ("@admin/**", "@admin/session/x"),
    ("**", "@admin/session/x"),
    ("@admin/*/link/**", "@admin/s1/link/tcp/$*7447"),
];

fn keys(pairs: &[(&'static str, &'static str)]) -> Vec<(KeyExprRef<'static>, KeyExprRef<'static>)> {
    pairs
        .iter()
        .map(|&(l, r)| match (KeyExprRef::new(l), KeyExprRef::new(r)) {
            (Ok(l), Ok(r)) => (l, r),
            _ => panic!("invalid bench pair {l} / {r}"),
        })
        .collect()
}

fn pairs(c: &mut Criterion) {
    let pairs = keys(PAIRS);
    let mut group = c.benchmark_group("pairs");
    group.bench_function("intersects_20", |b| {
        b.iter(|| {
            pairs
                .iter()
                .filter(|(l, r)| black_box(l).intersects(black_box(r)))
                .count()
        })
    });
    group.bench_function("includes_20", |b| {
        b.iter(|| {
            pairs
                .iter()
                .filter(|(l, r)| black_box(l).includes(black_box(r)))
                .count()
        })
    });
    for (index, (l, r)) in pairs.iter().enumerate() {
        group.bench_function(format!("intersects/{index:02} {l} ~ {r}"), |b| {
            b.iter(|| black_box(l).intersects(black_box(r)))
        });
        group.bench_function(format!("includes/{index:02} {l} > {r}"), |b| {
            b.iter(|| black_box(l).includes(black_box(r)))
        });
    }
    group.finish();
}

/// 1,000 subscriptions of various shapes.
fn subscriptions() -> Vec<OwnedKeyExpr> {
    (0..1_000)
        .map(|i| {
            let expr = match i % 8 {
                0 => format!("fleet/{i}/sensors/temp"),
                1 => format!("fleet/{i}/sensors/*"),
                2 => format!("fleet/{i}/**"),
                3 => format!("fleet/*/sensors/t$*{i}"),
                4 => format!("fleet/**/room{i}"),
                5 => format!("other/{i}/**"),
                6 => format!("**/sensors/h{i}"),
                _ => format!("@admin/{i}/**"),
            };
            match OwnedKeyExpr::new(expr) {
                Ok(k) => k,
                Err(e) => panic!("invalid subscription: {e}"),
            }
        })
        .collect()
}

fn fan_out(c: &mut Criterion) {
    let subs = subscriptions();
    let key = match KeyExprRef::new("fleet/42/sensors/temp") {
        Ok(k) => k,
        Err(e) => panic!("{e}"),
    };
    c.bench_function("match_key_against_1000_subscriptions", |b| {
        b.iter(|| subs.iter().filter(|s| s.intersects(black_box(key))).count())
    });
}

criterion_group!(benches, pairs, fan_out);
criterion_main!(benches);
