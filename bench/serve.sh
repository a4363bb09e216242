#!/usr/bin/env bash
# PUT and GET throughput through `dg serve`, beside a plain S3 server (moto) used directly: a
# series of similar release archives (delta-eligible) and as many random, non-eligible files
# of the same sizes (stored whole), in dg's native format, in compat format (the bucket's
# format setting), and with dg serve in front of moto. Not run in CI.
#
#   bash bench/serve.sh
#
# Environment:
#   DG_BIN            dg binary (default target/release/dg: cargo build --release first)
#   DG_CORPUS         corpus of bench/make-corpus.sh (default target/corpus): its botocore
#                     wheels (else scipy's) are the series; without them a generated series
#   DG_BENCH_FILES    generated series: how many files (default 8)
#   DG_BENCH_KIB      generated series: size of each file in KiB (default 8192)
#   DG_BENCH_THREADS  concurrent requests of the boto3 client (default 1)
#   DG_BENCH_BIG      1: also a 4 GiB file (DG_BENCH_BIG_MIB to change) through dg serve with
#                     `aws s3 cp` (multipart), downloaded and compared; prints the peak RSS
#   DG_BENCH_DIR      work directory (default a fresh temp directory, removed at the end)
#   DG_INTEROP_VENV   Python venv with awscli, boto3, moto (default target/interop-venv; created
#                     when missing, as tests/serve/run.sh does)
#
# Each figure is total bytes / wall seconds of one boto3 process doing the requests (GETs read
# the whole body and check its MD5); "stored" is the bytes on disk of dg serve's store.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

