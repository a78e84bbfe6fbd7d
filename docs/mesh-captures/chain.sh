#!/bin/bash
# chain: R1(a1) <-X1- R2(b2) <-X2- R3(c3); sub+qabl client on R3, pub+get client on R1; then kill R3.
set -u
BIN=${BIN:-$PWD/target/debug/examples/zmesh_rec}
PROXY=${PROXY:-$PWD/../shared/tools/wire-proxy.py}
OUT=${OUT_DIR:-/tmp/mesh-rec}/$1; mkdir -p $OUT; cd $OUT
read P1 P2 P3 Q1 Q2 < <(python3 -c 'import socket
s=[socket.socket() for _ in range(5)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
echo "ports R1=$P1 R2=$P2 R3=$P3 X1=$Q1 X2=$Q2" > ports.txt
wait_ready() { for i in $(seq 100); do grep -q "$2" $1 2>/dev/null && return 0; sleep 0.1; done; echo "timeout $1"; }
$BIN router --id a1 --listen tcp/127.0.0.1:$P1 --secs 30 > r1.log 2>&1 &
wait_ready r1.log ready
python3 $PROXY --listen 127.0.0.1:$Q1 --forward 127.0.0.1:$P1 --seconds 20 --out x1 > x1.log 2>&1 &
wait_ready x1.log listening
$BIN router --id b2 --listen tcp/127.0.0.1:$P2 --connect tcp/127.0.0.1:$Q1 --secs 30 > r2.log 2>&1 &
wait_ready r2.log ready
python3 $PROXY --listen 127.0.0.1:$Q2 --forward 127.0.0.1:$P2 --seconds 20 --out x2 > x2.log 2>&1 &
wait_ready x2.log listening
$BIN router --id c3 --listen tcp/127.0.0.1:$P3 --connect tcp/127.0.0.1:$Q2 --secs 30 > r3.log 2>&1 &
R3PID=$!
wait_ready r3.log ready
sleep 1.5
timeout -s INT 20 $BIN sub --id 5ab --connect tcp/127.0.0.1:$P3 --key 'mesh/**' --count 3 --secs 10 > sub.log 2>&1 &
timeout -s INT 20 $BIN qabl --id 9ab --connect tcp/127.0.0.1:$P3 --key 'mesh/q' --secs 6 > qabl.log 2>&1 &
wait_ready sub.log ready; wait_ready qabl.log ready
sleep 1
timeout -s INT 20 $BIN pub --id 9b --connect tcp/127.0.0.1:$P1 --key 'mesh/x' --count 3 > pub.log 2>&1
timeout -s INT 20 $BIN get --id 6e7 --connect tcp/127.0.0.1:$P1 --key 'mesh/q' --secs 3 > get.log 2>&1
timeout -s INT 20 $BIN admin --connect tcp/127.0.0.1:$P2 --key '@/b2/router/linkstate/**' --secs 2 > admin_r2.log 2>&1
timeout -s INT 20 $BIN admin --connect tcp/127.0.0.1:$P1 --key '@/a1/router/**' --secs 2 > admin_r1.log 2>&1
sleep 1
kill -KILL $R3PID
sleep 2
timeout -s INT 20 $BIN admin --connect tcp/127.0.0.1:$P2 --key '@/b2/router/linkstate/**' --secs 2 > admin_r2_after.log 2>&1
wait
echo done
