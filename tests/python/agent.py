#!/usr/bin/env python3
"""A Zenoh client or peer written with the official Python binding (eclipse-zenoh 1.10.2),
driven by tests/python_interop.rs.

Commands arrive as JSON lines on stdin; each is answered by exactly one line
``{"ok": <op>, ...}`` or ``{"err": <op>, "error": <text>}``, in order. Events from callbacks
(samples, queries, liveliness changes) are ``{"ev": <kind>, ...}`` lines written at any
time. Payloads are described, not printed: length and CRC-32. The process exits at end
of input or on ``{"op": "close"}``.
"""

import json
import sys
import threading
import zlib

import zenoh

_out = threading.Lock()
_entities = {}
_session = None

POINTS = {"S": "set_send", "R": "set_route", "E": "set_receive"}


def emit(obj):
    line = json.dumps(obj)
    with _out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def pattern(n, seed=0):
    """The payload of n bytes the Rust side expects: byte i is (i + seed) % 251."""
    base = bytes((i + seed) % 251 for i in range(251))
    return (base * (n // 251 + 1))[:n]


def instrumentation(points):
    if not points:
        return None
    b = zenoh.TimestampInstrumentationBuilder()
    for p in points:
        b = getattr(b, POINTS[p])(True)
    return b.build()


def point_name(p):
    for name in ("SEND", "ROUTE", "RECEIVE"):
        if p == getattr(zenoh.InterceptionPoint, name):
            return name.lower()
    return str(p)


def stack(st):
    if st is None:
        return None
    recs = []
    for r in st.records:
        ts = r.timestamp()
        recs.append({"point": point_name(r.point), "custom": r.is_custom,
                     "ts": None if r.is_custom else str(ts)})
    return recs


def sample(s):
    payload = s.payload.to_bytes()
    return {
        "key": str(s.key_expr),
        "kind": "put" if s.kind == zenoh.SampleKind.PUT else "delete",
        "len": len(payload),
        "crc": zlib.crc32(payload),
        "text": payload.decode("utf-8", "replace") if len(payload) <= 32 else None,
        "attachment": None if s.attachment is None else s.attachment.to_bytes().decode("utf-8", "replace"),
        "ts": None if s.timestamp is None else str(s.timestamp),
        "stack": stack(s.timestamp_stack),
    }


def reply(r):
    if r.ok is not None:
        return dict(sample(r.ok), ok=True)
    err = r.err.payload.to_bytes()
    return {"ok": False, "text": err.decode("utf-8", "replace"),
            "stack": stack(r.err.timestamp_stack)}


def payload_of(c):
    if "text" in c:
        return c["text"].encode()
    return pattern(c.get("len", 0), c.get("seed", 0))


def op_open(c):
    global _session
    conf = zenoh.Config()
    conf.insert_json5("mode", json.dumps(c["mode"]))
    conf.insert_json5("scouting/multicast/enabled", "false")
    conf.insert_json5("connect/endpoints", json.dumps(c.get("connect", [])))
    conf.insert_json5("listen/endpoints", json.dumps(c.get("listen", [])))
    for k, v in c.get("cfg", {}).items():
        conf.insert_json5(k, json.dumps(v))
    _session = zenoh.open(conf)
    return {"zid": str(_session.zid())}


def op_sub(c):
    name = c["name"]
    _entities[name] = _session.declare_subscriber(
        c["key"], lambda s: emit(dict(sample(s), ev="sample", sub=name)))


def op_put(c):
    instr = instrumentation(c.get("instrument"))
    block = {"congestion_control": zenoh.CongestionControl.BLOCK} if c.get("block") else {}
    pub = _session.declare_publisher(c["key"], **block) if c.get("publisher") else None
    for i in range(c.get("count", 1)):
        payload = str(i).encode() if c.get("seq") else payload_of(c)
        kw = {"timestamp_instrumentation": instr}
        if "attachment" in c:
            kw["attachment"] = c["attachment"].encode()
        if pub is not None:
            pub.put(payload, **kw)
        else:
            _session.put(c["key"], payload, **kw, **block)
    if pub is not None:
        pub.undeclare()


def op_delete(c):
    _session.delete(c["key"], timestamp_instrumentation=instrumentation(c.get("instrument")))


def op_queryable(c):
    name = c["name"]
    answers = c.get("replies", [])

    def on_query(q):
        emit({"ev": "query", "qbl": name, "key": str(q.key_expr),
              "params": str(q.parameters), "stack": stack(q.timestamp_stack)})
        with q:
            for a in answers:
                if a.get("err"):
                    q.reply_err(a.get("text", "").encode())
                elif a.get("delete"):
                    q.reply_del(a["key"])
                else:
                    q.reply(a["key"], payload_of(a))

    _entities[name] = _session.declare_queryable(c["key"], on_query, complete=c.get("complete", False))


def collect(replies):
    return {"replies": [reply(r) for r in replies]}


def op_get(c):
    kw = {"timestamp_instrumentation": instrumentation(c.get("instrument")),
          "timeout": c.get("timeout", 10)}
    if c.get("target") == "all":
        kw["target"] = zenoh.QueryTarget.ALL
    return collect(_session.get(c["selector"], **kw))


def op_querier(c):
    _entities[c["name"]] = _session.declare_querier(c["key"], timeout=c.get("timeout", 10))


def op_querier_get(c):
    q = _entities[c["name"]]
    kw = {"timestamp_instrumentation": instrumentation(c.get("instrument"))}
    if "params" in c:
        kw["parameters"] = c["params"]
    return collect(q.get(**kw))


def op_token(c):
    _entities[c["name"]] = _session.liveliness().declare_token(c["key"])


def op_live_sub(c):
    name = c["name"]

    def on_change(s):
        emit({"ev": "live", "sub": name, "key": str(s.key_expr),
              "kind": "put" if s.kind == zenoh.SampleKind.PUT else "delete"})

    _entities[name] = _session.liveliness().declare_subscriber(
        c["key"], on_change, history=c.get("history", False))


def op_live_get(c):
    return {"keys": sorted(str(r.ok.key_expr) for r in
                           _session.liveliness().get(c["key"], timeout=c.get("timeout", 10))
                           if r.ok is not None)}


def op_undeclare(c):
    _entities.pop(c["name"]).undeclare()


def op_close(_c):
    for e in list(_entities.values()):
        e.undeclare()
    _entities.clear()
    if _session is not None:
        _session.close()


OPS = {name[3:]: fn for name, fn in globals().items() if name.startswith("op_")}


def main():
    zenoh.init_log_from_env_or("error")
    emit({"ev": "ready", "zenoh": "1.10.2"})
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        c = json.loads(line)
        op = c["op"]
        try:
            res = OPS[op](c) or {}
            emit(dict(res, ok=op))
        except Exception as e:  # reported to the test, which fails with it
            emit({"err": op, "error": f"{type(e).__name__}: {e}"})
        if op == "close":
            break


if __name__ == "__main__":
    main()
