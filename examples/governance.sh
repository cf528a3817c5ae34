#!/usr/bin/env bash
# Governance on the shipped corpus: three validators change κ by liquid democracy. v1
# proposes and votes with conviction 2, v2 delegates to v1, v3 delegates its `params`
# weight to v1 but votes no itself (a direct vote overrides a delegation). The proposal is
# decided when its epoch closes and holds from the next epoch.
#
#   examples/governance.sh [WORKDIR]
#
# MASA names the masa binary (default: `cargo run --release --quiet --`).
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a MASA <<< "${MASA:-cargo run --release --quiet --}"
WORK=${1:-$(mktemp -d "${TMPDIR:-/tmp}/masa-governance.XXXXXX")}
DS=$WORK/dataset
masa() { local who=$1; shift; "${MASA[@]}" --home "$WORK/$who" "$@"; }
key() { masa "$1" init | sed -n 's/^contributor public key: //p'; }

for who in creator v1 v2 v3; do masa "$who" init >/dev/null; done
masa v1 contribute --files examples/corpus/notes --dataset "$DS" >/dev/null
cat > "$WORK/params.toml" <<'TOML'
[governance]
decision_epochs = 1   # decided when the epoch it was proposed in closes
TOML
masa creator init-protocol --dataset "$DS" --epoch-length 4 --params "$WORK/params.toml" \
  --allocate "$(key v1)=1000" --allocate "$(key v2)=1000" --allocate "$(key v3)=1000"
masa v1 stake 500 --role validator --dataset "$DS"
masa v2 stake 300 --role validator --dataset "$DS"
masa v3 stake 200 --role validator --dataset "$DS"

echo "== v1 proposes κ = 0.55"
ID=$(masa v1 propose --set kappa=0.55 --title "raise kappa to 0.55" --dataset "$DS" | sed 's/^proposal //')
masa v1 vote "$ID" yes --conviction 2 --dataset "$DS"
masa v2 delegate "$(key v1)" --dataset "$DS"
masa v3 delegate "$(key v1)" --scope params --dataset "$DS"
masa v3 vote "$ID" no --dataset "$DS"
masa creator proposals --dataset "$DS"

echo "== epochs close until the proposal is decided"
until masa creator proposals --json --dataset "$DS" | grep -q '"enacted"\|"rejected"'; do
  out=$(masa creator epoch close --dataset "$DS")
  echo "$out"
  case "$out" in nothing*) masa v1 transfer 1 --to "$(key creator)" --dataset "$DS" >/dev/null ;; esac
done
masa creator tally "$ID" --dataset "$DS"
masa creator proposals --dataset "$DS"
masa creator state --dataset "$DS" | grep -E '^(params|protocol)'
echo "work folder: $WORK"
