#!/usr/bin/env bash
# Stores a series of files (oldest first) in one deltaspace of a fresh local store, prints what
# `dg ls --summarize` says and the upload and download wall times, then downloads everything
# again and compares it with `cmp`: the measurement behind the tables of docs/gzip.md.
#
#   bench/series.sh NAME FILE...          # DG=path/to/dg to measure another build
#
# Examples (PyPI is the only registry these need):
#   bench/series.sh jpype $(bench/series.sh --pypi JPype1 1.5.1 1.5.2 1.6.0)
#   bench/series.sh jep   $(bench/series.sh --pypi jep 4.2.1 4.2.2 4.3.0 4.3.1 4.3.2)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work=${DG_BENCH_DIR:-/tmp/dg-series}

if [ "${1:-}" = "--pypi" ]; then
  # --pypi PROJECT VERSION...: downloads each version's sdist, prints the paths
  project=$2; shift 2
  mkdir -p "$work/pypi"
  python3 - "$work/pypi" "$project" "$@" <<'PY'
import json, os, sys, urllib.request
out, project, versions = sys.argv[1], sys.argv[2], sys.argv[3:]
meta = json.load(urllib.request.urlopen(f"https://pypi.org/pypi/{project}/json"))
for v in versions:
    sdists = [f for f in meta["releases"].get(v, []) if f["packagetype"] == "sdist"]
    if not sdists:
        sys.exit(f"{project} {v}: no sdist on PyPI")
    path = os.path.join(out, sdists[0]["filename"])
    if not os.path.exists(path):
        urllib.request.urlretrieve(sdists[0]["url"], path)
    print(path)
PY
  exit 0
fi

[ $# -ge 2 ] || { sed -n 2,10p "$0"; exit 2; }
name=$1; shift
if [ -z "${DG:-}" ]; then
  cargo build --release -q -p dg-cli --manifest-path "$root/Cargo.toml"
  DG="$root/target/release/dg"
fi
store="$work/store-$name"; back="$work/back-$name"
rm -rf "$store" "$back"; mkdir -p "$store"
export AWS_ENDPOINT_URL="file://$store"
"$DG" -q mb s3://bench

total=0
start=$(date +%s.%N)
for f in "$@"; do
  "$DG" cp "$f" "s3://bench/$name/" | tail -1
  total=$((total + $(stat -c %s "$f")))
done
up=$(echo "$(date +%s.%N) - $start" | bc)
"$DG" ls --summarize "s3://bench/$name/" | tail -4
start=$(date +%s.%N)
"$DG" -q cp -r "s3://bench/$name/" "$back/"
down=$(echo "$(date +%s.%N) - $start" | bc)
for f in "$@"; do cmp "$f" "$back/$(basename "$f")"; done
echo "$# files, $total bytes; up ${up} s, down ${down} s; all identical (cmp)"
