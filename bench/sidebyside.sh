#!/usr/bin/env bash
# Side by side, in one run: for each series directory (files oldest first), every file is
# uploaded with one process per file, as a CI job does, then every file is downloaded the same
# way, by Python deltaglider 6.2.0, dg --format compat and dg native, each into its own prefix
# of one local S3 server (moto on 127.0.0.1). Prints per tool and series: time up, time down
# (cold: a fresh cache directory per process, as each fresh CI job has), time down again with
# the shared cache a first job's downloads left (warm: one cache directory and
# DG_CACHE_ENCRYPTION_KEY for every process), stored/original, and whether every file came
# back byte-identical. Tools: python, compat, native (the default level), native-fast,
# native-best; with DG_BASE (another dg binary, e.g. the last release) also compat-base,
# native-base…: the same tool run by that binary, for before/after figures in one run.
#
#   bench/sidebyside.sh SERIES_DIR...       e.g. bench/sidebyside.sh target/corpus/{pip,botocore}
#
# Environment: DG (dg binary; default: a release build of this checkout), DG_BASE (a second dg
# binary for the -base tools), DG_BENCH_VENV (venv
# with deltaglider 6.2.0 and moto; made from PyPI when missing), DG_BENCH_TOOLS (default
# "python compat native"), DG_BENCH_DIR (work directory; default a fresh one under /tmp).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -ge 1 ] || { sed -n 2,18p "$0"; exit 2; }
venv=${DG_BENCH_VENV:-$root/target/interop-venv}
tools=${DG_BENCH_TOOLS:-python compat native}
if [ -z "${DG:-}" ]; then
  cargo build --release -q -p dg-cli --manifest-path "$root/Cargo.toml"
  DG="$root/target/release/dg"
fi
if ! "$venv/bin/python" -c 'import moto, flask, flask_cors, deltaglider' 2>/dev/null; then
  echo "sidebyside: creating $venv (deltaglider 6.2.0, moto 5.2.5)" >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    'deltaglider==6.2.0' 'moto[s3]==5.2.5' flask flask-cors
fi
work=${DG_BENCH_DIR:-$(mktemp -d /tmp/dg-sidebyside.XXXXXX)}
mkdir -p "$work"
tool=$root/tests/interop/s3tool.py
port=$("$venv/bin/python" "$tool" free-port)
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT
unset AWS_PROFILE AWS_SESSION_TOKEN DG_FORMAT DG_ENGINE DG_CACHE_DIR DG_CACHE_ENCRYPTION_KEY DG_LOG_LEVEL
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=$work/none AWS_SHARED_CREDENTIALS_FILE=$work/none
export DG_DISABLE_EC2_DETECTION=1 DG_SUPPRESS_DEPRECATION=1 NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
"$venv/bin/python" "$tool" buckets "$AWS_ENDPOINT_URL" bench >/dev/null

now() { date +%s.%N; }
# stored bytes under a prefix, whatever wrote them
stored() {
  "$venv/bin/python" - "$1" <<'PY'
import os, sys, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], config=Config(s3={"addressing_style": "path"}))
total = 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="bench", Prefix=sys.argv[1]):
    total += sum(o["Size"] for o in page.get("Contents", []))
