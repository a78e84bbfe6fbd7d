//! Link weights: Zenoh's edge-weight formula, static `transport_weights`, and weights
//! that follow each link's measured round-trip time (beyond Zenoh).
//!
//! Zenoh 1.10.2 (`zenoh/src/net/protocol/network.rs`, `update_edge`) weighs an edge with
//! the larger of the two weights its ends announce (an unset weight counts only if the
//! other is unset too, as 100), times `1 + 0.01 * h / u32::MAX` where `h` is the low 32
//! bits of SipHash-1-3 (zero keys, Rust's `DefaultHasher`) over both zids' 16
//! little-endian bytes, smaller zid first in Zenoh's order (the LE bytes compared
//! lexicographically). The perturbation makes equal-cost paths unequal, identically on
//! every router, so all of them build the same trees.

use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::ZenohId;

pub use plexus_transport::wire::linkstate::DEFAULT_LINK_WEIGHT;

/// Compares zids the way Zenoh does: their 16 little-endian bytes, lexicographically
/// (so the least significant byte decides first; not the numeric order).
pub fn zenoh_zid_cmp(a: &ZenohId, b: &ZenohId) -> Ordering {
    a.to_u128().to_le_bytes().cmp(&b.to_u128().to_le_bytes())
}

/// SipHash-1-3 with zero keys over `data`, as Rust's `DefaultHasher::new()` computes it
/// for one `write` call (Zenoh hashes the concatenation of two zids this way).
pub fn siphash13(data: &[u8]) -> u64 {
    #[inline]
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    // "somepseudorandomlygeneratedbytes" xored with the (zero) keys.
    let mut v = [
        0x736f_6d65_7073_6575u64,
        0x646f_7261_6e64_6f6d,
        0x6c79_6765_6e65_7261,
        0x7465_6462_7974_6573,
    ];
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let m = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        v[3] ^= m;
        round(&mut v);
        v[0] ^= m;
    }
    let rest = chunks.remainder();
    let mut last = (data.len() as u64 & 0xff) << 56;
    for (i, b) in rest.iter().enumerate() {
        last |= (*b as u64) << (8 * i);
    }
    v[3] ^= last;
    round(&mut v);
    v[0] ^= last;
    v[2] ^= 0xff;
    round(&mut v);
    round(&mut v);
    round(&mut v);
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// The weight Zenoh uses for the edge between `a` and `b`, given the weight each end
/// announces for it (0 = unset).
pub fn edge_weight(a: &ZenohId, wa: u16, b: &ZenohId, wb: u16) -> f64 {
    let (lo, hi) = if zenoh_zid_cmp(a, b) == Ordering::Greater {
        (b, a)
    } else {
        (a, b)
    };
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(&lo.to_u128().to_le_bytes());
    bytes[16..].copy_from_slice(&hi.to_u128().to_le_bytes());
    let h = siphash13(&bytes) as u32;
    let w = match (wa, wb) {
        (0, 0) => DEFAULT_LINK_WEIGHT,
        (0, w) | (w, 0) => w,
        (x, y) => x.max(y),
    };
    w as f64 * (1.0 + 0.01 * ((h as f64) / u32::MAX as f64))
}

/// A configuration value that is not what a key expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {key}: {detail}")]
pub struct WeightConfigError {
    /// The key, in Zenoh's slash notation.
    pub key: &'static str,
    /// What was wrong.
    pub detail: String,
}

const TRANSPORT_WEIGHTS: &str = "routing/router/linkstate/transport_weights";
const RTT_WEIGHTS: &str = "routing/router/linkstate/rtt_weights";

/// Static weights per neighbour: Zenoh's `routing/router/linkstate/transport_weights`, a
/// list of `{ dst_zid: "<hex>", weight: 1..=65535 }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaticWeights(pub HashMap<ZenohId, u16>);

