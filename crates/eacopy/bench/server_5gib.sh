#!/usr/bin/env bash
# Copies a 5 GiB tree to an eacopy server on 127.0.0.1, changes one file, and copies again:
# prints the time and the bytes sent of both copies.
#
#   cargo build --release -p eacopy
#   bash crates/eacopy/bench/server_5gib.sh [WORKDIR]     # needs ~11 GiB free in WORKDIR
#
# EACOPY_BIN picks the binary (default: target/release/eacopy under CARGO_TARGET_DIR or ./target),
# EACOPY_PORT the port (default 31399), EACOPY_KEEP=1 keeps the work directory.
set -euo pipefail

bin=${EACOPY_BIN:-${CARGO_TARGET_DIR:-target}/release/eacopy}
[ -x "$bin" ] || { echo "no eacopy binary at $bin: run cargo build --release -p eacopy" >&2; exit 2; }
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/eacopy-5g.XXXXXX")}
port=${EACOPY_PORT:-31399}
src=$work/src root=$work/root token=$work/token
mkdir -p "$src/big" "$root"

server=""
cleanup() {
  # `set -e` applies here too: a killed server's status (143) must not skip the removal.
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  [ "${EACOPY_KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

echo "== generating 5 GiB under $src"
for i in $(seq -w 1 19); do head -c 256M /dev/urandom > "$src/big/part$i.bin"; done
for d in $(seq 1 20); do
  mkdir -p "$src/small/d$d"
  for f in $(seq 1 100); do head -c $(( (d * 7919 + f * 104729) % 60000 + 1000 )) /dev/urandom > "$src/small/d$d/f$f.o"; done
done
# Top up to exactly 5 GiB with one more large file.
used=$(du -sb "$src" | cut -f1)
head -c $(( 5 * 1024 * 1024 * 1024 - used )) /dev/urandom > "$src/big/part20.bin"
echo "files: $(find "$src" -type f | wc -l), bytes: $(du -sb "$src" | cut -f1)"
sync

head -c 32 /dev/urandom | base64 > "$token"
"$bin" serve --root "$root" --bind 127.0.0.1 --port "$port" --token-file "$token" &
server=$!
sleep 0.5

run() {
  local label=$1
  local t0 t1
  t0=$(date +%s.%N)
  "$bin" -j 4 --token-file "$token" "$src" "127.0.0.1:$port/tree" 2> "$work/$label.log"
  t1=$(date +%s.%N)
  printf '%s: %.2f s\n  %s\n' "$label" "$(awk "BEGIN{print $t1 - $t0}")" "$(tail -1 "$work/$label.log")"
}

echo "== first copy (server has nothing)"
run first
echo "== change 1 MiB in the middle of one 256 MiB file"
dd if=/dev/urandom of="$src/big/part07.bin" bs=1M count=1 seek=100 conv=notrunc status=none
echo "== second copy (server holds the old tree)"
run second
cmp "$src/big/part07.bin" "$root/tree/big/part07.bin" && echo "changed file verified on the server"
