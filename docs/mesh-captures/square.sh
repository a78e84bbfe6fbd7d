#!/bin/bash
# square: a1 -X12- b2 -X24- d4 -X34- c3 -X13- a1 ; a1 weights c3 at 200 (so a1->d4 goes via b2)
# sub client on d4, pub client on a1 (20 puts, 200 ms apart); SIGKILL b2 mid-run.
set -u
BIN=${BIN:-$PWD/target/debug/examples/zmesh_rec}
PROXY=${PROXY:-$PWD/../shared/tools/wire-proxy.py}
OUT=${OUT_DIR:-/tmp/mesh-rec}/$1; mkdir -p $OUT; cd $OUT
read P1 P2 P3 P4 X12 X13 X24 X34 < <(python3 -c 'import socket
s=[socket.socket() for _ in range(8)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
echo "ports a1=$P1 b2=$P2 c3=$P3 d4=$P4 X12=$X12 X13=$X13 X24=$X24 X34=$X34" > ports.txt
wait_ready() { for i in $(seq 100); do grep -q "$2" $1 2>/dev/null && return 0; sleep 0.1; done; echo "timeout $1"; }
$BIN router --id a1 --listen tcp/127.0.0.1:$P1 --secs 25 --weights '[{dst_zid: "c3", weight: 200}]' > a1.log 2>&1 &
wait_ready a1.log ready
python3 $PROXY --listen 127.0.0.1:$X12 --forward 127.0.0.1:$P1 --seconds 22 --out x12 > x12.log 2>&1 &
python3 $PROXY --listen 127.0.0.1:$X13 --forward 127.0.0.1:$P1 --seconds 22 --out x13 > x13.log 2>&1 &
wait_ready x12.log listening; wait_ready x13.log listening
$BIN router --id b2 --listen tcp/127.0.0.1:$P2 --connect tcp/127.0.0.1:$X12 --secs 25 > b2.log 2>&1 &
B2PID=$!
$BIN router --id c3 --listen tcp/127.0.0.1:$P3 --connect tcp/127.0.0.1:$X13 --secs 25 > c3.log 2>&1 &
wait_ready b2.log ready; wait_ready c3.log ready
python3 $PROXY --listen 127.0.0.1:$X24 --forward 127.0.0.1:$P2 --seconds 20 --out x24 > x24.log 2>&1 &
python3 $PROXY --listen 127.0.0.1:$X34 --forward 127.0.0.1:$P3 --seconds 20 --out x34 > x34.log 2>&1 &
wait_ready x24.log listening; wait_ready x34.log listening
$BIN router --id d4 --listen tcp/127.0.0.1:$P4 --connect tcp/127.0.0.1:$X24 --connect tcp/127.0.0.1:$X34 --secs 25 > d4.log 2>&1 &
wait_ready d4.log ready
sleep 1.5
$BIN sub --id 5ab --connect tcp/127.0.0.1:$P4 --key 'mesh/**' --count 20 --secs 12 > sub.log 2>&1 &
wait_ready sub.log ready
sleep 1
$BIN admin --connect tcp/127.0.0.1:$P1 --key '@/*/router/linkstate/north' --secs 2 > admin_before.log 2>&1
$BIN pub --id 9b --connect tcp/127.0.0.1:$P1 --key 'mesh/x' --count 20 > pub.log 2>&1 &
sleep 1.9
kill -KILL $B2PID; echo "killed b2 at $(date +%s.%N)" > kill.log
sleep 2
$BIN admin --connect tcp/127.0.0.1:$P1 --key '@/*/router/linkstate/north' --secs 2 > admin_after.log 2>&1
wait
echo done