impl StaticWeights {
    /// Parses the value of `transport_weights` (a JSON array; `null` means none).
    pub fn from_json(v: &Value) -> Result<Self, WeightConfigError> {
        let err = |detail: String| WeightConfigError {
            key: TRANSPORT_WEIGHTS,
            detail,
        };
        let items = match v {
            Value::Null => return Ok(Self::default()),
            Value::Array(a) => a,
            other => return Err(err(format!("expected a list, found {other}"))),
        };
        let mut out = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            let obj = item
                .as_object()
                .ok_or_else(|| err(format!("entry {i} is not an object: {item}")))?;
            if let Some(k) = obj.keys().find(|k| *k != "dst_zid" && *k != "weight") {
                return Err(err(format!(
                    "entry {i} has unknown key {k:?} (expected dst_zid and weight)"
                )));
            }
            let zid: ZenohId = obj
                .get("dst_zid")
                .and_then(Value::as_str)
                .ok_or_else(|| err(format!("entry {i} lacks a dst_zid string")))?
                .parse()
                .map_err(|e| err(format!("entry {i}: {e}")))?;
            let weight = obj
                .get("weight")
                .and_then(Value::as_u64)
                .filter(|w| (1..=u16::MAX as u64).contains(w))
                .ok_or_else(|| {
                    err(format!(
                        "entry {i}: weight must be an integer from 1 to 65535, found {}",
                        obj.get("weight").unwrap_or(&Value::Null)
                    ))
                })?;
            if out.insert(zid, weight as u16).is_some() {
                return Err(err(format!("dst_zid {zid} appears twice")));
            }
        }
        Ok(StaticWeights(out))
    }

    /// The configured weight towards `zid`, if any.
    pub fn get(&self, zid: &ZenohId) -> Option<u16> {
        self.0.get(zid).copied()
    }
}

/// How round-trip times become link weights (Plexus only; key
/// `routing/router/linkstate/rtt_weights`).
#[derive(Debug, Clone, PartialEq)]
pub struct RttWeightConfig {
    /// Follow RTTs at all (`enabled`, default false: weights are static as in Zenoh).
    pub enabled: bool,
    /// Samples kept per link (`window`, 1 to 64, default 8); their median is what the
    /// average follows, so isolated queueing spikes are ignored.
    pub window: usize,
    /// EWMA gain of each windowed median (`alpha`, 0 < alpha <= 1, default 0.125 as
    /// TCP's SRTT).
    pub alpha: f64,
    /// Microseconds of smoothed RTT per weight unit (`us_per_unit`, default 100, so a
    /// 10 ms RTT weighs 100, Zenoh's default weight).
    pub us_per_unit: u32,
    /// The smallest weight a link gets (`min_weight`, default 1).
    pub min_weight: u16,
    /// Relative change of the weight needed before it is announced (`hysteresis`,
    /// default 0.25 = 25 %).
    pub hysteresis: f64,
    /// Absolute change needed as well (`min_step`, default 2 units), so tiny weights do
    /// not flap on noise.
    pub min_step: u16,
    /// The least time between two announced changes of one link (`hold_down_ms`,
    /// default 2000).
    pub hold_down: Duration,
}

impl Default for RttWeightConfig {
    fn default() -> Self {
        RttWeightConfig {
            enabled: false,
            window: 8,
            alpha: 0.125,
            us_per_unit: 100,
            min_weight: 1,
            hysteresis: 0.25,
            min_step: 2,
            hold_down: Duration::from_millis(2000),
        }
    }
}

impl RttWeightConfig {
    /// Parses the value of `rtt_weights` (an object; `null` means the defaults).
    pub fn from_json(v: &Value) -> Result<Self, WeightConfigError> {
        let err = |detail: String| WeightConfigError {
            key: RTT_WEIGHTS,
            detail,
        };
        let mut c = Self::default();
        let obj = match v {
            Value::Null => return Ok(c),
            Value::Object(o) => o,
            other => return Err(err(format!("expected an object, found {other}"))),
        };
        for (k, val) in obj {
            let num = || {
                val.as_f64()
                    .ok_or_else(|| err(format!("{k} must be a number, found {val}")))
            };
            let int = |max: u64| {
                val.as_u64().filter(|x| *x <= max).ok_or_else(|| {
                    err(format!(
                        "{k} must be an integer from 0 to {max}, found {val}"
                    ))
                })
            };
            match k.as_str() {
                "enabled" => {
                    c.enabled = val
                        .as_bool()
                        .ok_or_else(|| err(format!("enabled must be true or false, found {val}")))?
                }
                "window" => {
                    c.window = int(64)? as usize;
                    if c.window == 0 {
                        return Err(err("window must be from 1 to 64".into()));
                    }
                }
                "alpha" => {
                    c.alpha = num()?;
                    if !(c.alpha > 0.0 && c.alpha <= 1.0) {
                        return Err(err(format!("alpha must be in (0, 1], found {val}")));
                    }
                }
                "us_per_unit" => {
                    c.us_per_unit = int(u32::MAX as u64)? as u32;
                    if c.us_per_unit == 0 {
                        return Err(err("us_per_unit must be at least 1".into()));
                    }
                }
                "min_weight" => {
                    c.min_weight = int(u16::MAX as u64)? as u16;
                    if c.min_weight == 0 {
                        return Err(err("min_weight must be at least 1".into()));
                    }
                }
                "hysteresis" => {
                    c.hysteresis = num()?;
                    if !(0.0..10.0).contains(&c.hysteresis) {
                        return Err(err(format!("hysteresis must be in [0, 10), found {val}")));
                    }
                }
                "min_step" => c.min_step = int(u16::MAX as u64)? as u16,
                "hold_down_ms" => c.hold_down = Duration::from_millis(int(u32::MAX as u64)?),
                _ => {
                    return Err(err(format!(
                        "unknown key {k:?} (expected enabled, window, alpha, us_per_unit, \
                         min_weight, hysteresis, min_step, hold_down_ms)"
                    )));
                }
            }
        }
        Ok(c)
    }

