//! RTT-derived link weights.

use super::sim::*;
use super::*;

// RTT-derived weights on a square: a - b - d (path 1) and a - c - d (path 2).

/// A deterministic jittery RTT: `base_us` ± `jitter_us`, plus a 20 ms queueing spike on
/// about one sample in 50, from an xorshift generator.
struct Jitter(u64);

impl Jitter {
    fn next(&mut self, base_us: f64, jitter_us: f64) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let u = (self.0 % 2001) as f64 / 1000.0 - 1.0;
        let spike = if (self.0 >> 20).is_multiple_of(50) {
            20_000.0
        } else {
            0.0
        };
        Duration::from_secs_f64((base_us + u * jitter_us + spike).max(1.0) / 1e6)
    }
}

/// Runs `rounds` rounds of RTT samples (one per link per 250 ms, each router weighing its
/// own links); returns the next hop a uses towards d after each round, and the weights
/// a announces at the end.
fn rtt_square(
    rounds: usize,
    rtt_of: impl Fn(usize, &str) -> (f64, f64),
) -> (Vec<ZenohId>, Vec<u16>) {
    let z = ids(4);
    let (a, b, c, d) = (z[0], z[1], z[2], z[3]);
    let mut m = Mesh::new(&z, 11);
    for (x, y) in [(a, b), (b, d), (a, c), (c, d)] {
        m.connect(x, y);
    }
    m.settle();
    let mut weighers: BTreeMap<ZenohId, RttWeigher> = z
        .iter()
        .map(|x| {
            (
                *x,
                RttWeigher::new(RttWeightConfig {
                    enabled: true,
                    ..Default::default()
                }),
            )
        })
        .collect();
    let links = [("ab", a, b), ("bd", b, d), ("ac", a, c), ("cd", c, d)];
    let mut jitter = Jitter(0x9e37_79b9_7f4a_7c15);
    let t0 = Instant::now();
    let mut hops = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let now = t0 + Duration::from_millis(250 * round as u64);
        for (name, x, y) in links {
            let (base, jit) = rtt_of(round, name);
            // Both ends measure the link.
            for (from, to) in [(x, y), (y, x)] {
                let rtt = jitter.next(base, jit);
                if let Some(w) = weighers.get_mut(&from).unwrap().handle_sample(to, rtt, now) {
                    m.set_weight(from, to, w);
                }
            }
        }
        m.settle();
        hops.push(m.nets[&a].next_hop(&a, &d).expect("a reaches d"));
    }
    m.check().unwrap();
    let weights = m.nets[&a]
        .node(0)
        .unwrap()
        .links
        .iter()
        .map(|(_, w)| *w)
        .collect();
    (hops, weights)
}

fn switches(hops: &[ZenohId]) -> usize {
    hops.windows(2).filter(|w| w[0] != w[1]).count()
}

#[test]
fn rtt_routes_do_not_flap_under_jitter() {
    // Both paths 2 ms per link on average, ±1.5 ms jitter on every sample and 20 ms
    // spikes, for 2000 rounds (over 8 minutes of samples): the route settles and stays.
    let (hops, weights) = rtt_square(2000, |_, _| (2000.0, 1500.0));
    assert_eq!(switches(&hops[20..]), 0);
    // The weights did follow the RTTs (about 20 units for 2 ms), not the default 100.
    assert!(weights.iter().all(|w| (10..=40).contains(w)), "{weights:?}");
    // Path 2 is 10 % slower (inside the jitter): still no flapping.
    let (hops, _) = rtt_square(2000, |_, l| {
        (
            if l == "ac" || l == "cd" {
                2200.0
            } else {
                2000.0
            },
            1500.0,
        )
    });
    assert_eq!(switches(&hops[20..]), 0);
}

#[test]
fn rtt_routes_move_to_a_clearly_faster_path() {
    let ids4 = ids(4);
    let (b, c) = (ids4[1], ids4[2]);
    // Path 1 (via b) starts slow (+5 ms per link, like the delaying proxy of the
    // integration test), path 2 fast; after 400 rounds path 1 becomes fast and path 2
    // slow; jitter ±0.5 ms throughout.
    let (hops, _) = rtt_square(800, |round, l| {
        let via_b = l == "ab" || l == "bd";
        let slow = if round < 400 { via_b } else { !via_b };
        (if slow { 10_500.0 } else { 500.0 }, 500.0)
    });
    assert_eq!(hops[20], c, "the fast path is taken");
    assert!(
        hops[20..400].iter().all(|h| *h == c),
        "no flap before the change"
    );
    let moved = hops[400..]
        .iter()
        .position(|h| *h == b)
        .expect("switches to b");
    // The EWMA needs a few samples and the hold-down 2 s (8 rounds) at most.
    assert!(moved <= 20, "switched after {moved} rounds");
    assert!(hops[400 + moved..].iter().all(|h| *h == b), "and stays");
    assert_eq!(switches(&hops[20..]), 1);
}
