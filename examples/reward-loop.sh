#!/usr/bin/env bash
# The whole reward loop on the shipped corpus: two contributors (alice, bob), three
# validators (v1, v2, v3) and the dataset's creator, each with a masa home of its own.
#
#   examples/reward-loop.sh [WORKDIR]
#
# MASA names the masa binary (default: `cargo run --release --quiet --`). Everything is
# written under WORKDIR (default: a new temporary folder); nothing else is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a MASA <<< "${MASA:-cargo run --release --quiet --}"
WORK=${1:-$(mktemp -d "${TMPDIR:-/tmp}/masa-reward-loop.XXXXXX")}
DS=$WORK/dataset
masa() { local who=$1; shift; "${MASA[@]}" --home "$WORK/$who" "$@"; }
key() { masa "$1" init | sed -n 's/^contributor public key: //p'; }

echo "== keys"
for who in creator alice bob v1 v2 v3; do
  masa "$who" init >/dev/null
  printf '%-8s %s\n' "$who" "$(key "$who")"
done

echo "== alice and bob contribute (the dataset is created by the first)"
masa alice contribute --files examples/corpus/notes --dataset "$DS" >/dev/null
masa bob contribute --files examples/corpus/pages --dataset "$DS" >/dev/null

echo "== the creator starts the protocol: epochs of 6 log leaves, initial balances"
# Epoch 0 holds the two batches and ends 6 leaves after the genesis, right after the five
# stakes below: its contributions are then ready to be audited.
masa creator init-protocol --dataset "$DS" --epoch-length 6 \
  --allocate "$(key alice)=100" --allocate "$(key bob)=100" \
  --allocate "$(key v1)=1000" --allocate "$(key v2)=1000" --allocate "$(key v3)=1000"

echo "== stakes: contributors as workers, validators above the 100 MASA permit"
masa alice stake 50 --role worker --dataset "$DS"
masa bob stake 50 --role worker --dataset "$DS"
masa v1 stake 500 --role validator --dataset "$DS"
masa v2 stake 300 --role validator --dataset "$DS"
masa v3 stake 200 --role validator --dataset "$DS"

echo "== each validator audits and publishes its weights over the contributors"
for v in v1 v2 v3; do
  masa "$v" audit --dataset "$DS" | grep -E '^(findings|weights|  weight)'
done

echo "== the epoch closes: consensus, emission"
masa creator epoch close --dataset "$DS"
masa creator epoch close --dataset "$DS"   # idempotent: nothing more to close

echo "== results"
masa creator rewards --dataset "$DS"
masa creator rewards weights --format bittensor --dataset "$DS"
masa creator state --dataset "$DS"
echo "work folder: $WORK"
