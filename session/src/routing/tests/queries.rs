//! Routing without sockets: requests and their replies and timeouts, liveliness tokens and
//! queries, and the caps on what a face may declare.

use super::*;

fn request(id: u32, k: &str) -> NetworkMessage {
    request_within(id, k, 10_000)
}

fn request_within(id: u32, k: &str, timeout_ms: u64) -> NetworkMessage {
    NetworkMessage::Request(Request {
        id,
        wire_expr: WireExpr::key(k),
        qos: NetQos::REQUEST,
        timestamp: None,
        target: WireTarget::All,
        budget: None,
        timeout_ms: Some(timeout_ms),
        node_id: 0,
        body: wz::Query::default(),
        unknown_exts: Default::default(),
    })
}

#[tokio::test]
async fn a_request_reaches_the_matching_queryable_and_its_replies_come_back() {
    let d = dispatcher(WhatAmI::Router);
    let (a, a_rec) = open(&d, 2, WhatAmI::Client);
    let (b, b_rec) = open(&d, 3, WhatAmI::Peer);
    let (_c, c_rec) = open(&d, 4, WhatAmI::Peer);
    declare(
        &d,
        &b,
        DeclareBody::Queryable {
            id: 1,
            wire_expr: WireExpr::key("q/**"),
            complete: false,
            distance: 0,
        },
    );
    a_rec.take();
    c_rec.take();

    d.handle_message(&a, request(7, "q/1"));
    let to_b = b_rec.take();
    assert_eq!(
        to_b.iter().map(summary).collect::<Vec<_>>(),
        ["REQUEST q/1"]
    );
    assert!(sent(&c_rec).is_empty(), "c has no queryable");
    let NetworkMessage::Request(forwarded) = &to_b[0] else {
        unreachable!("checked above")
    };

    d.handle_message(
        &b,
        NetworkMessage::Response(Response {
            request_id: forwarded.id,
            wire_expr: WireExpr::key("q/1"),
            qos: NetQos::RESPONSE,
            timestamp: None,
            responder: None,
            body: ResponseBody::Reply(wz::Reply {
                consolidation: None,
                body: PushBody::Put(Put::default()),
                unknown_exts: Default::default(),
            }),
            unknown_exts: Default::default(),
        }),
    );
    assert_eq!(sent(&a_rec), ["RESPONSE 7 q/1"]);
    d.handle_message(
        &b,
        NetworkMessage::ResponseFinal(ResponseFinal {
            request_id: forwarded.id,
            qos: NetQos::RESPONSE,
            timestamp: None,
        }),
    );
    assert_eq!(sent(&a_rec), ["RESPONSE_FINAL 7"]);

    // A queryable's face that closes before it finished ends the query for it.
    d.handle_message(&a, request(8, "q/2"));
    assert_eq!(sent(&b_rec), ["REQUEST q/2"]);
    d.face_closed(b.zid);
    assert_eq!(sent(&a_rec), ["U_QUERYABLE q/**", "RESPONSE_FINAL 8"]);

    // With no queryable left, a request is answered at once.
    d.handle_message(&a, request(9, "q/3"));
    assert_eq!(sent(&a_rec), ["RESPONSE_FINAL 9"]);
}

#[test]
fn a_peer_sends_tokens_to_a_client_only_once_it_asked() {
    let d = dispatcher(WhatAmI::Peer);
    let (c, c_rec) = open(&d, 2, WhatAmI::Client);
    let (p, p_rec) = open(&d, 3, WhatAmI::Peer);

    let token = d.add_token(key("t/mine"));
    assert_eq!(sent(&p_rec), ["D_TOKEN t/mine"]);
    assert!(sent(&c_rec).is_empty(), "the client did not ask");

    d.handle_message(
        &c,
        NetworkMessage::Interest(Interest {
            id: 4,
            mode: InterestMode::CurrentFuture,
            options: InterestOptions(InterestOptions::KEYEXPRS | InterestOptions::TOKENS),
            wire_expr: None,
            qos: NetQos::DECLARE,
            timestamp: None,
            node_id: 0,
        }),
    );
    assert_eq!(sent(&c_rec), ["D_TOKEN t/mine", "D_FINAL Some(4)"]);

    // Now it hears of new tokens, including a peer's.
    declare(
        &d,
        &p,
        DeclareBody::Token {
            id: 1,
            wire_expr: WireExpr::key("t/peer"),
        },
    );
    assert_eq!(sent(&c_rec), ["D_TOKEN t/peer"]);
    d.remove_token(token);
    assert_eq!(sent(&c_rec), ["U_TOKEN t/mine"]);
    assert_eq!(sent(&p_rec), ["U_TOKEN t/mine"]);
}

