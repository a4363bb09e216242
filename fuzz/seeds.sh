#!/usr/bin/env bash
# Seeds the fuzz corpora with real deltas against the targets' fixed source: ours (every
# engine) and xdelta3's (-S none, LZMA, DJW) when it is installed.
set -euo pipefail
cd "$(dirname "$0")"
(cd .. && cargo build -q -p dg-cli)
dg=../target/debug/dg
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
python3 - "$work" <<'PY'
import sys, os
out = sys.argv[1]
x = 0x9E3779B97F4A7C15
mask = (1 << 64) - 1
v = bytearray()
for _ in range(3072):
    x ^= (x << 13) & mask; x ^= x >> 7; x ^= (x << 17) & mask
    v.append((x >> 24) & 0xff)
v += v[:1024]
open(os.path.join(out, "source.bin"), "wb").write(v)
for i, (a, b) in enumerate([(0, 4096), (100, 3000), (1000, 2000), (0, 10)]):
    t = bytearray(v[a:b]) + b"edit %d" % i + bytes(v[:a])
    open(os.path.join(out, "t%d.bin" % i), "wb").write(t)
PY
mkdir -p corpus/vcdiff_decode corpus/engine_decode corpus/native_header
for t in "$work"/t*.bin; do
  n=$(basename "$t" .bin)
  for e in vcdiff lzma zstd rsync; do
    "$dg" -q delta encode --engine "$e" "$work/source.bin" "$t" "corpus/engine_decode/${n}.$e"
  done
  cp "corpus/engine_decode/${n}.vcdiff" corpus/vcdiff_decode/
  if command -v xdelta3 >/dev/null; then
    for s in none lzma djw; do
      xdelta3 -e -f -9 -S "$s" -s "$work/source.bin" "$t" "corpus/vcdiff_decode/${n}.xd3-$s"
    done
  fi
done
printf '\x89DGX\x01\x02\x01\x21\x05' > corpus/native_header/seed-delta
echo "seeded: $(ls corpus/vcdiff_decode | wc -l) vcdiff, $(ls corpus/engine_decode | wc -l) engine, $(ls corpus/native_header | wc -l) header"