print(total)
PY
}
dg_main=$DG
# the binary a tool runs: DG, or DG_BASE for a tool named `…-base`
bin_of() { case $1 in *-base) echo "${DG_BASE:?DG_BASE names the binary of the -base tools}" ;; *) echo "$dg_main" ;; esac; }
up_one() { # tool file url
  local DG; DG=$(bin_of "$1"); set -- "${1%-base}" "$2" "$3"
  case $1 in
    python) DG_LOG_LEVEL=ERROR DG_METRICS=noop "$venv/bin/deltaglider" cp "$2" "$3" >/dev/null ;;
    compat) DG_CACHE_DIR=$(mktemp -d "$work/cache.XXXXXX") "$DG" -q cp --format compat "$2" "$3" ;;
    native) DG_CACHE_DIR=$(mktemp -d "$work/cache.XXXXXX") "$DG" -q cp --format native "$2" "$3" ;;
    native-fast | native-best)
      DG_CACHE_DIR=$(mktemp -d "$work/cache.XXXXXX") "$DG" -q cp --format native --level "${1#native-}" "$2" "$3" ;;
  esac
}
# a download with the cache a previous job left: one directory and key shared by every process
warm_one() { # tool url file
  local DG; DG=$(bin_of "$1"); set -- "${1%-base}" "$2" "$3"
  case $1 in
    python) ;;
    *) DG_CACHE_DIR="$work/shared-cache" DG_CACHE_ENCRYPTION_KEY="$warm_key" "$DG" -q cp "$2" "$3" ;;
  esac
}
warm_key=$(head -c 32 /dev/urandom | base64)
down_one() { # tool url file
  local DG; DG=$(bin_of "$1"); set -- "${1%-base}" "$2" "$3"
  case $1 in
    python) DG_LOG_LEVEL=ERROR DG_METRICS=noop "$venv/bin/deltaglider" cp "$2" "$3" >/dev/null ;;
    *) DG_CACHE_DIR=$(mktemp -d "$work/cache.XXXXXX") "$DG" -q cp "$2" "$3" ;;
  esac
}

printf '%-12s %-12s %9s %9s %9s %8s  %s\n' series tool "up s" "down s" "warm s" stored exact
for dir in "$@"; do
  series=$(basename "$dir")
  mapfile -t files < <(ls -1v "$dir"/* | while read -r f; do [ -f "$f" ] && echo "$f"; done)
  original=0
  for f in "${files[@]}"; do original=$((original + $(stat -c %s "$f"))); done
  for t in $tools; do
    # each tool under its own parent: a dg that looks for references in sibling prefixes
    # must not find another tool's (a -base build of the same feature would)
    prefix="$t/$series/"
    # layers (newer references of drifting native series) live under .deltaglider/layers/:
    # what this tool's uploads add there counts as theirs
    layers_before=$(stored .deltaglider/layers/)
    start=$(now)
    for f in "${files[@]}"; do up_one "$t" "$f" "s3://bench/$prefix$(basename "$f")"; done
    up=$(echo "$(now) - $start" | bc)
    layers=$(($(stored .deltaglider/layers/) - layers_before))
    out="$work/back-$series-$t"; rm -rf "$out"; mkdir -p "$out"
    start=$(now)
    for f in "${files[@]}"; do down_one "$t" "s3://bench/$prefix$(basename "$f")" "$out/$(basename "$f")"; done
    down=$(echo "$(now) - $start" | bc)
    exact=yes
    for f in "${files[@]}"; do cmp -s "$f" "$out/$(basename "$f")" || exact=NO; done
    warm=-
    if [ "$t" != python ]; then
      # the shared cache filled by a first job's downloads, then a second job timed
      rm -rf "$work/shared-cache" "$out"; mkdir -p "$out"
      for f in "${files[@]}"; do warm_one "$t" "s3://bench/$prefix$(basename "$f")" "$out/$(basename "$f")"; done
      rm -rf "$out"; mkdir -p "$out"
      start=$(now)
      for f in "${files[@]}"; do warm_one "$t" "s3://bench/$prefix$(basename "$f")" "$out/$(basename "$f")"; done
      warm=$(printf '%.2f' "$(echo "$(now) - $start" | bc)")
      for f in "${files[@]}"; do cmp -s "$f" "$out/$(basename "$f")" || exact=NO; done
    fi
    ratio=$(echo "scale=1; 100 * ($(stored "$prefix") + $layers) / $original" | bc)
    printf '%-12s %-12s %9.2f %9.2f %9s %7s%%  %s\n' "$series" "$t" "$up" "$down" "$warm" "$ratio" "$exact"
    rm -rf "$out" "$work"/cache.* "$work/shared-cache"
  done
done