/// On a paused clock: a request nobody finishes ends at its timeout, not a moment
/// before, and what it still waited for is forgotten.
#[tokio::test(start_paused = true)]
async fn a_request_ends_at_its_timeout() {
    let d = dispatcher(WhatAmI::Router);
    let (a, a_rec) = open(&d, 2, WhatAmI::Client);
    let (b, b_rec) = open(&d, 3, WhatAmI::Peer);
    declare(
        &d,
        &b,
        DeclareBody::Queryable {
            id: 1,
            wire_expr: WireExpr::key("q/**"),
            complete: false,
            distance: 0,
        },
    );
    a_rec.take();

    d.handle_message(&a, request_within(7, "q/1", 500));
    let to_b = b_rec.take();
    let Some(NetworkMessage::Request(forwarded)) = to_b.first() else {
        panic!(
            "no request forwarded: {:?}",
            to_b.iter().map(summary).collect::<Vec<_>>()
        )
    };
    advance(Duration::from_millis(499)).await;
    assert!(sent(&a_rec).is_empty(), "ended before its timeout");
    advance(Duration::from_millis(1)).await;
    assert_eq!(sent(&a_rec), ["RESPONSE_FINAL 7"]);

    // b finishing late changes nothing: the request was forgotten.
    d.handle_message(
        &b,
        NetworkMessage::ResponseFinal(ResponseFinal {
            request_id: forwarded.id,
            qos: NetQos::RESPONSE,
            timestamp: None,
        }),
    );
    assert!(sent(&a_rec).is_empty());
}

/// On a paused clock: a peer's timeout of u64::MAX ms is capped (forwarded capped too),
/// and the request ends then.
#[tokio::test(start_paused = true)]
async fn a_peers_query_timeout_is_capped() {
    use super::super::queries::MAX_REMOTE_QUERY_TIMEOUT;
    let d = dispatcher(WhatAmI::Router);
    let (a, a_rec) = open(&d, 2, WhatAmI::Client);
    let (b, b_rec) = open(&d, 3, WhatAmI::Peer);
    declare(
        &d,
        &b,
        DeclareBody::Queryable {
            id: 1,
            wire_expr: WireExpr::key("q/**"),
            complete: false,
            distance: 0,
        },
    );
    a_rec.take();

    d.handle_message(&a, request_within(7, "q/1", u64::MAX));
    let to_b = b_rec.take();
    let Some(NetworkMessage::Request(forwarded)) = to_b.first() else {
        panic!(
            "no request forwarded: {:?}",
            to_b.iter().map(summary).collect::<Vec<_>>()
        )
    };
    assert_eq!(
        forwarded.timeout_ms,
        Some(MAX_REMOTE_QUERY_TIMEOUT.as_millis() as u64)
    );
    advance(MAX_REMOTE_QUERY_TIMEOUT - Duration::from_millis(1)).await;
    assert!(sent(&a_rec).is_empty(), "ended before the cap");
    advance(Duration::from_millis(1)).await;
    assert_eq!(sent(&a_rec), ["RESPONSE_FINAL 7"]);
}

