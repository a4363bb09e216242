#!/usr/bin/env bash
# Two-way interop of dg with Python deltaglider 6.2.0 over a real local S3 server (moto).
#
#   bash tests/interop/run.sh
#
# Environment:
#   DG_BIN           dg binary (default target/debug/dg)
#   DG_CORPUS        corpus from bench/make-corpus.sh (default target/corpus): pip and botocore wheels
#   DG_INTEROP_VENV  Python venv with deltaglider==6.2.0 and moto[s3]==5.2.5; created (from PyPI)
#                    when missing (default target/interop-venv)
#   DG_INTEROP_KEEP  1: keep the work directory (files, logs) after the run
#
# Checks, each failing the run on any mismatch:
#   1. Python uploads wheel series; dg lists, downloads (byte-identical) and verifies them.
#   2. dg --format compat uploads the series; Python downloads them byte-identical.
#   3. Mixed deltaspaces: Python's reference + dg deltas, dg's compat reference + Python deltas;
#      both tools read every file back.
#   4. deltaglider_proxy's metadata spelling (dg-ref-path, dg-note: passthrough, no
#      dg-compression) and older writers' spellings are read by dg; wrong values are refused.
#   5. 8 concurrent first uploads into one empty deltaspace (native and compat): one reference,
#      every delta made against it, all 8 files download byte-identical.
#   6. dg --format compat uploads each wheel into a prefix of its own (rel/pip/24.1.1/): one
#      reference per series, shared by the sibling prefixes' deltas; Python and dg download
#      every file byte-identical (scipy's too); `dg rm` keeps a shared reference
#      until its last delta is gone.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

