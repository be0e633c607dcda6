#!/bin/bash
# Five nodes on one PostgreSQL + one NATS (both on this machine), 18,000 idle
# visitors each (90,000), then a chatting load across all five while they are
# held (BENCHMARKS.md, "Five nodes"). Needs psql, PostgreSQL on 127.0.0.1:5432
# (user postgres, trust) and NATS on 4222. Build first:
#   CGO_ENABLED=0 go build -o switchboard ./cmd/switchboard
# Results: $OUT/idle*.json (held, reachable, RSS per socket), $OUT/chat.txt.
set -u
SB=${SB:-./switchboard}
OUT=${OUT:-/tmp/sb5}
mkdir -p "$OUT"
DB=sb5_$(date +%s)
PGA='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'
DSN="postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable"
psql "$PGA" -qc "CREATE DATABASE $DB" || exit 1
$SB migrate --store "$DSN" || exit 1
ulimit -n 20000
PIDS=()
for i in 1 2 3 4 5; do
  mkdir -p $OUT/n$i
  $SB serve --store "$DSN" --bus nats://127.0.0.1:4222 --bus-subject sb5.$DB --node-id n$i \
    --data $OUT/n$i --addr 127.0.0.$i:1809$i --visitor-session-burst 1000000 \
    $( [ $i = 1 ] && echo --demo ) > $OUT/n$i.log 2>&1 &
  PIDS+=($!)
  [ $i = 1 ] && sleep 4
done
sleep 4
for i in 1 2 3 4 5; do curl -sf http://127.0.0.$i:1809$i/readyz >/dev/null || echo "node $i not ready"; done
BP=()
for i in 1 2 3 4 5; do
  a=$(( (i-1)*4 + 11 )); b=$(( a + 3 ))
  $SB bench --target http://127.0.0.$i:1809$i --server-pid ${PIDS[$((i-1))]} --visitors 18000 --idle \
    --connect-rate 600 --duration 150s --source-ips 127.0.0.$a-127.0.0.$b --quiet --json > $OUT/idle$i.json 2>$OUT/idle$i.err &
  BP+=($!)
done
# While the idle sockets are held: visitors and agents chatting across the five nodes.
sleep 110
T=http://127.0.0.1:18091,http://127.0.0.2:18092,http://127.0.0.3:18093,http://127.0.0.4:18094,http://127.0.0.5:18095
$SB bench --target $T --visitors 100 --agents 10 --rate 100 --agent-replies --duration 20s --drain 15s --source-ips 127.0.0.40-127.0.0.41 --quiet > $OUT/chat.txt 2>&1
echo "chat bench exit $?" >> $OUT/chat.txt
for p in "${BP[@]}"; do wait $p; echo "idle bench exit $?"; done
for i in 1 2 3 4 5; do ps -o rss= -p ${PIDS[$((i-1))]}; done > $OUT/rss.txt
kill "${PIDS[@]}"; wait
psql "$PGA" -qc "DROP DATABASE $DB WITH (FORCE)"
echo done
