#!/usr/bin/env bash
# The full `velo bench` matrix of BENCHMARKS.md: every scenario, mode and partition
# count as its own process (so one measurement's memory and threads do not affect the
# next), two rounds interleaved, plus S3b at batches of 1,000 and the original preset.
# Output: JSON lines (one per measurement, with "round" and the preset added).
#
# Usage: scripts/bench-matrix.sh [path/to/velo] [out.jsonl] [repeat]
# (build first: cargo build --release). About 5 minutes on 2 cores at repeat 10.
set -euo pipefail
VELO=${1:-target/release/velo}
OUT=${2:-bench-matrix.jsonl}
REPEAT=${3:-10}
: > "$OUT"
tag() { sed "s/^{/{\"round\":$1,\"preset\":\"$2\",/" >> "$OUT"; }
for round in 1 2; do
  for s in S0 S1 S2 S3a S3b; do
    for mode in mem file file-to-file; do
      for p in 1 2; do
        "$VELO" bench --scenario "$s" --mode "$mode" -p "$p" --repeat "$REPEAT" --json | tag "$round" scale
      done
    done
  done
  for mode in mem file; do
    for p in 1 2; do
      "$VELO" bench --scenario S3b --batch-size 1000 --mode "$mode" -p "$p" --repeat "$REPEAT" --json | tag "$round" scale-b1000
    done
  done
  for p in 1 2; do
    "$VELO" bench --preset original --scenario all --mode all -p "$p" --repeat 20 --json | tag "$round" original
  done
done
echo "wrote $(wc -l < "$OUT") measurements to $OUT"