/// A face that declares 20,000 subscribers with 4 KB keys gets as many as the key
/// bytes allow, the rest refused; a key beyond the length cap is refused even with
/// room; undeclaring frees room; the face's other traffic carries on.
#[test]
fn declarations_beyond_the_caps_are_refused_and_the_face_carries_on() {
    use super::super::limits::{MAX_DECLARED_BYTES, MAX_KEY_EXPR_LEN};
    let d = dispatcher(WhatAmI::Router);
    let (a, a_rec) = open(&d, 2, WhatAmI::Client);
    let (b, b_rec) = open(&d, 3, WhatAmI::Client);
    let long = |i: u32| format!("big/{i:05}/{}", "x".repeat(4000));
    for i in 0..20_000 {
        subscriber(&d, &a, i, &long(i));
    }
    let fit = MAX_DECLARED_BYTES / long(0).len();
    {
        let st = lock(&a.state);
        assert_eq!(st.remote_subs.len(), fit);
        assert_eq!(st.budget.count(), fit);
        assert!(st.budget.bytes() <= MAX_DECLARED_BYTES);
        assert!(
            st.remote_subs
                .values()
                .all(|k| k.as_str() < long(fit as u32).as_str())
        );
    }
    // b publishes on an accepted key and a refused one: only the first reaches a.
    let _ = b_rec.take();
    let _ = a_rec.take();
    push(&d, &b, WireExpr::key(long(0)), b"kept");
    push(&d, &b, WireExpr::key(long(19_999)), b"refused");
    let to_a = a_rec.take();
    assert_eq!(
        to_a.len(),
        1,
        "{:?}",
        to_a.iter().map(summary).collect::<Vec<_>>()
    );
    // Undeclaring frees room; a key beyond the length cap is refused even then.
    declare(
        &d,
        &a,
        DeclareBody::UndeclareSubscriber {
            id: 0,
            wire_expr: None,
        },
    );
    subscriber(&d, &a, 50_000, &"y".repeat(MAX_KEY_EXPR_LEN + 1));
    assert!(!lock(&a.state).remote_subs.contains_key(&50_000));
    subscriber(&d, &a, 50_001, "small/key");
    let st = lock(&a.state);
    assert!(st.remote_subs.contains_key(&50_001));
    assert_eq!(st.budget.count(), fit);
    drop(st);
    // Closing the face frees everything it declared.
    d.face_closed(a.zid);
    let st = lock(&a.state);
    assert!(st.remote_subs.is_empty());
    assert_eq!(st.budget.count(), 0);
}

/// The interest id of the INTEREST a face was sent.
fn interest_id(rec: &Recorder) -> u32 {
    let sent = rec.take();
    match sent.as_slice() {
        [NetworkMessage::Interest(i)] => i.id,
        other => panic!(
            "expected one INTEREST, got {:?}",
            other.iter().map(summary).collect::<Vec<_>>()
        ),
    }
}

/// On a paused clock: a liveliness query ends when every router asked has answered or
/// closed, else at its timeout.
#[tokio::test(start_paused = true)]
async fn a_liveliness_query_ends_when_every_router_is_done_or_at_its_timeout() {
    use crate::handlers::{FifoChannel, IntoHandler};

    let d = dispatcher(WhatAmI::Client);
    let (r1, r1_rec) = open(&d, 2, WhatAmI::Router);
    let (r2, r2_rec) = open(&d, 3, WhatAmI::Router);

    let (callback, replies) = FifoChannel(16).into_handler();
    d.live_get(key("t/**"), Duration::from_secs(3600), callback);
    let id = interest_id(&r1_rec);
    assert_eq!(interest_id(&r2_rec), id, "one interest id for the query");
    d.handle_message(
        &r1,
        declare_msg(
            Some(id),
            DeclareBody::Token {
                id: 1,
                wire_expr: WireExpr::key("t/a"),
            },
        ),
    );
    d.handle_message(&r1, declare_msg(Some(id), DeclareBody::Final));
    assert!(!replies.is_disconnected(), "r2 has not answered");
    // r2 closes: it will never answer, so the query ends now.
    d.face_closed(r2.zid);
    assert!(replies.is_disconnected(), "ended when r2 closed");
    let got: Vec<String> = replies
        .drain()
        .map(|r| r.into_result().expect("ok").key_expr().to_string())
        .collect();
    assert_eq!(got, ["t/a"]);

    // r1 never answers the next one: it ends at its timeout.
    let (callback, replies) = FifoChannel(16).into_handler();
    d.live_get(key("t/**"), Duration::from_millis(500), callback);
    let id = interest_id(&r1_rec);
    advance(Duration::from_millis(499)).await;
    assert!(!replies.is_disconnected(), "ended before its timeout");
    advance(Duration::from_millis(1)).await;
    assert!(replies.is_disconnected(), "did not end at its timeout");
    // A late answer is dropped: the query was forgotten.
    d.handle_message(&r1, declare_msg(Some(id), DeclareBody::Final));
    assert!(replies.is_empty());
}

/// Moves the paused clock on by `d`, then lets every task the timers woke run (one
/// runtime thread: each yield runs the tasks already woken).
async fn advance(d: Duration) {
    tokio::time::advance(d).await;
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}
