#!/usr/bin/env bash
# The oracle service on the shipped corpus: contribute, create a key, serve, then use the
# API as an oracle would: search with facets, page with a cursor, read a record and check
# its proof offline, export the matches as NDJSON. Stops the service with SIGTERM.
#
#   examples/serve.sh [WORKDIR]
#
# MASA names the masa binary (default: `cargo run --release --quiet --`). HTTP requests are
# made with Python's standard library (curl works the same way).
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a MASA <<< "${MASA:-cargo run --release --quiet --}"
WORK=${1:-$(mktemp -d "${TMPDIR:-/tmp}/masa-serve.XXXXXX")}
DS=$WORK/dataset
masa() { "${MASA[@]}" --home "$WORK/home" "$@"; }
get() {  # get PATH: the answer's body, failing on an HTTP error
  python3 - "$BASE$1" "$KEY" <<'PY'
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
sys.stdout.write(urllib.request.urlopen(req).read().decode())
PY
}
field() { python3 -c "import json,sys; v=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

masa init >/dev/null
masa contribute --files examples/corpus --dataset "$DS" >/dev/null
KEY=$(masa keys create --scope search,records,export --rate 50/s --dataset "$DS")
"${MASA[@]}" --home "$WORK/home" serve --dataset "$DS" --listen 127.0.0.1:0 --meter-interval 0 \
  > "$WORK/serve.out" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
until BASE=$(sed -n 's/^listening on //p' "$WORK/serve.out") && [ -n "$BASE" ]; do sleep 0.1; done

echo "== search: the first page of two, with facets"
PAGE=$(get "/v1/search?q=data&limit=2&facets=true")
echo "$PAGE" | field '[h["title"] for h in v["hits"]]'
echo "$PAGE" | field '{f: [(c["value"][:12], c["count"]) for c in cs] for f, cs in v["facets"].items()}'
CURSOR=$(echo "$PAGE" | field 'v["next_cursor"]')
echo "== the next page, at the same table version"
get "/v1/search?q=data&limit=2&cursor=$CURSOR" | field '(v["table_version"], [h["title"] for h in v["hits"]])'

echo "== a record, and its proof checked offline"
ID=$(echo "$PAGE" | field 'v["hits"][0]["record_id"]')
get "/v1/records/$ID" | field 'json.dumps(v["proof"])' > "$WORK/proof.json"
masa verify-proof "$WORK/proof.json" --dataset "$DS"

echo "== export every match"
get "/v1/export?q=data" | wc -l | sed 's/$/ records exported/'
kill -TERM $SERVER && wait $SERVER
trap - EXIT
echo "== stopped"
