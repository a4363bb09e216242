#!/usr/bin/env bash
# Round-trips a large generated file and a similar second version through a local store and
# reports wall time and peak memory of each dg command (GNU time).
#
#   bench/large-file.sh [SIZE_GIB=3] [WORKDIR=/tmp/dg-large]
set -euo pipefail
size_gib=${1:-3}
work=${2:-/tmp/dg-large}
cd "$(dirname "$0")/.."
cargo build --release -q -p dg-cli
dg="$PWD/target/release/dg"
rm -rf "$work"; mkdir -p "$work"
export AWS_ENDPOINT_URL="file://$work/store" DG_TMPDIR="$work/tmp"
ref="$work/disk-v1.img"; tgt="$work/disk-v2.img"
echo "generating ${size_gib} GiB reference and a copy with 20 scattered edits"
head -c "$((size_gib << 30))" /dev/urandom >"$ref"
cp "$ref" "$tgt"
for i in $(seq 1 20); do
  off=$(( (RANDOM * 32768 + RANDOM) % ((size_gib << 30) - 4096) ))
  head -c 4096 /dev/urandom | dd of="$tgt" bs=1 seek="$off" conv=notrunc status=none
done
run() { /usr/bin/time -f "  -> %e s, peak RSS %M KiB" "$dg" "$@"; }
"$dg" mb s3://big
run cp "$ref" s3://big/disks/
run cp "$tgt" s3://big/disks/
"$dg" ls -h --summarize s3://big/disks/
run cp s3://big/disks/disk-v2.img "$work/restored.img"
cmp "$tgt" "$work/restored.img" && echo "restored file is byte-identical"
rm -rf "$work"
