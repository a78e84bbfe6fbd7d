//! A transport's defragmenters (`DefragSet`) fed fragments, idle time and a close chosen
//! by the input: never panics, never holds more than its budget, never returns a message
//! larger than the budget, frees what an expiry says it freed, and holds nothing after a
//! close.
//!
//! Input layout: bytes 0..=1 = budget (little endian, 0..=65535 bytes), byte 2 = patch
//! (odd: 1, even: 0), then operations of 5 bytes + payload: `op` (low 2 bits: 0/1 a
//! fragment, 2 time passes by `arg` seconds then expiry, 3 close), `channel` (mod 17, so
//! one out of range), `sn` (2 bytes), `flags` (more, first, drop, sn accepted), then for
//! fragments `len` (1 byte) payload bytes.
#![no_main]

use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use plexus_transport::defrag::DefragSet;
use plexus_transport::wire::transport::Fragment;
use plexus_transport::wire::{Priority, Reliability};

const CHANNELS: usize = 16;
const TIMEOUT: Duration = Duration::from_secs(10);

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let budget = u16::from_le_bytes([data[0], data[1]]) as usize;
    let patch = u64::from(data[2] & 1);
    let mut set = DefragSet::new(CHANNELS, budget, 0x0fff_ffff, patch, TIMEOUT);
    let mut now = Instant::now();
    let mut closed = false;
    let mut rest = &data[3..];
    while rest.len() >= 5 {
        let (op, channel, sn, flags) = (
            rest[0],
            rest[1] as usize % (CHANNELS + 1),
            u16::from_le_bytes([rest[2], rest[3]]),
            rest[4],
        );
        rest = &rest[5..];
        match op & 3 {
            0 | 1 => {
                let Some((&len, tail)) = rest.split_first() else {
                    break;
                };
                let len = (len as usize).min(tail.len());
                let payload = Bytes::copy_from_slice(&tail[..len]);
                rest = &tail[len..];
                let frag = Fragment {
                    reliability: if channel % 2 == 0 {
                        Reliability::Reliable
                    } else {
                        Reliability::BestEffort
                    },
                    more: flags & 1 != 0,
                    sn: u32::from(sn),
                    priority: Priority::Data,
                    first: flags & 2 != 0,
                    drop: flags & 4 != 0,
                    payload,
                };
                let out = set.handle_fragment(channel, &frag, flags & 8 == 0, now);
                if let Ok(Some(msg)) = &out {
                    assert!(!closed, "a message came out of a closed set");
                    assert!(
                        msg.len() <= budget,
                        "{} bytes out of a budget of {budget}",
                        msg.len()
                    );
                }
            }
            2 => {
                now += Duration::from_secs(u64::from(op >> 2));
                let before = set.held();
                let freed = set.expire(now);
                assert_eq!(set.held(), before - freed);
                if now >= set.next_expiry().unwrap_or(now + TIMEOUT) {
                    panic!("a series is still due after expire");
                }
            }
            _ => {
                set.close();
                closed = true;
                assert_eq!(set.held(), 0, "a closed set holds memory");
            }
        }
        assert!(
            set.held() <= set.budget(),
            "held {} over {}",
            set.held(),
            set.budget()
        );
        if closed {
            assert_eq!(set.held(), 0);
        }
    }
    set.clear();
    assert_eq!(set.held(), 0);
    assert_eq!(set.next_expiry(), None);
});