    /// The weight an RTT of `srtt_us` microseconds maps to, before hysteresis.
    pub fn weight_for(&self, srtt_us: f64) -> u16 {
        let w = (srtt_us / self.us_per_unit as f64).round();
        (w.clamp(self.min_weight as f64, u16::MAX as f64)) as u16
    }
}

#[derive(Debug, Clone)]
struct LinkRtt {
    recent: VecDeque<f64>,
    /// Smoothed median RTT.
    srtt_us: f64,
    /// Smoothed deviation of the samples from `srtt_us` (TCP's RTTVAR): the link's jitter.
    dev_us: f64,
    announced: Option<u16>,
    /// The smoothed RTT when `announced` was set.
    announced_us: f64,
    changed_at: Option<Instant>,
}

/// The gain of the deviation estimate (slower than TCP's 1/4, so the estimate itself is steady).
const DEV_GAIN: f64 = 1.0 / 16.0;

/// How many deviations the smoothed RTT must move before a change is announced. The
/// smoothed median wanders by well under one deviation of the raw samples, so two keep
/// noise out while a real change (which moves it by many) still gets through.
const DEV_FACTOR: f64 = 2.0;

/// Turns each neighbour's RTT samples into an announced weight. The median of the last
/// few samples ignores queueing spikes; an EWMA smooths it; the announced weight changes
/// only when the smoothed RTT has moved away from the one last announced by more than the
/// hysteresis (relative) and by more than twice the link's smoothed jitter (so a noisy
/// link needs a larger move), and no sooner than the hold-down after the last change.
/// Sans-IO: the caller passes each sample with the time it was taken.
#[derive(Debug, Clone)]
pub struct RttWeigher {
    cfg: RttWeightConfig,
    links: HashMap<ZenohId, LinkRtt>,
}

