use bytes::Bytes;

use super::*;
use crate::defrag::Defragmenter;
use crate::seq::{RxChannel, sn_mask};
use crate::wire::network::{NetQos, Push, PushBody, WireExpr};
use crate::wire::transport::{BatchItem, BatchReader};
use crate::wire::zenoh::Put;
use crate::wire::{Encoding, Reader};

const MASK: u32 = 0x0fff_ffff;

/// A PUSH/PUT on `key` of `len` payload bytes, default QoS and encoding.
pub(crate) fn put(key: &str, len: usize) -> NetworkMessage {
    NetworkMessage::Push(Push {
        wire_expr: WireExpr::key(key),
        qos: NetQos::default(),
        timestamp: None,
        node_id: 0,
        body: PushBody::Put(Put {
            timestamp: None,
            encoding: Encoding::default(),
            source_info: None,
            attachment: None,
            payload: Bytes::from((0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>()),
            unknown_exts: Default::default(),
        }),
        unknown_exts: Default::default(),
    })
}

/// The keys of received PUSHes, in order.
fn keys_of(got: &[(Priority, NetworkMessage)]) -> Vec<String> {
    got.iter()
        .map(|(_, m)| match m {
            NetworkMessage::Push(push) => push.wire_expr.suffix.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[test]
fn queued_bytes_count_what_waits_and_fall_to_zero_when_pulled() {
    let p = Pipeline::new(true, 1024, true, 0, MASK, &[4; 8]);
    assert_eq!(p.queued_bytes(), 0);
    let mut last = 0;
    for i in 0..5 {
        let pushed = p.push(
            &put("a/b", 300),
            opts(Priority::Data, Reliability::Reliable),
            || false,
        );
        assert!(matches!(pushed, Pushed::Queued), "push {i}: {pushed:?}");
        let now = p.queued_bytes();
        assert!(now > last + 300, "push {i}: {last} -> {now}");
        last = now;
    }
    p.push(
        &put("c", 10),
        opts(Priority::RealTime, Reliability::Reliable),
        || false,
    );
    assert!(p.queued_bytes() > last + 10, "another stage counts too");
    let mut out = Vec::new();
    assert!(p.pull(&mut out) > 0);
    assert_eq!(p.queued_bytes(), 0);
}

/// (key, payload length) of each message, so failures print something readable.
fn summary(msgs: &[NetworkMessage]) -> Vec<(String, usize)> {
    msgs.iter()
        .map(|m| match m {
            NetworkMessage::Push(p) => match &p.body {
                PushBody::Put(put) => (p.wire_expr.suffix.clone(), put.payload.len()),
                other => (format!("{other:?}"), 0),
            },
            other => (format!("{other:?}"), 0),
        })
        .collect()
}

fn opts(priority: Priority, reliability: Reliability) -> SendOptions {
    SendOptions {
        priority,
        reliability,
        ..SendOptions::default()
    }
}

/// Decodes pulled batches back into (frame/fragment headers, messages) like a receiver,
/// checking each batch's length against the capacity and SN continuity per channel.
fn receive(
    batches: &mut [Batch],
    capacity: usize,
    initial: u32,
) -> Vec<(Priority, NetworkMessage)> {
    let mut rx: Vec<[RxChannel; 2]> = (0..8)
        .map(|_| [RxChannel::new(initial, MASK), RxChannel::new(initial, MASK)])
        .collect();
    let mut defrag: Vec<Defragmenter> = (0..16)
        .map(|_| Defragmenter::new(1 << 30, MASK, 1))
        .collect();
    let mut out = Vec::new();
    for b in batches.iter_mut() {
        b.seal();
        let prefixed = b.wire(true).concat();
        let len = u16::from_le_bytes([prefixed[0], prefixed[1]]) as usize;
        assert_eq!(len + 2, prefixed.len());
        assert!(len + 2 <= capacity + 2, "batch of {len} exceeds {capacity}");
        let mut current = None;
        for item in BatchReader::read_all(Bytes::from(b.wire(false).concat())).expect("decodes") {
            match item {
                BatchItem::Transport(TransportMessage::Frame(h)) => {
                    let ch = channel(h.reliability);
                    assert!(
                        rx[h.priority as usize][ch].accept(h.sn),
                        "sn {} in order",
                        h.sn
                    );
                    current = Some(h.priority);
                }
                BatchItem::Network(m) => out.push((current.expect("inside a frame"), m)),
                BatchItem::Transport(TransportMessage::Fragment(f)) => {
                    let ch = channel(f.reliability);
                    let ok = rx[f.priority as usize][ch].accept(f.sn);
                    assert!(ok, "fragment sn {} in order", f.sn);
                    let d = &mut defrag[f.priority as usize * 2 + ch];
                    if let Some(whole) = d.handle_fragment(&f, ok).expect("reassembles") {
                        let m = NetworkMessage::read(&mut Reader::new(whole)).expect("decodes");
                        out.push((f.priority, m));
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    out
}

#[test]
fn small_messages_share_one_batch_and_one_frame() {
    let p = Pipeline::new(true, 1024, true, 7, MASK, &[16; 8]);
    for i in 0..10 {
        assert_eq!(
            p.push(&put(&format!("k/{i}"), 8), SendOptions::default(), || true),
            Pushed::Queued
        );
    }
    let mut batches = Vec::new();
    assert_eq!(p.pull(&mut batches), 1);
    let got = receive(&mut batches, 1022, 7);
    assert_eq!(got.len(), 10);
    assert_eq!(got[3].1, put("k/3", 8));
    assert!(p.is_empty());
}

#[test]
fn batches_fill_up_to_the_batch_size() {
    let p = Pipeline::new(false, 256, true, 0, MASK, &[64; 8]);
    let msgs: Vec<_> = (0..40).map(|i| put(&format!("key/{i}"), 20)).collect();
    for m in &msgs {
        p.push(m, SendOptions::default(), || true);
    }
    let mut batches = Vec::new();
    let n = p.pull(&mut batches);
    assert!(
        n > 1,
        "40 messages of ~30 bytes need several 256-byte batches"
    );
    let got: Vec<_> = receive(&mut batches, 254, 0)
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    assert_eq!(got, msgs, "all arrive, in order");
}

#[test]
fn reliability_change_opens_a_new_frame_with_its_own_sn() {
    let p = Pipeline::new(true, 1024, true, 100, MASK, &[16; 8]);
    p.push(
        &put("a", 1),
        opts(Priority::Data, Reliability::Reliable),
        || true,
    );
    p.push(
        &put("b", 1),
        opts(Priority::Data, Reliability::BestEffort),
        || true,
    );
    p.push(
        &put("c", 1),
        opts(Priority::Data, Reliability::Reliable),
        || true,
    );
    let mut batches = Vec::new();
    p.pull(&mut batches);
    let items =
        BatchReader::read_all(Bytes::from(batches[0].wire(false).concat())).expect("decodes");
    let sns: Vec<(Reliability, u32)> = items
        .iter()
        .filter_map(|i| match i {
            BatchItem::Transport(TransportMessage::Frame(h)) => Some((h.reliability, h.sn)),
            _ => None,
        })
        .collect();
    assert_eq!(
        sns,
        [
            (Reliability::Reliable, 100),
            (Reliability::BestEffort, 100),
            (Reliability::Reliable, 101)
        ]
    );
}

#[test]
fn large_messages_are_fragmented_and_reassemble() {
    // The queue bound counts batches: room for every fragment of the big message.
    let p = Pipeline::new(true, 1000, true, 5, MASK, &[1000; 8]);
    p.push(&put("small", 3), SendOptions::default(), || true);
    let big = put("big", 100_009);
    p.push(&big, SendOptions::default(), || true);
    p.push(&put("after", 3), SendOptions::default(), || true);
    let mut batches = Vec::new();
    let n = p.pull(&mut batches);
    assert!(n > 100, "100 kB in 1000-byte batches: {n} batches");
    let got: Vec<_> = receive(&mut batches, 998, 5)
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    let want = [put("small", 3), big, put("after", 3)];
    assert_eq!(summary(&got), summary(&want));
    assert!(got == want, "payload bytes differ");
}

#[test]
fn fragments_refer_to_the_payload_instead_of_copying_it() {
    let p = Pipeline::new(false, 1000, true, 0, MASK, &[1000; 8]);
    let big = put("big", 10_000);
    let NetworkMessage::Push(Push {
        body: PushBody::Put(put_body),
        ..
    }) = &big
    else {
        unreachable!()
    };
    let payload = put_body.payload.as_ptr_range();
    p.push(&big, SendOptions::default(), || true);
    let mut batches = Vec::new();
    assert!(p.pull(&mut batches) >= 10);
    let mut carried = 0;
    for b in &batches {
        let [head, tail] = b.wire(true);
        // The batch's own buffer holds headers only (the key and the PUT's fields go
        // into the first).
        assert!(head.len() < 64, "a batch buffer of {} bytes", head.len());
        let tail = tail.as_ptr_range();
        assert!(
            payload.start <= tail.start && tail.end <= payload.end,
            "a fragment's payload is not the message's"
        );
        carried += tail.end as usize - tail.start as usize;
    }
    assert_eq!(carried, 10_000);
    let got: Vec<_> = receive(&mut batches, 998, 0)
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    assert!(got == [big], "{:?}", summary(&got));
}

#[test]
fn fragments_cut_across_the_head_and_the_payload() {
    // Tiny batches: the key alone spans several fragments, then the payload does.
    let p = Pipeline::new(false, 64, true, 0, MASK, &[1000; 8]);
    let long_key = format!("k/{}", "x".repeat(150));
    let big = put(&long_key, 300);
    let del = NetworkMessage::Push(Push {
        wire_expr: WireExpr::key(&long_key),
        qos: NetQos::default(),
        timestamp: None,
        node_id: 0,
        body: PushBody::Del(Default::default()),
        unknown_exts: Default::default(),
    });
    p.push(&big, SendOptions::default(), || true);
    p.push(&del, SendOptions::default(), || true);
    let mut batches = Vec::new();
    assert!(p.pull(&mut batches) > 8);
    let got: Vec<_> = receive(&mut batches, 62, 0)
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    assert!(got == [big, del], "{:?}", summary(&got));
}

#[test]
fn priorities_are_pulled_highest_first_and_express_flushes() {
    let p = Pipeline::new(true, 1024, true, 0, MASK, &[16; 8]);
    p.push(
        &put("low", 1),
        opts(Priority::Background, Reliability::Reliable),
        || true,
    );
    let express = SendOptions {
        express: true,
        ..opts(Priority::RealTime, Reliability::Reliable)
    };
    p.push(&put("rt1", 1), express, || true);
    p.push(&put("rt2", 1), express, || true);
    let mut batches = Vec::new();
    assert_eq!(
        p.pull(&mut batches),
        3,
        "two express batches and one background batch"
    );
    let got = receive(&mut batches, 1022, 0);
    let order: Vec<Priority> = got.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        order,
        [Priority::RealTime, Priority::RealTime, Priority::Background]
    );
}

#[test]
fn pending_counts_messages_and_ready_flags_what_must_go_now() {
    let p = Pipeline::new(true, 256, true, 0, MASK, &[64; 8]);
    assert_eq!((p.pending(), p.has_ready()), (0, false));
    p.push(&put("a", 1), SendOptions::default(), || true);
    p.push(&put("b", 1), SendOptions::default(), || true);
    assert_eq!(p.pending(), 2);
    assert!(!p.has_ready(), "a batch still filling up is not urgent");
    let mut batches = Vec::new();
    p.pull(&mut batches);
    assert_eq!(
        (p.pending(), p.has_ready()),
        (0, false),
        "a pull resets both"
    );

    // An express message closes its batch.
    let express = SendOptions {
        express: true,
        ..SendOptions::default()
    };
    p.push(&put("x", 1), express, || true);
    assert!(p.has_ready());
    p.pull(&mut batches);

    // So does filling a batch up.
    for i in 0..20 {
        p.push(&put(&format!("k{i}"), 40), SendOptions::default(), || true);
    }
    assert!(p.has_ready(), "20 messages of ~45 bytes overflow 254 bytes");
    p.pull(&mut batches);

    // And a message cut into fragments.
    assert!(!p.has_ready());
    p.push(&put("big", 1000), SendOptions::default(), || true);
    assert!(p.has_ready());
}

#[test]
fn pull_finished_leaves_the_batch_being_filled_and_keeps_it_pending() {
    let p = Pipeline::new(true, 256, true, 0, MASK, &[64; 8]);
    // Nothing finished: nothing taken, the lone message still pending.
    p.push(&put("a", 1), SendOptions::default(), || true);
    let mut batches = Vec::new();
    assert_eq!(p.pull_finished(&mut batches), 0);
    assert!(p.has_pending() && !p.has_ready());
    // Fill one batch and start the next: only the full one is taken.
    let mut sent = vec!["a".to_string()];
    while !p.has_ready() {
        let key = format!("k{}", sent.len());
        p.push(&put(&key, 40), SendOptions::default(), || true);
        sent.push(key);
    }
    assert_eq!(p.pull_finished(&mut batches), 1);
    assert!(!p.has_ready(), "what was finished is taken");
    assert!(
        p.has_pending(),
        "the batch being filled still waits: the writer must not park on it"
    );
    let first = receive(&mut batches, 254, 0).len();
    assert!(first < sent.len(), "the batch being filled stayed");
    // A full pull takes the rest, in order after the first batch.
    batches.clear();
    assert_eq!(p.pull(&mut batches), 1);
    assert!(!p.has_pending());
    let rest = receive(&mut batches, 254, 0);
    assert_eq!(first + rest.len(), sent.len(), "every message once");
    assert_eq!(keys_of(&rest), sent[first..]);
}

#[test]
fn without_qos_everything_goes_on_data() {
    let p = Pipeline::new(false, 1024, true, 0, MASK, &[16; 8]);
    p.push(
        &put("x", 1),
        opts(Priority::Control, Reliability::Reliable),
        || true,
    );
    let mut batches = Vec::new();
    p.pull(&mut batches);
    assert_eq!(receive(&mut batches, 1022, 0)[0].0, Priority::Data);
}

fn block() -> SendOptions {
    SendOptions {
        congestion: CongestionControl::Block,
        ..SendOptions::default()
    }
}

/// Pushes ~45-byte messages until one goes beyond the bound; returns how many
/// were queued within it.
fn fill(p: &Pipeline, opts: SendOptions) -> usize {
    for i in 0..1000 {
        match p.push(&put(&format!("k{i}"), 40), opts, || true) {
            Pushed::Queued => {}
            Pushed::Over { .. } => return i,
            other => panic!("{other:?} before the bound was reached"),
        }
    }
    panic!("never went over the bound")
}

#[test]
fn a_full_stage_queues_beyond_its_bound_for_a_producer_that_waits() {
    let p = Pipeline::new(false, 64, true, 0, MASK, &[2; 8]);
    let within = fill(&p, block());
    assert!(
        within >= 2,
        "two 62-byte batches hold one message each at least"
    );
    assert!(p.is_blocked(), "a Block message waits beyond the bound");
    let pulls = p.pulls();
    // A producer that waits is never refused, Block or Drop.
    for i in 0..50 {
        assert_eq!(
            p.push(&put("b", 40), block(), || true),
            Pushed::Over {
                fragmented: false,
                mark: pulls
            },
            "{i}"
        );
        let drop = SendOptions::default();
        assert_eq!(
            p.push(&put("d", 40), drop, || true),
            Pushed::Over {
                fragmented: false,
                mark: pulls
            },
            "{i}"
        );
    }
    // One that does not wait gets a slack of one bound more.
    let mut refused = None;
    for i in 0..10 {
        match p.push(&put("x", 40), block(), || false) {
            Pushed::Full => {
                refused = Some(i);
                break;
            }
            Pushed::Over { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(refused, Some(0), "already past twice the bound");
    assert_eq!(
        p.push(&put("x", 40), SendOptions::default(), || false),
        Pushed::Dropped
    );
    // The writer's pull frees the stage and counts.
    let mut batches = Vec::new();
    assert!(p.pull(&mut batches) > 100);
    assert_eq!(p.pulls(), pulls + 1);
    assert!(!p.is_blocked());
    assert_eq!(p.push(&put("b", 40), block(), || false), Pushed::Queued);
    p.close();
    assert_eq!(p.push(&put("c", 1), block(), || true), Pushed::Closed);
}

#[test]
fn a_producer_that_does_not_wait_gets_one_bound_of_slack() {
    let p = Pipeline::new(false, 64, true, 0, MASK, &[2; 8]);
    let mut outcomes = Vec::new();
    for i in 0..20 {
        outcomes.push(p.push(&put(&format!("k{i}"), 40), block(), || false));
    }
    let queued = outcomes.iter().filter(|o| **o == Pushed::Queued).count();
    let over = outcomes
        .iter()
        .filter(|o| matches!(o, Pushed::Over { .. }))
        .count();
    assert!(queued >= 2 && over >= 1, "{outcomes:?}");
    assert_eq!(outcomes[19], Pushed::Full, "{outcomes:?}");
    let mut batches = Vec::new();
    p.pull(&mut batches);
    assert!(
        batches.len() <= 2 * 2 + 1,
        "within twice the bound plus the batch under construction: {}",
        batches.len()
    );
}

#[test]
fn a_congested_stage_drops_droppable_messages_until_the_next_pull() {
    let p = Pipeline::new(true, 64, true, 0, MASK, &[2; 8]);
    let drop = SendOptions::default();
    fill(&p, drop);
    assert!(!p.is_blocked(), "only Drop messages wait");
    // Still full: the producer waited in vain and marks it.
    p.set_congested(Priority::Data);
    assert!(p.is_congested(Priority::Data));
    assert!(!p.is_congested(Priority::Control), "per priority");
    assert_eq!(p.push(&put("d", 40), drop, || true), Pushed::Dropped);
    // Blocking messages still queue (beyond the bound).
    assert_eq!(
        p.push(&put("b", 40), block(), || true),
        Pushed::Over {
            fragmented: false,
            mark: p.pulls()
        }
    );
    let control = opts(Priority::Control, Reliability::Reliable);
    assert_eq!(p.push(&put("c", 1), control, || true), Pushed::Queued);
    let mut batches = Vec::new();
    p.pull(&mut batches);
    assert!(!p.is_congested(Priority::Data), "the pull ends the episode");
    assert_eq!(p.push(&put("d", 40), drop, || true), Pushed::Queued);
    // Marking a stage that a pull freed meanwhile does nothing.
    p.set_congested(Priority::Data);
    assert!(!p.is_congested(Priority::Data));
}

#[test]
fn small_drop_messages_after_a_fragmented_one_wait_instead_of_dropping() {
    // The lost-burst case: a 1 MiB message fills the queue with its fragments; a
    // burst of small Drop messages right after it must not be dropped while the
    // writer has not had the chance to pull.
    let p = Pipeline::new(true, u16::MAX, true, 0, MASK, &[2; 8]);
    assert_eq!(
        p.push(&put("big", 1 << 20), SendOptions::default(), || true),
        Pushed::Over {
            fragmented: true,
            mark: 0
        },
        "17 fragments exceed a bound of 2"
    );
    for i in 0..500 {
        let r = p.push(&put(&format!("s/{i}"), 8), SendOptions::default(), || true);
        assert_eq!(
            r,
            Pushed::Over {
                fragmented: false,
                mark: 0
            },
            "message {i}"
        );
    }
    let mut batches = Vec::new();
    p.pull(&mut batches);
    let got = receive(&mut batches, u16::MAX as usize - 2, 0);
    assert_eq!(got.len(), 501, "nothing dropped");
}

#[test]
fn buffers_are_allocated_lazily_and_freed_on_clear() {
    let p = Pipeline::new(true, u16::MAX, true, 0, MASK, &[16; 8]);
    assert!(p.stages.iter().all(|s| lock(s).current.buf.capacity() == 0));
    p.push(&put("a", 1), SendOptions::default(), || true);
    let mut batches = Vec::new();
    p.pull(&mut batches);
    assert!(
        p.stages.iter().all(|s| lock(s).current.buf.capacity() == 0),
        "a pull leaves no buffer behind"
    );
    for b in batches.drain(..) {
        p.recycle(b);
    }
    assert_eq!(lock(&p.pool).len(), 1);
    p.push(&put("b", 1), SendOptions::default(), || true);
    assert_eq!(lock(&p.pool).len(), 0, "reused from the pool");
    p.clear();
    assert!(p.is_empty());
    assert_eq!(
        p.push(&put("c", 1), SendOptions::default(), || true),
        Pushed::Closed
    );
}

#[test]
fn sn_wraps_within_the_mask() {
    let mask = sn_mask(0); // 8-bit resolution
    let p = Pipeline::new(false, 1024, true, mask - 1, mask, &[16; 8]);
    let express = SendOptions {
        express: true,
        ..SendOptions::default()
    };
    for _ in 0..4 {
        p.push(&put("w", 1), express, || true);
    }
    let mut batches = Vec::new();
    p.pull(&mut batches);
    let sns: Vec<u32> = batches
        .iter()
        .map(|b| {
            match &BatchReader::read_all(Bytes::from(b.wire(false).concat())).expect("decodes")[0] {
                BatchItem::Transport(TransportMessage::Frame(h)) => h.sn,
                other => panic!("{other:?}"),
            }
        })
        .collect();
    assert_eq!(sns, [mask - 1, mask, 0, 1]);
}

#[test]
fn pull_finished_keeps_a_higher_priority_message_ahead_of_the_finished_batches() {
    // A declaration on Control, not finished, then publications on Data that fill a
    // batch: the declaration must leave first (the publications use what it declares).
    let p = Pipeline::new(true, 256, true, 0, MASK, &[64; 8]);
    let control = opts(Priority::Control, Reliability::Reliable);
    p.push(&put("declared", 1), control, || true);
    // And something below Data, older than the finished batch: it may stay.
    p.push(
        &put("background", 1),
        opts(Priority::Background, Reliability::Reliable),
        || true,
    );
    let mut n = 0;
    while !p.has_ready() {
        p.push(&put(&format!("d{n}"), 40), SendOptions::default(), || true);
        n += 1;
    }
    let mut batches = Vec::new();
    assert!(p.pull_finished(&mut batches) >= 2);
    let got = receive(&mut batches, 254, 0);
    assert_eq!(
        (got[0].0, keys_of(&got[..1])[0].as_str()),
        (Priority::Control, "declared"),
        "the Control message leaves first"
    );
    assert!(
        got.iter().all(|(prio, _)| *prio != Priority::Background),
        "a lower priority's batch under construction may wait"
    );
    assert!(
        p.has_pending(),
        "Data's batch being filled and Background's wait"
    );
}

#[test]
fn a_writer_mixing_pull_finished_and_pull_keeps_every_message_in_order() {
    let p = std::sync::Arc::new(Pipeline::new(true, 1024, true, 0, MASK, &[4; 8]));
    const N: usize = 50_000;
    let producer = {
        let p = p.clone();
        std::thread::spawn(move || {
            for i in 0..N {
                let key = format!("k/{i}");
                while matches!(
                    p.push(&put(&key, 30), SendOptions::default(), || false),
                    Pushed::Dropped | Pushed::Full
                ) {
                    std::thread::yield_now();
                }
            }
        })
    };
    let mut batches = Vec::new();
    let mut turn = 0u32;
    while !producer.is_finished() || p.has_pending() || p.has_ready() {
        turn = turn.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        if turn & 0x100 == 0 {
            p.pull_finished(&mut batches);
        } else {
            p.pull(&mut batches);
        }
    }
    producer.join().unwrap();
    p.pull(&mut batches);
    let keys = keys_of(&receive(&mut batches, 1022, 0));
    assert_eq!(keys.len(), N, "every message once");
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(k, &format!("k/{i}"), "in order");
    }
}

#[test]
fn a_message_too_large_for_the_rest_of_a_batch_never_grows_its_buffer() {
    // 20 KiB payloads in 64 KiB batches: three fit, the fourth starts the next batch.
    // Writing it into the full batch only to take it back grew the buffer (a copy of the
    // whole batch to a fresh allocation) and copied the payload twice.
    let p = Pipeline::new(true, u16::MAX, true, 0, MASK, &[64; 8]);
    let msgs: Vec<_> = (0..12).map(|i| put(&format!("k/{i}"), 20 * 1024)).collect();
    for m in &msgs {
        p.push(m, SendOptions::default(), || true);
    }
    let mut batches = Vec::new();
    p.pull(&mut batches);
    assert_eq!(batches.len(), 4, "three 20 KiB messages per 64 KiB batch");
    let allocated = p.capacity + 2 + HEADROOM;
    for b in &batches {
        assert_eq!(b.buf.capacity(), allocated, "a batch's buffer grew");
    }
    let got: Vec<_> = receive(&mut batches, u16::MAX as usize - 2, 0)
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    assert_eq!(got, msgs, "all arrive, in order");
}

#[test]
fn the_lower_bound_of_a_message_is_its_payload() {
    assert_eq!(put("k", 1000).min_wire_len(), 1000);
    let mut w = Vec::new();
    let m = put("a/long/key/expression", 0);
    m.write(&mut w);
    assert!(m.min_wire_len() <= w.len());
}
