#!/usr/bin/env bash
# Instructions the builtin target's main thread executes per 4 KiB I/O at queue depth 1, counted by callgrind:
# unlike time, the count does not depend on what else the machine is doing, so two commits can be compared on a
# busy machine. (It counts user space only; the kernel's share and cache misses are not in it.) The busy-poll window
# is off: its polling costs instructions in proportion to the time spent waiting, which is what this count avoids.
# Usage: bash bench/qd1-instructions.sh [count]     (needs valgrind and qemu-img; takes about two minutes)
set -euo pipefail
N=${1:-5000}
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'kill -INT $vp 2>/dev/null || true; rm -rf "$out"' EXIT
valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out/cg.%p" \
  node --import tsx bench/target-standalone.ts --serve --sync-always --busy-poll 0 >"$out/url" 2>"$out/err" &
vp=$!
for _ in $(seq 120); do grep -q json "$out/url" 2>/dev/null && break; sleep 1; done
url=$(cat "$out/url")
run() { qemu-img bench -t none -c "$1" -d 1 -s 4096 -S 1052672 ${2:+-w --pattern=90} "$url" >/dev/null; }
qemu-img bench -t none -w --pattern=90 -c 256 -d 4 -s 1048576 "$url" >/dev/null
# Warm up until the JIT has optimised the data path; then count each case from zero.
for _ in 1 2; do run 3000; run 3000 w; done
for c in read write; do
  callgrind_control -z "$vp" >/dev/null 2>&1
  if [ "$c" = read ]; then run "$N"; else run "$N" w; fi
  callgrind_control -d "$c" "$vp" >/dev/null 2>&1
done
kill -INT "$vp"; wait "$vp" || true
i=1
for c in read write; do
  total=$(sed -n 's/^summary: *//p' "$out"/cg.*."$i"-01)
  printf '%-5s %6d instructions per I/O (main thread, %d I/Os)\n' "$c" $((total / N)) "$N"
  i=$((i + 1))
done