DG_BIN=${DG_BIN:-target/release/dg}
DG_CORPUS=${DG_CORPUS:-target/corpus}
venv=${DG_INTEROP_VENV:-target/interop-venv}
case $DG_BIN in /*) ;; *) DG_BIN=$repo/$DG_BIN ;; esac
case $DG_CORPUS in /*) ;; *) DG_CORPUS=$repo/$DG_CORPUS ;; esac
case $venv in /*) ;; *) venv=$repo/$venv ;; esac
tool=$repo/tests/serve/clients.py
threads=${DG_BENCH_THREADS:-1}

fail() { printf 'bench/serve: FAIL: %s\n' "$*" >&2; exit 1; }
[ -x "$DG_BIN" ] || fail "no dg binary at $DG_BIN (cargo build --release, or set DG_BIN)"
"$DG_BIN" serve --help >/dev/null 2>&1 || fail "$DG_BIN has no serve command"
if ! "$venv/bin/python" -c 'import boto3, awscli, moto' 2>/dev/null; then
  echo "bench/serve: creating $venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    'deltaglider==6.2.0' 'moto[s3]==5.2.5' flask flask-cors 'awscli==1.46.3' 'boto3==1.44.8'
fi
py=$venv/bin/python

if [ -n "${DG_BENCH_DIR:-}" ]; then
  work=$DG_BENCH_DIR
  mkdir -p "$work"
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/dg-bench-serve.XXXXXX")
fi
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  [ -n "${DG_BENCH_DIR:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 \
  AWS_CA_BUNDLE DG_FORMAT DG_ENGINE DG_LOG_LEVEL DG_S3_ADDRESSING_STYLE
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret-0123456789
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=$work/aws-config AWS_SHARED_CREDENTIALS_FILE=$work/no-aws-credentials
export AWS_EC2_METADATA_DISABLED=true DG_DISABLE_EC2_DETECTION=1 DG_SUPPRESS_DEPRECATION=1
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
cat >"$work/users.toml" <<EOF
[[user]]
access_key_id = "$AWS_ACCESS_KEY_ID"
secret_access_key = "$AWS_SECRET_ACCESS_KEY"
read = ["*"]
write = ["*"]
EOF

# --- files ---------------------------------------------------------------------------------
mkdir -p "$work/series" "$work/whole"
src=""
for s in botocore scipy; do
  if ls "$DG_CORPUS/$s"/*.whl >/dev/null 2>&1; then src=$s; break; fi
done
if [ -n "$src" ]; then
  # renamed .zip: eligible whatever the format's extension list
  for w in $(ls "$DG_CORPUS/$src"/*.whl | sort -V); do
    cp "$w" "$work/series/$(basename "${w%.whl}").zip"
  done
  what="$src wheels from $DG_CORPUS"
else
  "$py" "$tool" series "$work/series" app "${DG_BENCH_FILES:-8}" "${DG_BENCH_KIB:-8192}" >/dev/null
  what="generated zips"
fi
mapfile -t SERIES < <(ls "$work/series"/*.zip | sort -V)
WHOLE=()
for f in "${SERIES[@]}"; do
  w=$work/whole/$(basename "${f%.zip}").dat
  "$py" "$tool" random "$w" "$(stat -c %s "$f")"
  WHOLE+=("$w")
done
total=$(stat -c %s "${SERIES[@]}" | awk '{ s += $1 } END { printf "%.0f\n", s }')
printf 'bench/serve: %s, %s; %d %s (%s MB) and as many random .dat files; %d boto3 thread(s)\n' \
  "$("$DG_BIN" --version)" "${DG_BIN#"$repo"/}" \
  "${#SERIES[@]}" "$what" "$((total / 1000000))" "$threads"

# --- servers -------------------------------------------------------------------------------
# wait_line LOG PATTERN: the first match of PATTERN in LOG, within 60 s.
wait_line() {
  local i line
  for i in $(seq 600); do
    line=$(grep -m1 -o "$2" "$1" || true)
    [ -n "$line" ] && { echo "$line"; return; }
    sleep 0.1
  done
  fail "nothing like '$2' in $1 after 60 s: $(tail -n 5 "$1")"
}
declare -A url pid
start_dg() { # NAME ARG...
  local name=$1 line
  shift
  "$DG_BIN" serve --listen 127.0.0.1:0 --users "$work/users.toml" --work-dir "$work/$name-work" "$@" \
    >"$work/$name.log" 2>&1 &
  pid[$name]=$!
  pids+=("${pid[$name]}")
  line=$(wait_line "$work/$name.log" 'listening on http://[0-9.:]*')
  url[$name]=${line#listening on }
}
moto_port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
pids+=($!)
url[moto]=http://127.0.0.1:$moto_port
for i in $(seq 100); do curl -s -o /dev/null "${url[moto]}" && break; sleep 0.1; done
mkdir -p "$work/store-native" "$work/store-compat"
start_dg native --endpoint-url "file://$work/store-native"
start_dg compat --endpoint-url "file://$work/store-compat"
start_dg over-moto --endpoint-url "${url[moto]}"

"$py" "$tool" mb "${url[compat]}" bench
"$DG_BIN" --endpoint-url "file://$work/store-compat" settings s3://bench --format compat >/dev/null ||
  fail "dg settings s3://bench --format compat"

# --- measure -------------------------------------------------------------------------------
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / 1000000 / s }'; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { print b - a }'; }
disk() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
printf '\n%-26s %-7s %9s %10s %10s %12s %12s\n' target files MB "PUT MB/s" "GET MB/s" "again MB/s" "stored"
for target in moto native compat over-moto; do
  for kind in series whole; do
    declare -n files=${kind^^}
    bucket=bench prefix=$kind/
    [ "$target" = moto ] && prefix=direct-$kind/
    [ "$target" = over-moto ] && bucket=bench-over
    read -r pb ps < <("$py" "$tool" bench-put "${url[$target]}" "$bucket" "$prefix" "${files[@]}" --threads "$threads")
    read -r gb gs < <("$py" "$tool" bench-get "${url[$target]}" "$bucket" "$prefix" "${files[@]}" --threads "$threads")
    # The same GETs again: dg serve keeps files it rebuilt for a few minutes.
    read -r ab as < <("$py" "$tool" bench-get "${url[$target]}" "$bucket" "$prefix" "${files[@]}" --threads "$threads")
    stored=-
    case $target in
      native | compat) stored="$(($(disk "$work/store-$target/bench/$kind") * 100 / pb))%" ;;
    esac
    label=$target
    case $target in
      moto) label="moto (plain S3)" ;;
      native) label="dg serve, native" ;;
      compat) label="dg serve, compat" ;;
      over-moto) label="dg serve -> moto" ;;
    esac
    printf '%-26s %-7s %9s %10s %10s %12s %12s\n' "$label" "$kind" "$((pb / 1000000))" \
      "$(mbps "$pb" "$ps")" "$(mbps "$gb" "$gs")" "$(mbps "$ab" "$as")" "$stored"
    unset -n files
  done
done
for name in native compat over-moto; do
  printf 'bench/serve: dg serve %s: peak RSS %s MiB\n' "$name" \
    "$(($(awk '/^VmHWM:/ { print $2 }' "/proc/${pid[$name]}/status") / 1024))"
done

# --- one big file --------------------------------------------------------------------------
if [ "${DG_BENCH_BIG:-0}" = 1 ]; then
  mib=${DG_BENCH_BIG_MIB:-4096}
  big=$work/disk-${mib}m.img
  echo
  echo "bench/serve: $mib MiB file (random, .img: delta-eligible, the deltaspace's first file)"
  head -c $((mib * 1024 * 1024)) /dev/urandom >"$big"
  "$venv/bin/aws" configure set default.s3.multipart_chunksize 64MB
  "$venv/bin/aws" configure set default.s3.multipart_threshold 64MB
  start_dg big --data "$work/store-big"
  "$venv/bin/aws" --endpoint-url "${url[big]}" s3 mb s3://big >/dev/null
  t0=$(date +%s.%N)
  "$venv/bin/aws" --endpoint-url "${url[big]}" s3 cp --only-show-errors "$big" s3://big/img/ ||
    fail "aws s3 cp $big s3://big/img/: $(tail -n 5 "$work/big.log")"
  t1=$(date +%s.%N)
  "$venv/bin/aws" --endpoint-url "${url[big]}" s3 cp --only-show-errors "s3://big/img/$(basename "$big")" "$work/big.got" ||
    fail "aws s3 cp s3://big/img/$(basename "$big"): $(tail -n 5 "$work/big.log")"
  t2=$(date +%s.%N)
  cmp "$big" "$work/big.got" || fail "the $mib MiB file came back different"
  bytes=$(stat -c %s "$big")
  printf 'bench/serve: %s MiB: PUT %s MB/s, GET %s MB/s, byte-identical, stored %s bytes, peak RSS %s MiB\n' \
    "$mib" "$(mbps "$bytes" "$(since "$t0" "$t1")")" "$(mbps "$bytes" "$(since "$t1" "$t2")")" \
    "$(disk "$work/store-big/big")" "$(($(awk '/^VmHWM:/ { print $2 }' "/proc/${pid[big]}/status") / 1024))"
  rm -f "$big" "$work/big.got"
fi