impl RttWeigher {
    /// A weigher with `cfg` (whether it is enabled is the caller's business).
    pub fn new(cfg: RttWeightConfig) -> Self {
        RttWeigher {
            cfg,
            links: HashMap::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RttWeightConfig {
        &self.cfg
    }

    /// Takes one RTT sample of the link to `zid`; returns the new weight to announce when
    /// it changes. The first weight is announced once `window` samples have come.
    pub fn handle_sample(&mut self, zid: ZenohId, rtt: Duration, now: Instant) -> Option<u16> {
        let us = rtt.as_secs_f64() * 1e6;
        let cfg = &self.cfg;
        let l = self.links.entry(zid).or_insert(LinkRtt {
            recent: VecDeque::with_capacity(cfg.window),
            srtt_us: 0.0,
            dev_us: 0.0,
            announced: None,
            announced_us: 0.0,
            changed_at: None,
        });
        if l.recent.len() == cfg.window {
            l.recent.pop_front();
        }
        l.recent.push_back(us);
        let mut sorted: Vec<f64> = l.recent.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        let Some(cur) = l.announced else {
            if l.recent.len() < cfg.window {
                return None;
            }
            // A full window: start from its median and its spread.
            l.srtt_us = median;
            l.dev_us = sorted.iter().map(|x| (x - median).abs()).sum::<f64>() / sorted.len() as f64;
            let w = cfg.weight_for(l.srtt_us);
            l.announced = Some(w);
            l.announced_us = l.srtt_us;
            l.changed_at = Some(now);
            return Some(w);
        };
        l.dev_us += DEV_GAIN * ((us - l.srtt_us).abs() - l.dev_us);
        l.srtt_us += cfg.alpha * (median - l.srtt_us);
        let candidate = cfg.weight_for(l.srtt_us);
        let held = l
            .changed_at
            .is_none_or(|t| now.saturating_duration_since(t) >= cfg.hold_down);
        let moved = (l.srtt_us - l.announced_us).abs();
        let change = held
            && candidate.abs_diff(cur) >= cfg.min_step.max(1)
            && moved > cfg.hysteresis * l.announced_us
            && moved > DEV_FACTOR * l.dev_us;
        if change {
            l.announced = Some(candidate);
            l.announced_us = l.srtt_us;
            l.changed_at = Some(now);
            Some(candidate)
        } else {
            None
        }
    }

    /// The weight announced for the link to `zid`, once a window of samples came.
    pub fn weight(&self, zid: &ZenohId) -> Option<u16> {
        self.links.get(zid).and_then(|l| l.announced)
    }

    /// The smoothed RTT of the link to `zid`.
    pub fn srtt(&self, zid: &ZenohId) -> Option<Duration> {
        self.links
            .get(zid)
            .filter(|l| l.announced.is_some())
            .map(|l| Duration::from_secs_f64(l.srtt_us.max(0.0) / 1e6))
    }

    /// Forgets the link to `zid` (it closed).
    pub fn remove(&mut self, zid: &ZenohId) {
        self.links.remove(zid);
    }
}

#[cfg(test)]
mod tests {
    use std::hash::Hasher;

    use proptest::prelude::*;

    use super::*;

    fn zid(s: &str) -> ZenohId {
        s.parse().unwrap()
    }

    /// Edge weights a Zenoh 1.10.2 router printed in `@/<zid>/router/linkstate/north`
    /// (routers with zids a1, b2, c3, d4; a1 configured `{dst_zid: "c3", weight: 200}`).
    #[test]
    fn matches_weights_zenoh_printed() {
        let cases = [
            ("a1", 0, "b2", 0, 100.52192227251872),
            ("b2", 0, "c3", 0, 100.22397104702516),
            ("a1", 200, "c3", 0, 200.1523001417872),
            ("c3", 0, "d4", 0, 100.50030428229373),
            ("b2", 0, "d4", 0, 100.15466644385704),
        ];
        for (a, wa, b, wb, expect) in cases {
            assert_eq!(edge_weight(&zid(a), wa, &zid(b), wb), expect, "{a}-{b}");
            assert_eq!(edge_weight(&zid(b), wb, &zid(a), wa), expect, "{b}-{a}");
        }
    }

    #[test]
    fn larger_announced_weight_wins() {
        let (a, b) = (zid("1"), zid("2"));
        let base = edge_weight(&a, 0, &b, 0) / 100.0;
        assert_eq!(edge_weight(&a, 7, &b, 0), 7.0 * base);
        assert_eq!(edge_weight(&a, 0, &b, 9), 9.0 * base);
        assert_eq!(edge_weight(&a, 7, &b, 300), 300.0 * base);
        assert!(base > 1.0 && base <= 1.01);
    }

    #[test]
    fn zid_order_is_little_endian_bytes() {
        // 0x0100 > 0x00ff numerically, but its LE bytes (00 01) sort before (ff 00).
        assert_eq!(zenoh_zid_cmp(&zid("100"), &zid("ff")), Ordering::Less);
        assert_eq!(zenoh_zid_cmp(&zid("a1"), &zid("b2")), Ordering::Less);
    }

    proptest! {
        #[test]
        fn siphash_matches_std_default_hasher(data in prop::collection::vec(any::<u8>(), 0..80)) {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            h.write(&data);
            prop_assert_eq!(siphash13(&data), h.finish());
        }
    }

    #[test]
    fn static_weights_parse_and_errors() {
        let v: Value =
            json5::from_str(r#"[{dst_zid: "c3", weight: 200}, {dst_zid: "a1b2", weight: 1}]"#)
                .unwrap();
        let w = StaticWeights::from_json(&v).unwrap();
        assert_eq!(w.get(&zid("c3")), Some(200));
        assert_eq!(w.get(&zid("a1b2")), Some(1));
        assert_eq!(
            StaticWeights::from_json(&Value::Null).unwrap(),
            StaticWeights::default()
        );
        for (bad, needle) in [
            (r#"{}"#, "expected a list"),
            (r#"[{dst_zid: "c3", weight: 0}]"#, "1 to 65535"),
            (r#"[{dst_zid: "c3", weight: 70000}]"#, "1 to 65535"),
            (r#"[{dst_zid: "c3", weight: "10"}]"#, "1 to 65535"),
            (r#"[{dst_zid: "xyz", weight: 1}]"#, "invalid zenoh id"),
            (r#"[{weight: 1}]"#, "dst_zid"),
            (r#"[{dst_zid: "c3", weight: 1, w: 2}]"#, "unknown key \"w\""),
            (
                r#"[{dst_zid: "c3", weight: 1}, {dst_zid: "c3", weight: 2}]"#,
                "appears twice",
            ),
        ] {
            let v: Value = json5::from_str(bad).unwrap();
            let e = StaticWeights::from_json(&v).unwrap_err().to_string();
            assert!(
                e.contains("transport_weights") && e.contains(needle),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn rtt_config_parse_and_errors() {
        let v: Value = json5::from_str(
            r#"{enabled: true, window: 3, alpha: 0.5, us_per_unit: 50, min_weight: 2,
                hysteresis: 0.1, min_step: 1, hold_down_ms: 10}"#,
        )
        .unwrap();
        let c = RttWeightConfig::from_json(&v).unwrap();
        assert!(c.enabled);
        assert_eq!(c.window, 3);
        assert_eq!(
            (c.alpha, c.us_per_unit, c.min_weight, c.min_step),
            (0.5, 50, 2, 1)
        );
        assert_eq!(c.hold_down, Duration::from_millis(10));
        assert_eq!(
            RttWeightConfig::from_json(&Value::Null).unwrap(),
            RttWeightConfig::default()
        );
        for (bad, needle) in [
            (r#"{alpha: 0}"#, "alpha"),
            (r#"{window: 0}"#, "window"),
            (r#"{window: 65}"#, "window"),
            (r#"{alpha: 2}"#, "alpha"),
            (r#"{enabled: 1}"#, "enabled"),
            (r#"{us_per_unit: 0}"#, "us_per_unit"),
            (r#"{min_weight: 0}"#, "min_weight"),
            (r#"{hold_down_ms: -1}"#, "hold_down_ms"),
            (r#"{speed: 1}"#, "unknown key \"speed\""),
            (r#"[]"#, "expected an object"),
        ] {
            let v: Value = json5::from_str(bad).unwrap();
            let e = RttWeightConfig::from_json(&v).unwrap_err().to_string();
            assert!(
                e.contains("rtt_weights") && e.contains(needle),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn weight_scale() {
        let c = RttWeightConfig::default();
        assert_eq!(c.weight_for(10_000.0), 100);
        assert_eq!(c.weight_for(30.0), 1, "clamped to min_weight");
        assert_eq!(c.weight_for(1e12), u16::MAX);
    }

    #[test]
    fn a_full_window_announces_then_hysteresis_holds() {
        let mut w = RttWeigher::new(RttWeightConfig::default());
        let z = zid("b2");
        let t0 = Instant::now();
        for i in 0..7 {
            let t = t0 + Duration::from_millis(10 * i);
            assert_eq!(w.handle_sample(z, Duration::from_millis(10 + i), t), None);
            assert_eq!(w.weight(&z), None);
        }
        // The median of 10..=17 ms is 14 ms.
        assert_eq!(w.handle_sample(z, Duration::from_millis(17), t0), Some(140));
        assert_eq!(w.srtt(&z), Some(Duration::from_millis(14)));
        // +10 % is inside the hysteresis, even after the hold-down.
        for i in 1..200 {
            let t = t0 + Duration::from_millis(100 * i);
            assert_eq!(w.handle_sample(z, Duration::from_millis(15), t), None);
        }
        assert_eq!(w.weight(&z), Some(140));
        w.remove(&z);
        assert_eq!(w.weight(&z), None);
    }

    #[test]
    fn hold_down_delays_a_real_change() {
        let mut w = RttWeigher::new(RttWeightConfig::default());
        let z = zid("b2");
        let t0 = Instant::now();
        for _ in 0..8 {
            w.handle_sample(z, Duration::from_millis(10), t0);
        }
        assert_eq!(w.weight(&z), Some(100));
        // The RTT triples at once; the median follows after half a window, the EWMA
        // passes +25 % a few samples later, and the change waits for the 2 s hold-down.
        let mut changed_at = None;
        for i in 1..100u64 {
            let t = t0 + Duration::from_millis(100 * i);
            if let Some(nw) = w.handle_sample(z, Duration::from_millis(30), t) {
                changed_at = Some((i, nw));
                break;
            }
        }
        let (i, nw) = changed_at.expect("the weight follows a tripled RTT");
        assert_eq!(i, 20, "first sample at or after the 2 s hold-down");
        assert!(nw > 125, "{nw}");
    }
}