DG_BIN=${DG_BIN:-target/debug/dg}
DG_CORPUS=${DG_CORPUS:-target/corpus}
venv=${DG_INTEROP_VENV:-target/interop-venv}
case $DG_BIN in /*) ;; *) DG_BIN=$repo/$DG_BIN ;; esac
case $DG_CORPUS in /*) ;; *) DG_CORPUS=$repo/$DG_CORPUS ;; esac
case $venv in /*) ;; *) venv=$repo/$venv ;; esac
tool=$repo/tests/interop/s3tool.py

fail() {
  printf 'interop: FAIL: %s\n' "$*" >&2
  if [ -n "${log:-}" ] && [ -s "$log" ]; then
    printf -- '--- last lines of %s\n' "$log" >&2
    tail -n 40 "$log" >&2
  fi
  exit 1
}

[ -x "$DG_BIN" ] || fail "no dg binary at $DG_BIN (cargo build, or set DG_BIN)"
command -v xdelta3 >/dev/null || fail "xdelta3 not installed (Python deltaglider needs it)"
ls "$DG_CORPUS"/pip/*.whl "$DG_CORPUS"/botocore/*.whl >/dev/null 2>&1 ||
  fail "no pip/botocore wheels in $DG_CORPUS (bash bench/make-corpus.sh $DG_CORPUS)"

# --- Python side ---------------------------------------------------------------------------
if ! "$venv/bin/python" -c 'import moto, flask, flask_cors, deltaglider' 2>/dev/null; then
  echo "interop: creating $venv (deltaglider 6.2.0, moto 5.2.5)"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    'deltaglider==6.2.0' 'moto[s3]==5.2.5' flask flask-cors
fi
pyver=$("$venv/bin/deltaglider" --version 2>/dev/null | tail -n 1)
[ "$pyver" = "deltaglider 6.2.0" ] || fail "$venv has '$pyver', want deltaglider 6.2.0"

motover=$("$venv/bin/python" -c 'import moto; print(moto.__version__)')
printf 'interop: %s, moto %s, %s\n' "$pyver" "$motover" "$("$DG_BIN" --version)"

# --- work directory, S3 server -------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/dg-interop.XXXXXX")
log=$work/commands.log
: >"$log"
moto_pid=""
cleanup() {
  local rc=$?
  if [ -n "$moto_pid" ]; then
    kill "$moto_pid" 2>/dev/null || true
    wait "$moto_pid" 2>/dev/null || true
  fi
  if [ "${DG_INTEROP_KEEP:-0}" = 1 ] || [ "$rc" != 0 ]; then
    echo "interop: work directory kept: $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

port=$("$venv/bin/python" "$tool" free-port)
# moto_server with atomic create-if-absent PUTs (moto's own check-then-store races; S3's not)
"$venv/bin/python" "$tool" serve 127.0.0.1 "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
endpoint=http://127.0.0.1:$port

# One environment for both tools; nothing from the caller's AWS or dg settings leaks in.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE DG_FORMAT DG_ENGINE DG_MAX_RATIO \
  DG_LOG_LEVEL DG_CACHE_BACKEND DG_CACHE_DIR DG_CACHE_ENCRYPTION_KEY DG_S3_ADDRESSING_STYLE \
  DG_REFERENCE_SCOPE
export AWS_ENDPOINT_URL=$endpoint AWS_ACCESS_KEY_ID=interop AWS_SECRET_ACCESS_KEY=interop-secret
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=$work/no-aws-config AWS_SHARED_CREDENTIALS_FILE=$work/no-aws-credentials
export AWS_EC2_METADATA_DISABLED=true DG_DISABLE_EC2_DETECTION=1 DG_SUPPRESS_DEPRECATION=1
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
export DG_TMPDIR=$work/dg-tmp
mkdir -p "$DG_TMPDIR"

B=interop          # main bucket
RB=interop-root    # a deltaspace at the bucket root
XB=interop-bad     # fixtures that must be refused
SB=interop-rel     # one version per prefix, references shared across prefixes
"$venv/bin/python" "$tool" buckets "$endpoint" $B $RB $XB $SB >>"$log" 2>&1 || {
  cat "$work/moto.log" >&2
  fail "moto_server on $endpoint: no buckets"
}

# --- helpers -------------------------------------------------------------------------------
checks=0
ok() { checks=$((checks + 1)); }

# run CMD...: logged; its failure fails the run.
run() {
  printf '+ %s\n' "$*" >>"$log"
  "$@" >>"$log" 2>&1 || fail "exit $?: $*"
}
# refused CMD...: must exit non-zero.
refused() {
  printf '+ (must fail) %s\n' "$*" >>"$log"
  if "$@" >>"$log" 2>&1; then fail "succeeded but must fail: $*"; fi
  ok
}
dg() { run "$DG_BIN" "$@"; }
py() { DG_LOG_LEVEL=ERROR DG_METRICS=noop run "$venv/bin/deltaglider" "$@"; }
s3tool() { run "$venv/bin/python" "$tool" "$@"; }

# same EXPECTED GOT WHAT: byte-identical by SHA-256, then GOT is removed.
same() {
  [ -f "$2" ] || fail "$3: nothing downloaded to $2"
  local a b
  a=$(sha256sum <"$1" | cut -d' ' -f1)
  b=$(sha256sum <"$2" | cut -d' ' -f1)
  [ "$a" = "$b" ] || fail "$3: SHA-256 $b, expected $a ($(basename "$1"))"
  rm -f "$2"
  ok
}

# dg_get_all URL-PREFIX FILE...: dg downloads each file and it is byte-identical.
dg_get_all() {
  local url=$1 f out
  shift
  for f in "$@"; do
    out=$work/got/$(basename "$f")
    dg cp "$url$(basename "$f")" "$out"
    same "$f" "$out" "dg cp $url$(basename "$f")"
  done
}
# py_get_all URL-PREFIX FILE...: Python downloads each file and it is byte-identical.
py_get_all() {
  local url=$1 f out
  shift
  for f in "$@"; do
    out=$work/got/$(basename "$f")
    py cp "$url$(basename "$f")" "$out"
    same "$f" "$out" "deltaglider cp $url$(basename "$f")"
  done
}
# dg_ls_exact URL FILE...: `dg ls` lists exactly these files, each with its original size.
dg_ls_exact() {
  local url=$1 f name size listed
  shift
  printf '+ dg ls %s\n' "$url" >>"$log"
  listed=$("$DG_BIN" ls "$url" 2>>"$log") || fail "exit $?: dg ls $url"
  printf '%s\n' "$listed" >>"$log"
  for f in "$@"; do
    name=$(basename "$f")
    size=$(stat -c %s "$f")
    awk -v n="$name" -v s="$size" '$NF == n && $3 == s { found = 1 } END { exit !found }' \
      <<<"$listed" || fail "dg ls $url: no line for $name with original size $size"
    ok
  done
  [ "$(grep -c . <<<"$listed")" = "$#" ] || fail "dg ls $url: expected $# lines, got: $listed"
  ok
}
dg_verify() {
  dg verify "$1"
  ok
}
layout() {
  s3tool layout "$@"
  ok
}
# raw_keys BUCKET [PREFIX]: "SIZE KEY" of every object as stored, `.deltaglider/` included.
raw_keys() {
  printf '+ s3tool keys %s\n' "$*" >>"$log"
  "$venv/bin/python" "$tool" keys "$@" 2>>"$log" || fail "exit $?: s3tool keys $*"
}
# raw_meta BUCKET KEY FIELD: one raw user-metadata value of an object (empty when absent).
raw_meta() {
  local m
  printf '+ s3tool meta %s %s\n' "$1" "$2" >>"$log"
  m=$("$venv/bin/python" "$tool" meta "$1" "$2" 2>>"$log") || fail "exit $?: s3tool meta $1 $2"
  printf '%s\n' "$m" >>"$log"
  sed -n "s/^$3=//p" <<<"$m"
}

# --- test files ----------------------------------------------------------------------------
# Wheels renamed .zip (Python 6.2.0 stores .whl whole), in release order.
series() {
  mkdir -p "$work/files/$1"
  local w
  for w in $(ls "$DG_CORPUS/$1"/*.whl | sort -V); do
    cp "$w" "$work/files/$1/$(basename "${w%.whl}").zip"
  done
  ls "$work/files/$1"/*.zip | sort -V
}
mapfile -t S_pip < <(series pip)
mapfile -t S_botocore < <(series botocore)
PIP=("${S_pip[@]}")
mkdir -p "$work/got"
py_files=0 dg_files=0
step() { printf "interop: %s (%ss)\n" "$*" "$SECONDS"; }

# --- 1. Python writes, dg reads ------------------------------------------------------------
step "1. python → dg (pip ${#S_pip[@]}, botocore ${#S_botocore[@]} wheels)"
for s in pip botocore; do
  declare -n files=S_$s
  for f in "${files[@]}"; do py cp "$f" "s3://$B/py/$s/$(basename "$f")"; done
  layout "$B" "py/$s" --format compat --ref-tool deltaglider/6.2.0 --ref-source "$(basename "${files[0]}")" "${files[@]}"
  dg_ls_exact "s3://$B/py/$s/" "${files[@]}"
  dg_get_all "s3://$B/py/$s/" "${files[@]}"
  py_files=$((py_files + ${#files[@]}))
  unset -n files
done
dg_verify "s3://$B/py/"

# --- 2. dg writes (compat), Python reads ---------------------------------------------------
step "2. dg --format compat → python"
for s in pip botocore; do
  declare -n files=S_$s
  for f in "${files[@]}"; do dg cp --format compat "$f" "s3://$B/dg/$s/"; done
  layout "$B" "dg/$s" --format compat --ref-tool dg/ --ref-source "$(basename "${files[0]}")" "${files[@]}"
  py_get_all "s3://$B/dg/$s/" "${files[@]}"
  dg_files=$((dg_files + ${#files[@]}))
  unset -n files
done

# --- 3. mixed deltaspaces ------------------------------------------------------------------
step "3. mixed: python reference + dg deltas, dg reference + python deltas"
for s in pip botocore; do
  declare -n files=S_$s
  first=${files[0]}
  # Python creates the reference; dg, in its default (native) format, must add compat deltas.
  py cp "$first" "s3://$B/mixed-py/$s/$(basename "$first")"
  for f in "${files[@]:1}"; do dg cp "$f" "s3://$B/mixed-py/$s/"; done
  layout "$B" "mixed-py/$s" --format compat --ref-tool deltaglider/6.2.0 --ref-source "$(basename "$first")" "${files[@]}"
  # dg creates a compat reference; Python adds deltas against it.
  dg cp --format compat "$first" "s3://$B/mixed-dg/$s/"
  for f in "${files[@]:1}"; do py cp "$f" "s3://$B/mixed-dg/$s/$(basename "$f")"; done
  layout "$B" "mixed-dg/$s" --format compat --ref-tool dg/ --ref-source "$(basename "$first")" "${files[@]}"
  for m in mixed-py mixed-dg; do
    dg_ls_exact "s3://$B/$m/$s/" "${files[@]}"
    dg_get_all "s3://$B/$m/$s/" "${files[@]}"
    py_get_all "s3://$B/$m/$s/" "${files[@]}"
  done
  unset -n files
done
dg_verify "s3://$B/mixed-py/"
dg_verify "s3://$B/mixed-dg/"

# --- 4. foreign metadata spellings ---------------------------------------------------------
step "4. deltaglider_proxy and legacy metadata spellings"
printf 'release notes\n%.0s' $(seq 200) >"$work/files/NOTES.txt"
cp "${S_botocore[0]}" "$work/files/bundle-2.0.zip"
PASS=("$work/files/NOTES.txt" "$work/files/bundle-2.0.zip")
s3tool proxy-fixtures --bucket "$B" --src py/pip --dst proxy/pip --files "$work/files/pip" \
  --passthrough "${PASS[@]}" --root-bucket "$RB" --bad-bucket "$XB"
dg_ls_exact "s3://$B/proxy/pip/" "${PIP[@]}" "${PASS[@]}"
dg_get_all "s3://$B/proxy/pip/" "${PIP[@]}" "${PASS[@]}"
dg_verify "s3://$B/proxy/"
dg_ls_exact "s3://$RB/" "${PIP[-1]}"
dg_get_all "s3://$RB/" "${PIP[-1]}"
dg_verify "s3://$RB/"
s3tool legacy-fixtures --bucket "$B" --src py/pip --dst legacy/pip --files "$work/files/pip" \
  --direct "$work/files/NOTES.txt"
dg_ls_exact "s3://$B/legacy/pip/" "${PIP[@]}" "$work/files/NOTES.txt"
dg_get_all "s3://$B/legacy/pip/" "${PIP[@]}" "$work/files/NOTES.txt"
dg_verify "s3://$B/legacy/"
# Wrong SHA-256 on a passthrough object, wrong file SHA on a delta, wrong reference SHA:
# dg must refuse each download, leave nothing behind, and verify must fail.
for u in "passthrough/NOTES.txt" "delta/$(basename "${PIP[-1]}")" "refsha/$(basename "${PIP[-1]}")"; do
  out=$work/got/refused-$(basename "$u")
  refused "$DG_BIN" cp "s3://$XB/$u" "$out"
  [ ! -e "$out" ] || fail "dg cp s3://$XB/$u failed but left $out"
done
refused "$DG_BIN" verify "s3://$XB/"

# --- 5. concurrent first uploads -----------------------------------------------------------
step "5. 8 concurrent first uploads into one empty deltaspace (native, compat)"
mapfile -t RACE < <("$venv/bin/python" "$tool" variants "${PIP[-1]}" "$work/files/race" 8)
[ "${#RACE[@]}" = 8 ] || fail "expected 8 race files, got ${#RACE[@]}"
for fmt in native compat; do
  prefix=race-$fmt/app
  fmtflag=""                    # native is the default format
  [ "$fmt" = compat ] && fmtflag="--format compat"
  pids=()
  for f in "${RACE[@]}"; do
    "$DG_BIN" cp $fmtflag "$f" "s3://$B/$prefix/" >"$work/race-$fmt-$(basename "$f").log" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || {
      cat "$work/race-$fmt-$(basename "${RACE[$i]}").log" >>"$log"
      fail "concurrent dg cp --format $fmt ${RACE[$i]} failed"
    }
  done
  cat "$work"/race-"$fmt"-*.log >>"$log"
  # Informational: how many writers found the reference created by another one meanwhile.
  lost=$(grep -l "another writer created" "$work"/race-"$fmt"-*.log | wc -l || true)
  step "   $fmt: 8 writers done, $lost reported losing the create-if-absent race"
  layout "$B" "$prefix" --format "$fmt" --ref-tool dg/ "${RACE[@]}"
  dg_ls_exact "s3://$B/$prefix/" "${RACE[@]}"
  dg_get_all "s3://$B/$prefix/" "${RACE[@]}"
  dg_verify "s3://$B/$prefix/"
done
py_get_all "s3://$B/race-compat/app/" "${RACE[@]}"

# --- 6. one version per prefix: sibling prefixes share a reference ------------------------
step "6. dg --format compat, one version per prefix: references shared across sibling prefixes"
# The wheels as they are (dg deltas .whl; Python reads any delta), in release order.
mapfile -t W_pip < <(ls "$DG_CORPUS"/pip/*.whl | sort -V)
mapfile -t W_botocore < <(ls "$DG_CORPUS"/botocore/*.whl | sort -V)
# rel_key SERIES WHEEL: rel/SERIES/VERSION/WHEEL, VERSION from the name (pip-24.1.1-py3-… → 24.1.1).
rel_key() {
  local n v
  n=$(basename "$2")
  v=${n#*-}
  v=${v%%-*}
  printf 'rel/%s/%s/%s' "$1" "$v" "$n"
}
# rel_get_all dg|py SERIES WHEEL...: the tool downloads each wheel and it is byte-identical.
rel_get_all() {
  local who=$1 s=$2 f out
  shift 2
  for f in "$@"; do
    out=$work/got/$(basename "$f")
    "$who" cp "s3://$SB/$(rel_key "$s" "$f")" "$out"
    same "$f" "$out" "$who cp s3://$SB/$(rel_key "$s" "$f")"
  done
}
wheel_bytes=0
for s in pip botocore; do
  declare -n files=W_$s
  for f in "${files[@]}"; do
    k=$(rel_key "$s" "$f")
    dg cp --format compat "$f" "s3://$SB/${k%/*}/"
    wheel_bytes=$((wheel_bytes + $(stat -c %s "$f")))
  done
  first=$(rel_key "$s" "${files[0]}")
  ref=${first%/*}/reference.bin
  listed=$(raw_keys "$SB" "rel/$s/")
  printf '%s\n' "$listed" >>"$log"
  refs=$(awk '$2 ~ /(^|\/)reference\.bin$/ { print $2 }' <<<"$listed")
  [ "$refs" = "$ref" ] || fail "rel/$s/: expected exactly one reference $ref, found: ${refs:-none}"
  ok
  for f in "${files[@]}"; do
    k=$(rel_key "$s" "$f")
    grep -qxF "$k.delta" <<<"$(awk '{ print $2 }' <<<"$listed")" || fail "$k: no $k.delta"
    ! grep -qxF "$k" <<<"$(awk '{ print $2 }' <<<"$listed")" || fail "$k: stored whole"
    got=$(raw_meta "$SB" "$k.delta" dg-ref-key)
    [ "$got" = "$ref" ] || fail "$k.delta: dg-ref-key '$got', expected the first version's $ref"
    ok
  done
  # Nothing else: the reference and one delta per version.
  [ "$(grep -c . <<<"$listed")" = $((${#files[@]} + 1)) ] ||
    fail "rel/$s/: expected ${#files[@]} deltas and $ref, got: $listed"
  ok
  # Every delta in another prefix than the reference's has its back-pointer.
  markers=$(raw_keys "$SB" .deltaglider/refs/ | awk '{ print $2 }')
  for f in "${files[@]:1}"; do
    k=$(rel_key "$s" "$f")
    grep -q "/$k\.delta\$" <<<"$markers" || fail "$k.delta: no marker under .deltaglider/refs/"
    ok
  done
  unset -n files
done
stored=$(raw_keys "$SB" | awk '$2 !~ /^\.deltaglider\// { n += $1 } END { print n + 0 }')
pct=$(awk -v s="$stored" -v w="$wheel_bytes" 'BEGIN { printf "%.1f", 100 * s / w }')
step "   stored $stored bytes for $wheel_bytes bytes of wheels: $pct%"
[ $((stored * 2)) -lt "$wheel_bytes" ] || fail "rel/: stored $pct% of the wheels' size, expected < 50%"
ok
for s in pip botocore; do
  declare -n files=W_$s
  rel_get_all py "$s" "${files[@]}"
  rel_get_all dg "$s" "${files[@]}"
  unset -n files
done
dg_verify "s3://$SB/rel/"
# Lifecycle: the reference's own prefix loses its file, the reference stays for the others.
first=$(rel_key pip "${W_pip[0]}")
ref=${first%/*}/reference.bin
dg rm "s3://$SB/$first"
listed=$(raw_keys "$SB" rel/pip/ | awk '{ print $2 }')
printf '%s\n' "$listed" >>"$log"
grep -qxF "$ref" <<<"$listed" || fail "dg rm s3://$SB/$first deleted $ref, still shared"
! grep -qxF "$first.delta" <<<"$listed" || fail "dg rm s3://$SB/$first left $first.delta"
ok
rel_get_all py pip "${W_pip[@]:1}"
for f in "${W_pip[@]:1}"; do dg rm "s3://$SB/$(rel_key pip "$f")"; done
listed=$(raw_keys "$SB" rel/pip/ | awk '{ print $2 }')
printf '%s\n' "$listed" >>"$log"
[ -z "$listed" ] || fail "every pip file deleted, but left under rel/pip/: $listed"
ok
markers=$(raw_keys "$SB" .deltaglider/refs/ | awk '{ print $2 }')
printf '%s\n' "$markers" >>"$log"
for f in "${W_pip[@]}"; do
  k=$(rel_key pip "$f")
  ! grep -q "/$k\.delta\$" <<<"$markers" || fail "$k deleted, its marker is left under .deltaglider/refs/"
  ok
done
rel_get_all dg botocore "${W_botocore[@]}"
dg_verify "s3://$SB/rel/"
# scipy's wheels one version per prefix too (when bench/make-corpus.sh made them): Python reads
# the shared reference's delta. (Not the tokio .crate files: Python's xdelta3 runs without -D,
# re-gzips a gzip reference and fails its own checksum, in any layout: a defect of the anchor.)
for s in scipy; do
  mapfile -t extra < <(ls "$DG_CORPUS/$s"/*.whl "$DG_CORPUS/$s"/*.crate 2>/dev/null | sort -V)
  [ "${#extra[@]}" -gt 0 ] || continue
  for f in "${extra[@]}"; do
    k=$(rel_key "$s" "$f")
    dg cp --format compat "$f" "s3://$SB/${k%/*}/"
  done
  rel_get_all py "$s" "${extra[@]}"
  rel_get_all dg "$s" "${extra[@]}"
done
dg_verify "s3://$SB/rel/"

dg_verify "s3://$B/"
echo "interop: $checks checks passed (python→dg $py_files files, dg→python $dg_files files, mixed, proxy spelling, 8 concurrent writers, shared references)"
