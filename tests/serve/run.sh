#!/usr/bin/env bash
# Black-box checks of `dg serve` with real S3 clients: the aws CLI, boto3 and rclone.
#
#   bash tests/serve/run.sh [aws|boto3|rclone|tls|clients|race|load|all]    (default all)
#
#   clients = aws boto3 rclone tls; all = clients race load. Each part starts the servers it
#   needs on 127.0.0.1 (port 0, the real port read from the `listening on` line), with a fresh
#   data directory and users file, and stops them at the end.
#
# Environment:
#   DG_BIN           dg binary (default target/debug/dg)
#   DG_INTEROP_VENV  Python venv with awscli and boto3; created (from PyPI) when missing, with
#                    what tests/interop/run.sh needs too (default target/interop-venv)
#   DG_REQUIRE_TOOLS 1: a missing rclone or openssl fails the run (else that part is skipped,
#                    loudly)
#   DG_SERVE_KEEP    1: keep the work directory (files, server logs) after the run; it is kept
#                    anyway when the run fails
#   DG_SERVE_LOAD_CLIENTS, DG_SERVE_LOAD_REQUESTS   load test size (default 50 and 2000)
#   DG_SERVE_MAX_RSS_MIB   the load test fails when the server's peak RSS is above (1024)
#
# Checks, each failing the run on any mismatch:
#   aws     mb; cp of a series of similar release zips into one prefix; multipart cp (5 MB
#           threshold and parts) of a 12 MB zip pair; ls shows original names and sizes and no
#           storage keys; every download byte-identical; ETags (MD5, multipart MD5-of-MD5s-N);
#           the series takes < 50% of its size on disk (one reference.bin, .delta files);
#           get-object --range bytes=100-199 and bytes=-100; put-object --metadata and
#           --content-type round trip through head-object and get-object; presign + curl 200 and
#           byte-identical, tampered signature / other key / expired URL 403; copy-object
#           (within and across deltaspaces) byte-identical; delete-objects, rm, rm --recursive,
#           then ls shows them gone; sync, and a second sync uploads nothing; unsigned curl 403.
#   boto3   tests/serve/clients.py boto3: buckets, put/get/head with Metadata, ContentType,
#           ETag, Range (206, Content-Range, 416), list_objects_v2 Prefix/Delimiter/MaxKeys=2
#           pages by ContinuationToken, StartAfter, list_objects Marker, upload_file and
#           download_file multipart, create/upload_part/list_parts/list_multipart_uploads/
#           abort/complete, presigned GET/PUT (tampered, other key, read-only user 403),
#           copy_object COPY/REPLACE, delete_objects, permissions of read-only and prefix users,
#           wrong secret 403 SignatureDoesNotMatch, unknown key 403 InvalidAccessKeyId,
#           unsigned 403.
#   rclone  mkdir, copy of a tree (similar zips, text, 12 MB multipart .bin), check (sizes and
#           MD5) passes, lsl sizes, copy back byte-identical, deletefile.
#   tls     --tls-cert/--tls-key: health and an aws cp round trip over HTTPS.
#   (then)  GET /_/health 200 "ok"; /_/metrics: PutObject counted, stored bytes below original
#           bytes, delta files counted; SIGTERM while a slow download is in flight: the download
#           completes byte-identical, the server exits 0.
#   race    two dg serve processes on one store (--endpoint-url file://DIR, own --work-dir), 16
#           clients racing first uploads of similar zips into one empty prefix, 8 to each:
#           exactly one reference.bin, every file lists with its size and downloads
#           byte-identical from both servers.
#   load    50 concurrent boto3 clients, 2,000 mixed put/get/head/list/delete requests of
#           similar zips (16-256 KiB): no errors, every get byte-identical; prints the server's
#           peak RSS (VmHWM) and fails above DG_SERVE_MAX_RSS_MIB.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

