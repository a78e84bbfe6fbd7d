#!/bin/bash
set -u
BIN=${BIN:-$PWD/target/debug/examples/zmesh_rec}
PROXY=${PROXY:-$PWD/../shared/tools/wire-proxy.py}
OUT=${OUT_DIR:-/tmp/mesh-rec}/$1; mkdir -p $OUT; cd $OUT
read P1 P2 P3 Q1 Q2 < <(python3 -c 'import socket
s=[socket.socket() for _ in range(5)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
wait_ready() { for i in $(seq 100); do grep -q "$2" $1 2>/dev/null && return 0; sleep 0.1; done; echo "timeout $1"; }
$BIN router --id a1 --listen tcp/127.0.0.1:$P1 --secs 14 --weights '[{dst_zid: "b2", weight: 77}]' > r1.log 2>&1 &
wait_ready r1.log ready
python3 $PROXY --listen 127.0.0.1:$Q1 --forward 127.0.0.1:$P1 --seconds 12 --out x1 > x1.log 2>&1 &
wait_ready x1.log listening
$BIN router --id b2 --listen tcp/127.0.0.1:$P2 --connect tcp/127.0.0.1:$Q1 --secs 14 > r2.log 2>&1 &
wait_ready r2.log ready
python3 $PROXY --listen 127.0.0.1:$Q2 --forward 127.0.0.1:$P2 --seconds 12 --out x2 > x2.log 2>&1 &
wait_ready x2.log listening
$BIN router --id c3 --listen tcp/127.0.0.1:$P3 --connect tcp/127.0.0.1:$Q2 --secs 14 > r3.log 2>&1 &
wait_ready r3.log ready
sleep 1
$BIN lsub --id 11 --connect tcp/127.0.0.1:$P1 --key 'tok/**' --secs 6 > lsub.log 2>&1 &
wait_ready lsub.log ready
$BIN token --id 22 --connect tcp/127.0.0.1:$P3 --key 'tok/c' --secs 2 > token.log 2>&1
sleep 1
$BIN admin --connect tcp/127.0.0.1:$P1 --key '@/a1/router' --secs 2 > admin.log 2>&1
wait