DG_BIN=${DG_BIN:-target/debug/dg}
venv=${DG_INTEROP_VENV:-target/interop-venv}
case $DG_BIN in /*) ;; *) DG_BIN=$repo/$DG_BIN ;; esac
case $venv in /*) ;; *) venv=$repo/$venv ;; esac
tool=$repo/tests/serve/clients.py
load_clients=${DG_SERVE_LOAD_CLIENTS:-50}
load_requests=${DG_SERVE_LOAD_REQUESTS:-2000}
max_rss_mib=${DG_SERVE_MAX_RSS_MIB:-1024}

usage() { echo "usage: $0 [aws|boto3|rclone|tls|clients|race|load|all]" >&2; exit 2; }
parts=()
for arg in "${@:-all}"; do
  case $arg in
    aws | boto3 | rclone | tls | race | load) parts+=("$arg") ;;
    clients) parts+=(aws boto3 rclone tls) ;;
    all) parts+=(aws boto3 rclone tls race load) ;;
    *) usage ;;
  esac
done
want() { [[ " ${parts[*]} " == *" $1 "* ]]; }

log=""
fail() {
  printf 'serve: FAIL: %s\n' "$*" >&2
  if [ -n "$log" ] && [ -s "$log" ]; then
    printf -- '--- last lines of %s\n' "$log" >&2
    tail -n 30 "$log" >&2
  fi
  local s
  for s in "${servers[@]}"; do
    printf -- '--- last lines of %s\n' "$work/$s.log" >&2
    tail -n 15 "$work/$s.log" >&2
  done
  exit 1
}
skip() {
  [ "${DG_REQUIRE_TOOLS:-0}" = 1 ] && fail "$* (DG_REQUIRE_TOOLS=1)"
  printf '\nserve: SKIPPED: %s\n\n' "$*" >&2
}

[ -x "$DG_BIN" ] || fail "no dg binary at $DG_BIN (cargo build, or set DG_BIN)"
"$DG_BIN" serve --help >/dev/null 2>&1 || fail "$DG_BIN has no serve command"
command -v curl >/dev/null || fail "curl not installed"

# --- Python side: the interop venv, with awscli and boto3 ------------------------------------
if ! "$venv/bin/python" -c 'import boto3, awscli, moto, deltaglider' 2>/dev/null; then
  echo "serve: creating $venv (awscli 1.46.3, boto3 1.44.8; deltaglider 6.2.0, moto 5.2.5 for tests/interop)"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    'deltaglider==6.2.0' 'moto[s3]==5.2.5' flask flask-cors 'awscli==1.46.3' 'boto3==1.44.8'
fi
py=$venv/bin/python
printf 'serve: %s, %s, boto3 %s\n' "$("$DG_BIN" --version)" \
  "$("$venv/bin/aws" --version 2>&1 | cut -d' ' -f1)" "$("$py" -c 'import boto3; print(boto3.__version__)')"

# --- work directory, servers -----------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/dg-serve-test.XXXXXX")
log=$work/commands.log
: >"$log"
servers=()
cleanup() {
  local rc=$? s pid
  for s in "${servers[@]}"; do
    pid=${server_pid[$s]:-}
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [ "${DG_SERVE_KEEP:-0}" = 1 ] || [ "$rc" != 0 ]; then
    echo "serve: work directory kept: $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# Nothing from the caller's AWS, dg or rclone settings leaks in.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 \
  AWS_CA_BUNDLE DG_FORMAT DG_ENGINE DG_MAX_RATIO DG_LOG_LEVEL DG_CACHE_BACKEND DG_CACHE_DIR \
  DG_CACHE_ENCRYPTION_KEY DG_S3_ADDRESSING_STYLE RCLONE_CONFIG
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=$work/aws-config AWS_SHARED_CREDENTIALS_FILE=$work/no-aws-credentials
export AWS_EC2_METADATA_DISABLED=true DG_DISABLE_EC2_DETECTION=1 DG_SUPPRESS_DEPRECATION=1
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
export RCLONE_CONFIG=$work/no-rclone.conf
export TMPDIR=$work/tmp
mkdir -p "$TMPDIR"

# Users: one admin, one reader, one that may only touch boto-b/app/.
export SERVE_ADMIN_KEY=admin SERVE_ADMIN_SECRET=admin-secret-0123456789
export SERVE_READER_KEY=reader SERVE_READER_SECRET=reader-secret-0123456789
export SERVE_RELEASER_KEY=releaser SERVE_RELEASER_SECRET=releaser-secret-0123456789
users=$work/users.toml
cat >"$users" <<EOF
[[user]]
access_key_id = "$SERVE_ADMIN_KEY"
secret_access_key = "$SERVE_ADMIN_SECRET"
read = ["*"]
write = ["*"]

[[user]]
access_key_id = "$SERVE_READER_KEY"
secret_access_key = "$SERVE_READER_SECRET"
read = ["*"]
write = []

[[user]]
access_key_id = "$SERVE_RELEASER_KEY"
secret_access_key = "$SERVE_RELEASER_SECRET"
read = ["boto-b/app/*"]
write = ["boto-b/app/*"]
EOF
export AWS_ACCESS_KEY_ID=$SERVE_ADMIN_KEY AWS_SECRET_ACCESS_KEY=$SERVE_ADMIN_SECRET

declare -A server_pid server_url
# start_server NAME ARG...: dg serve -v on 127.0.0.1:0, log in $work/NAME.log; waits for the
# `listening on` line and sets server_pid[NAME], server_url[NAME].
start_server() {
  local name=$1 line="" i
  shift
  "$DG_BIN" serve --listen 127.0.0.1:0 -v "$@" >"$work/$name.log" 2>&1 &
  server_pid[$name]=$!
  servers+=("$name")
  for i in $(seq 600); do
    line=$(grep -m1 -o 'listening on https\?://[0-9.:]*' "$work/$name.log" || true)
    [ -n "$line" ] && break
    kill -0 "${server_pid[$name]}" 2>/dev/null || fail "dg serve $* exited: $(tail -n 5 "$work/$name.log")"
    sleep 0.1
  done
  [ -n "$line" ] || fail "dg serve $*: no 'listening on' line in 60 s"
  server_url[$name]=${line#listening on }
  printf '+ server %s: %s (pid %s): dg serve %s\n' "$name" "${server_url[$name]}" "${server_pid[$name]}" "$*" >>"$log"
}
# stop_server NAME: SIGTERM; the server must exit 0 within 30 s.
stop_server() {
  local name=$1 pid=${server_pid[$1]} i rc=0
  kill -TERM "$pid"
  for i in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && fail "server $name (pid $pid) still running 30 s after SIGTERM"
  wait "$pid" || rc=$?
  [ "$rc" = 0 ] || fail "server $name exited $rc after SIGTERM"
  ok
}
# peak_rss NAME: the server's VmHWM in KiB.
peak_rss() { awk '/^VmHWM:/ { print $2 }' "/proc/${server_pid[$1]}/status"; }

# --- helpers -------------------------------------------------------------------------------
checks=0
ok() { checks=$((checks + 1)); }
step() { printf 'serve: %s (%ss)\n' "$*" "$SECONDS"; }

# run CMD...: logged; its failure fails the run.
run() {
  printf '+ %s\n' "$*" >>"$log"
  "$@" >>"$log" 2>&1 || fail "exit $?: $*"
}
# out CMD...: like run, but prints the command's stdout (also logged).
out() {
  local o rc=0
  printf '+ %s\n' "$*" >>"$log"
  o=$("$@" 2>>"$log") || rc=$?
  printf '%s\n' "$o" >>"$log"
  [ "$rc" = 0 ] || fail "exit $rc: $*"
  printf '%s\n' "$o"
}
tool() { run "$py" "$tool" "$@"; }
# py_checks PREFIX: adds the "PREFIX: N checks passed" of the last clients.py run to the count.
py_checks() {
  local n
  n=$(grep "^$1: [0-9]* checks passed" "$log" | tail -n 1 | grep -o '[0-9]\+ checks' | grep -o '[0-9]\+')
  [ -n "$n" ] || fail "$1: no 'checks passed' line"
  checks=$((checks + n))
}
aws() { "$venv/bin/aws" --endpoint-url "$url" "$@"; }
# same EXPECTED GOT WHAT: byte-identical, then GOT is removed.
same() {
  [ -f "$2" ] || fail "$3: nothing downloaded to $2"
  cmp -s "$1" "$2" || fail "$3: $(stat -c %s "$2") bytes differ from $1 ($(stat -c %s "$1") bytes)"
  rm -f "$2"
  ok
}
# http_code URL [CURL-ARG...]: the HTTP status of a GET, its body in $work/body.
http_code() {
  local u=$1
  shift
  curl -sS -o "$work/body" -w '%{http_code}' "$@" "$u" 2>>"$log" || echo "curl-failed"
}
# disk_bytes DIR: total size of the files under DIR.
disk_bytes() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
file_bytes() { stat -c %s "$@" | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
md5() { md5sum <"$1" | cut -d' ' -f1; }
json() { "$py" "$tool" json-get - "$1"; }
series() { out "$py" "$tool" series "$work/files/$1" "$1" "$2" "$3" ${4:+--first "$4"}; }
mkdir -p "$work/files" "$work/got"

# The main server: local data directory, users file.
main_started=0
main_server() {
  [ "$main_started" = 1 ] && return
  data=$work/data
  start_server main --data "$data" --users "$users" --work-dir "$work/main-work"
  url=${server_url[main]}
  main_started=1
  local code
  code=$(http_code "$url/_/health")
  [ "$code" = 200 ] && [ "$(tr -d '\r\n' <"$work/body")" = ok ] ||
    fail "GET /_/health: HTTP $code, body '$(head -c 200 "$work/body")', want 200 ok"
  ok
}

# presign_checks KEY FILE OTHER-FILE SIGNATURE-PARAM: `aws s3 presign` of KEY (FILE's copy)
# fetched by curl: 200 and byte-identical; one character of the signature changed, or the key
# changed to OTHER-FILE's: 403; expired: 403.
presign_checks() {
  local key=$1 file=$2 other=$3 param=$4 purl code sig bad c
  purl=$(out aws s3 presign "s3://$B/$key" --expires-in 300)
  [[ $purl == *"$param="* ]] || fail "aws s3 presign: no $param in $purl"
  code=$(http_code "$purl")
  [ "$code" = 200 ] || fail "curl presigned ($param) GET $key: HTTP $code: $(head -c 300 "$work/body")"
  cp "$work/body" "$work/got/presigned"
  same "$file" "$work/got/presigned" "curl presigned ($param) GET $key"
  sig=${purl##*"$param="}
  sig=${sig%%&*}
  c=${sig:4:1}
  case $param in
    Signature) [ "$c" = A ] && c=B || c=A ;;
    *) [ "$c" = 0 ] && c=1 || c=0 ;;
  esac
  bad=${sig:0:4}$c${sig:5}
  code=$(http_code "${purl/"$sig"/"$bad"}")
  [ "$code" = 403 ] || fail "presigned ($param) GET with a tampered signature: HTTP $code, want 403: $(head -c 300 "$work/body")"
  ok
  code=$(http_code "${purl/"$(basename "$file")"/"$(basename "$other")"}")
  [ "$code" = 403 ] || fail "presigned ($param) GET of another key: HTTP $code, want 403: $(head -c 300 "$work/body")"
  ok
  purl=$(out aws s3 presign "s3://$B/$key" --expires-in 1)
  sleep 3
  code=$(http_code "$purl")
  [ "$code" = 403 ] || fail "expired presigned ($param) GET: HTTP $code, want 403: $(head -c 300 "$work/body")"
  ok
}

# --- aws CLI -------------------------------------------------------------------------------
part_aws() {
  step "aws CLI"
  main_server
  run "$venv/bin/aws" configure set default.region us-east-1
  run "$venv/bin/aws" configure set default.s3.multipart_threshold 5MB
  run "$venv/bin/aws" configure set default.s3.multipart_chunksize 5MB
  run "$venv/bin/aws" configure set default.s3.addressing_style path
  local B=aws-b f name size listed
  run aws s3 mb "s3://$B"
  out aws s3 ls | grep -q " $B\$" || fail "aws s3 ls: no bucket $B"
  ok

  # a release series, uploaded one by one
  mapfile -t APP < <(series app 6 2400)
  for f in "${APP[@]}"; do run aws s3 cp "$f" "s3://$B/app/"; done
  # 12 MB zips: multipart (5 MB threshold and parts), the second one a delta of the first
  mapfile -t BIG < <(series bigapp 2 10000)
  for f in "${BIG[@]}"; do run aws s3 cp "$f" "s3://$B/bigapp/"; done

  # listing: original names and sizes, no storage keys
  for d in app bigapp; do
    declare -n files=$( [ $d = app ] && echo APP || echo BIG )
    listed=$(out aws s3 ls "s3://$B/$d/")
    for f in "${files[@]}"; do
      name=$(basename "$f") size=$(stat -c %s "$f")
      awk -v n="$name" -v s="$size" '$4 == n && $3 == s { found = 1 } END { exit !found }' <<<"$listed" ||
        fail "aws s3 ls s3://$B/$d/: no line for $name with size $size in: $listed"
      ok
    done
    [ "$(grep -c . <<<"$listed")" = "${#files[@]}" ] || fail "aws s3 ls s3://$B/$d/: want ${#files[@]} lines: $listed"
    unset -n files
  done
  listed=$(out aws s3 ls --recursive "s3://$B/")
  if grep -E 'reference\.bin|\.delta$' <<<"$listed"; then fail "aws s3 ls --recursive shows storage keys"; fi
  ok

  # deltas really stored
  local orig stored refs deltas
  orig=$(file_bytes "${APP[@]}") stored=$(disk_bytes "$data/$B/app")
  refs=$(find "$data/$B/app" -name reference.bin | wc -l)
  deltas=$(find "$data/$B/app" -name '*.delta' | wc -l)
  step "   app/: ${#APP[@]} zips, $orig bytes, $stored on disk ($((stored * 100 / orig))%), $refs reference.bin, $deltas .delta"
  [ "$refs" = 1 ] || fail "$data/$B/app: $refs reference.bin, want 1: $(find "$data/$B/app" -type f)"
  [ "$deltas" -ge $((${#APP[@]} - 1)) ] || fail "$data/$B/app: $deltas .delta files: $(find "$data/$B/app" -type f)"
  [ $((stored * 2)) -lt "$orig" ] || fail "$data/$B/app: $stored bytes on disk for $orig bytes of similar zips (want < 50%)"
  orig=$(file_bytes "${BIG[@]}") stored=$(disk_bytes "$data/$B/bigapp")
  step "   bigapp/: 2 multipart zips, $orig bytes, $stored on disk ($((stored * 100 / orig))%)"
  [ $((stored * 10)) -lt $((orig * 7)) ] || fail "$data/$B/bigapp: $stored bytes on disk for $orig (want < 70%)"
  ok

  # downloads, ETags
  for f in "${APP[@]}" "${BIG[@]}"; do
    d=$(basename "$(dirname "$f")")
    [ "$d" = bigapp ] || d=app
    run aws s3 cp "s3://$B/$d/$(basename "$f")" "$work/got/"
    same "$f" "$work/got/$(basename "$f")" "aws s3 cp s3://$B/$d/$(basename "$f")"
  done
  local etag want
  etag=$(out aws s3api head-object --bucket $B --key "app/$(basename "${APP[0]}")" | json ETag)
  [ "$etag" = "\"$(md5 "${APP[0]}")\"" ] || fail "head-object app/$(basename "${APP[0]}"): ETag $etag, want MD5 $(md5 "${APP[0]}")"
  etag=$(out aws s3api head-object --bucket $B --key "bigapp/$(basename "${BIG[1]}")" | json ETag)
  want=$("$py" "$tool" etag "${BIG[1]}" $((5 * 1024 * 1024)))
  [ "$etag" = "\"$want\"" ] || fail "head-object of a multipart upload: ETag $etag, want $want"
  ok

  # ranges, from a delta
  f=${APP[3]}
  run aws s3api get-object --bucket $B --key "app/$(basename "$f")" --range bytes=100-199 "$work/got/range"
  dd if="$f" of="$work/want-range" bs=100 skip=1 count=1 status=none
  same "$work/want-range" "$work/got/range" "get-object --range bytes=100-199"
  grep -q "\"ContentRange\": \"bytes 100-199/$(stat -c %s "$f")\"" "$log" || fail "get-object --range bytes=100-199: no ContentRange bytes 100-199/$(stat -c %s "$f")"
  run aws s3api get-object --bucket $B --key "app/$(basename "$f")" --range bytes=-100 "$work/got/range"
  tail -c 100 "$f" >"$work/want-range"
  same "$work/want-range" "$work/got/range" "get-object --range bytes=-100"

  # metadata and content type, on a zip of the series (a delta) and on a text file
  mapfile -t META < <(series app 1 2400 7)
  printf 'release notes\n%.0s' $(seq 300) >"$work/files/NOTES.txt"
  local key file h
  for kf in "app/$(basename "${META[0]}")=${META[0]}" "notes/NOTES.txt=$work/files/NOTES.txt"; do
    key=${kf%%=*} file=${kf#*=}
    run aws s3api put-object --bucket $B --key "$key" --body "$file" \
      --metadata build=42,channel=stable --content-type application/x-test
    h=$(out aws s3api head-object --bucket $B --key "$key")
    [ "$(json Metadata.build <<<"$h")" = 42 ] && [ "$(json Metadata.channel <<<"$h")" = stable ] ||
      fail "head-object $key: Metadata $(json Metadata <<<"$h"), want build=42 channel=stable"
    [ "$(json ContentType <<<"$h")" = application/x-test ] || fail "head-object $key: ContentType $(json ContentType <<<"$h")"
    [ "$(json ContentLength <<<"$h")" = "$(stat -c %s "$file")" ] || fail "head-object $key: ContentLength $(json ContentLength <<<"$h")"
    h=$(out aws s3api get-object --bucket $B --key "$key" "$work/got/meta")
    [ "$(json Metadata.build <<<"$h")" = 42 ] || fail "get-object $key: Metadata $(json Metadata <<<"$h")"
    [ "$(json ContentType <<<"$h")" = application/x-test ] || fail "get-object $key: ContentType $(json ContentType <<<"$h")"
    same "$file" "$work/got/meta" "get-object $key"
  done

  # presigned URLs: aws CLI v1 signs them with SigV2 unless told s3v4
  local purl code
  key=app/$(basename "${APP[2]}")
  presign_checks "$key" "${APP[2]}" "${APP[1]}" Signature
  run "$venv/bin/aws" configure set default.s3.signature_version s3v4
  presign_checks "$key" "${APP[2]}" "${APP[1]}" X-Amz-Signature

  # copy, within the deltaspace and into another one
  run aws s3api copy-object --bucket $B --key app/copy-of-1.2.zip --copy-source "$B/app/$(basename "${APP[1]}")"
  run aws s3api copy-object --bucket $B --key elsewhere/copy.zip --copy-source "$B/app/$(basename "${APP[4]}")"
  run aws s3 cp "s3://$B/app/copy-of-1.2.zip" "$work/got/c1"
  same "${APP[1]}" "$work/got/c1" "copy-object within app/"
  run aws s3 cp "s3://$B/elsewhere/copy.zip" "$work/got/c2"
  same "${APP[4]}" "$work/got/c2" "copy-object into elsewhere/"

  # delete-objects, rm, rm --recursive
  local del=("app/$(basename "${APP[0]}")" "app/$(basename "${APP[2]}")" app/copy-of-1.2.zip notes/NOTES.txt)
  local doc='{"Objects":[' k
  for k in "${del[@]}"; do doc+="{\"Key\":\"$k\"},"; done
  doc="${doc%,}],\"Quiet\":false}"
  h=$(out aws s3api delete-objects --bucket $B --delete "$doc")
  [ "$(json Errors <<<"$h")" = "" ] || fail "delete-objects: Errors $(json Errors <<<"$h")"
  [ "$(json Deleted <<<"$h" | grep -o '"Key"' | wc -l)" = "${#del[@]}" ] || fail "delete-objects: Deleted $(json Deleted <<<"$h")"
  listed=$(out aws s3 ls --recursive "s3://$B/")
  for k in "${del[@]}"; do
    if grep -q " $k\$" <<<"$listed"; then fail "aws s3 ls after delete-objects still lists $k"; fi
    ok
  done
  for f in "${APP[1]}" "${APP[3]}"; do   # the others of the deltaspace still read back
    run aws s3 cp "s3://$B/app/$(basename "$f")" "$work/got/"
    same "$f" "$work/got/$(basename "$f")" "aws s3 cp after delete-objects"
  done
  run aws s3 rm "s3://$B/elsewhere/copy.zip"
  listed=$(out aws s3 ls --recursive "s3://$B/")
  if grep -q "elsewhere/copy.zip" <<<"$listed"; then fail "aws s3 ls after rm still lists elsewhere/copy.zip"; fi
  ok
  run aws s3 rm --recursive "s3://$B/bigapp/"
  listed=$(out aws s3 ls --recursive "s3://$B/")
  if grep -q "bigapp/" <<<"$listed"; then fail "aws s3 ls after rm --recursive still lists bigapp/"; fi
  ok

  # sync: the second one finds nothing to do
  mkdir -p "$work/files/sync/sub"
  cp "${APP[@]:0:3}" "$work/files/sync/"
  cp "$work/files/NOTES.txt" "$work/files/sync/sub/"
  # older than any upload, whatever LastModified's resolution (sync uploads newer local files)
  find "$work/files/sync" -type f -exec touch -d '-1 hour' {} +
  run aws s3 sync "$work/files/sync" "s3://$B/sync/"
  h=$(out aws s3 sync "$work/files/sync" "s3://$B/sync/")
  [ -z "$h" ] || fail "second aws s3 sync uploaded again: $h"
  ok
  run aws s3 sync "s3://$B/sync/" "$work/got/sync"
  diff -r "$work/files/sync" "$work/got/sync" >>"$log" 2>&1 || fail "aws s3 sync back: trees differ"
  rm -rf "$work/got/sync"
  ok

  # unsigned and wrongly signed requests
  code=$(http_code "$url/$B/app/$(basename "${APP[1]}")")
  [ "$code" = 403 ] && grep -q AccessDenied "$work/body" || fail "unsigned curl GET: HTTP $code, $(head -c 300 "$work/body"), want 403 AccessDenied"
  ok
  code=$(http_code "$url/$B/x.txt" -X PUT --data-binary x)
  [ "$code" = 403 ] || fail "unsigned curl PUT: HTTP $code, want 403"
  ok
  if AWS_SECRET_ACCESS_KEY=wrong-secret-0000000000 "$venv/bin/aws" --endpoint-url "$url" s3 ls "s3://$B/" >"$work/body" 2>&1; then
    fail "aws s3 ls with a wrong secret succeeded"
  fi
  grep -q SignatureDoesNotMatch "$work/body" || fail "aws s3 ls with a wrong secret: $(cat "$work/body")"
  ok
}

# --- boto3 ---------------------------------------------------------------------------------
part_boto3() {
  step "boto3"
  main_server
  run "$py" "$tool" boto3 "$url" --bucket boto-b --work "$work/boto3"
  tail -n 1 "$log" | sed 's/^/serve:    /'
  py_checks "clients: boto3"
}

# --- rclone --------------------------------------------------------------------------------
part_rclone() {
  command -v rclone >/dev/null || { skip "rclone not installed (apt-get install rclone)"; return; }
  step "rclone ($(rclone version | head -n 1))"
  main_server
  export RCLONE_CONFIG_DG_TYPE=s3 RCLONE_CONFIG_DG_PROVIDER=Other RCLONE_CONFIG_DG_ENDPOINT=$url
  export RCLONE_CONFIG_DG_ACCESS_KEY_ID=$SERVE_ADMIN_KEY RCLONE_CONFIG_DG_SECRET_ACCESS_KEY=$SERVE_ADMIN_SECRET
  export RCLONE_CONFIG_DG_FORCE_PATH_STYLE=true RCLONE_CONFIG_DG_REGION=us-east-1
  export RCLONE_CONFIG_DG_UPLOAD_CUTOFF=5M RCLONE_CONFIG_DG_CHUNK_SIZE=5M
  local src=$work/files/rc f listed size name
  mkdir -p "$src/sub"
  mapfile -t RC < <(series rcl 5 1500)
  cp "${RC[@]}" "$src/"
  cp "$work/files/NOTES.txt" "$src/sub/" 2>/dev/null || printf 'notes\n%.0s' $(seq 100) >"$src/sub/NOTES.txt"
  tool random "$src/sub/blob.bin" $((12 * 1024 * 1024 + 7))
  run rclone mkdir dg:rclone-b
  run rclone copy "$src" dg:rclone-b/rc
  run rclone check "$src" dg:rclone-b/rc
  if grep -E 'hashes could not be checked|[1-9][0-9]* differences found' "$log" | tail -n 1 | grep -q .; then
    fail "rclone check: $(grep -E 'hashes|differences' "$log" | tail -n 2)"
  fi
  ok
  listed=$(out rclone lsl dg:rclone-b/rc)
  for f in "${RC[@]}" "$src/sub/NOTES.txt" "$src/sub/blob.bin"; do
    name=${f#"$src"/} size=$(stat -c %s "$f")
    [ -f "$src/$name" ] || name=$(basename "$f")
    awk -v n="$name" -v s="$size" '$1 == s && $4 == n { found = 1 } END { exit !found }' <<<"$listed" ||
      fail "rclone lsl dg:rclone-b/rc: no $name with size $size in: $listed"
    ok
  done
  [ "$(grep -c . <<<"$listed")" = 7 ] || fail "rclone lsl: want 7 files: $listed"
  run rclone copy dg:rclone-b/rc "$work/got/rc"
  diff -r "$src" "$work/got/rc" >>"$log" 2>&1 || fail "rclone copy back: trees differ"
  rm -rf "$work/got/rc"
  ok
  run rclone deletefile "dg:rclone-b/rc/$(basename "${RC[0]}")"
  listed=$(out rclone lsf -R dg:rclone-b/rc)
  if grep -q "$(basename "${RC[0]}")" <<<"$listed"; then fail "rclone lsf after deletefile: $listed"; fi
  ok
  run rclone copy dg:rclone-b/rc "$work/got/rc"
  for f in "${RC[@]:1}"; do same "$f" "$work/got/rc/$(basename "$f")" "rclone copy after deletefile"; done
  rm -rf "$work/got/rc"
}

# --- TLS -----------------------------------------------------------------------------------
part_tls() {
  command -v openssl >/dev/null || { skip "openssl not installed: no TLS check"; return; }
  step "TLS"
  local t=$work/tls
  mkdir -p "$t"
  run openssl req -x509 -newkey rsa:2048 -nodes -keyout "$t/key.pem" -out "$t/cert.pem" -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1
  start_server tls --data "$t/data" --users "$users" --work-dir "$t/work" --tls-cert "$t/cert.pem" --tls-key "$t/key.pem"
  local u=${server_url[tls]} code
  [[ $u == https://* ]] || fail "dg serve --tls-cert: listening on $u, want https://"
  code=$(http_code "$u/_/health" --cacert "$t/cert.pem")
  [ "$code" = 200 ] || fail "GET $u/_/health over TLS: $code"
  ok
  printf 'hello over TLS\n' >"$t/hello.txt"
  run "$venv/bin/aws" --endpoint-url "$u" --ca-bundle "$t/cert.pem" s3 mb s3://tls-b
  run "$venv/bin/aws" --endpoint-url "$u" --ca-bundle "$t/cert.pem" s3 cp "$t/hello.txt" s3://tls-b/hello.txt
  run "$venv/bin/aws" --endpoint-url "$u" --ca-bundle "$t/cert.pem" s3 cp s3://tls-b/hello.txt "$t/got.txt"
  same "$t/hello.txt" "$t/got.txt" "aws s3 cp over TLS"
  code=$(http_code "http://${u#https://}/_/health")
  [ "$code" != 200 ] || fail "plain HTTP to the TLS port answered 200"
  ok
  stop_server tls
}

# --- after the client parts: health, metrics, graceful stop -------------------------------
finish_main() {
  [ "$main_started" = 1 ] || return 0
  step "health, metrics, SIGTERM with a download in flight"
  local code m put orig stored deltas
  code=$(http_code "$url/_/health")
  [ "$code" = 200 ] || fail "GET /_/health: HTTP $code"
  ok
  code=$(http_code "$url/_/metrics")
  [ "$code" = 200 ] || fail "GET /_/metrics: HTTP $code"
  cp "$work/body" "$work/metrics.txt"
  m="$url/_/metrics"
  put=$(out "$py" "$tool" metrics "$m" dg_serve_requests_total operation=PutObject outcome=ok)
  orig=$(out "$py" "$tool" metrics "$m" dg_serve_original_bytes_total)
  stored=$(out "$py" "$tool" metrics "$m" dg_serve_stored_bytes_total)
  deltas=$(out "$py" "$tool" metrics "$m" dg_serve_files_stored_total stored=delta)
  step "   metrics: $put PutObject ok, $deltas files stored as deltas, $stored stored bytes for $orig original bytes"
  [ "$put" -gt 0 ] || fail "/_/metrics: no PutObject counted"
  [ "$deltas" -gt 0 ] || fail "/_/metrics: no file stored as a delta"
  [ "$stored" -lt "$orig" ] || fail "/_/metrics: dg_serve_stored_bytes_total $stored not below dg_serve_original_bytes_total $orig"
  ok

  # A slow download (curl --limit-rate) in flight when SIGTERM comes must complete.
  local slow=$work/files/slow.bin purl pid rc=0
  tool random "$slow" $((6 * 1024 * 1024))
  run "$venv/bin/aws" --endpoint-url "$url" s3 mb s3://grace-b
  run "$venv/bin/aws" --endpoint-url "$url" s3 cp "$slow" s3://grace-b/slow.bin
  purl=$(out "$venv/bin/aws" --endpoint-url "$url" s3 presign s3://grace-b/slow.bin)
  curl -sS -f --limit-rate 2M -o "$work/got/slow.bin" "$purl" 2>>"$log" &
  pid=$!
  sleep 1
  stop_server main
  wait "$pid" || rc=$?
  [ "$rc" = 0 ] || fail "a download in flight at SIGTERM failed (curl exit $rc)"
  same "$slow" "$work/got/slow.bin" "download in flight at SIGTERM"
  code=$(http_code "$url/_/health")
  [ "$code" != 200 ] || fail "the server still answers after SIGTERM"
  ok
}

# --- two servers, one store, racing first uploads ------------------------------------------
part_race() {
  step "race: 2 servers on one store, 16 racing first uploads into one empty prefix"
  local store=$work/race-store n
  mkdir -p "$store"
  start_server race-a --endpoint-url "file://$store" --users "$users" --work-dir "$work/race-a-work"
  start_server race-b --endpoint-url "file://$store" --users "$users" --work-dir "$work/race-b-work"
  local ua=${server_url[race-a]} ub=${server_url[race-b]}
  run "$venv/bin/aws" --endpoint-url "$ua" s3 mb s3://race-b
  out "$venv/bin/aws" --endpoint-url "$ub" s3 ls | grep -q ' race-b$' || fail "server B does not list the bucket server A made"
  ok
  mapfile -t RACE < <(series race 16 1200)
  run "$py" "$tool" race race-b app/ "$ua" "$ub" "${RACE[@]}"
  grep '^clients: race' "$log" | tail -n 2 | sed 's/^/serve:    /'
  py_checks "clients: race"
  n=$(find "$store/race-b/app" -name reference.bin | wc -l)
  step "   $n reference.bin, $(find "$store/race-b/app" -name '*.delta' | wc -l) .delta, $(disk_bytes "$store/race-b/app") bytes on disk for $(file_bytes "${RACE[@]}")"
  [ "$n" = 1 ] || fail "race: $n reference.bin under $store/race-b/app, want 1: $(find "$store/race-b" -type f)"
  ok
  [ "$(find "$store/race-b" -name reference.bin | wc -l)" = 1 ] || fail "race: reference.bin elsewhere: $(find "$store/race-b" -name reference.bin)"
  ok
  stop_server race-a
  stop_server race-b
}

# --- load ----------------------------------------------------------------------------------
part_load() {
  step "load: $load_clients clients, $load_requests mixed requests"
  main_server
  run "$py" "$tool" load "$url" load-b --clients "$load_clients" --requests "$load_requests"
  grep '^clients: load' "$log" | tail -n 2 | sed 's/^/serve:    /'
  local rss
  rss=$(peak_rss main)
  step "   server peak RSS (VmHWM): $((rss / 1024)) MiB"
  [ "$rss" -le $((max_rss_mib * 1024)) ] || fail "server peak RSS $((rss / 1024)) MiB, above $max_rss_mib MiB"
  ok
}

want aws && part_aws
want boto3 && part_boto3
want rclone && part_rclone
want tls && part_tls
want load && part_load
finish_main
want race && part_race
echo "serve: $checks checks passed (${parts[*]}) in ${SECONDS}s"
