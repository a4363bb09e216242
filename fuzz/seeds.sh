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
mkdir -p corpus/vcdiff_decode corpus/engine_decode corpus/native_header corpus/seethrough_rebuild
# see-through op lists (u16 LE op-list length, ops, plain stream): copy + literal, and one stream
# each that zlib, liblzma and libbzip2 recreate from the plain text (Python's bindings of the
# same libraries write the same bytes), the last once more with its plaintext from a nested list.
python3 - corpus/seethrough_rebuild <<'PY'
import bz2, lzma, os, sys, zlib
out = sys.argv[1]
def varint(v):
    b = bytearray()
    while True:
        byte = v & 0x7F
        v >>= 7
        b.append(byte | (0x80 if v else 0))
        if not v:
            return bytes(b)
text = b"".join(b"row %d of the fuzz seed, value %d\n" % (i, i * 7 % 13) for i in range(120))
def seed(name, ops, plain):
    open(os.path.join(out, name), "wb").write(len(ops).to_bytes(2, "little") + ops + plain)
seed("copy-lit", b"\x01" + varint(100) + b"\x02\x03abc\x01" + varint(len(text) - 100) + b"\x00", text)
c = zlib.compressobj(6, zlib.DEFLATED, -15, 8)
deflated = c.compress(text) + c.flush()
seed("zlib-gzip-trailer", b"\x03\x02\x06" + varint(len(text)) + varint(len(deflated)) + b"\x00\x05\x00", text)
xz = lzma.compress(text, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=6)
seed("xz", b"\x06" + varint(6) + b"\x04" + varint(0) + varint(len(text)) + varint(len(xz)) + b"\x00", text)
bz = bz2.compress(text, 9)
seed("bzip2", b"\x07\x09" + varint(len(text)) + varint(len(bz)) + b"\x00", text)
seed("nested-bzip2", b"\x08" + varint(len(text)) + b"\x01" + varint(len(text)) + b"\x00"
     + b"\x07\x09" + varint(len(text)) + varint(len(bz)) + b"\x00", text)
PY
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
# small files of every kind expand walks: gzip, zip (deflated and stored), a tar with a gzip
# member and its .tar.gz, an ar archive with an xz member, bzip2, an rpm whose xz payload is a
# cpio archive with a gzip member
mkdir -p corpus/seethrough_expand
python3 - corpus/seethrough_expand <<'PY'
import bz2, gzip, io, lzma, os, sys, tarfile, zipfile
out = sys.argv[1]
text = b"".join(b"line %d of a small file, value %d\n" % (i, i * 7 % 13) for i in range(60))
def seed(name, data):
    open(os.path.join(out, name), "wb").write(data)
seed("gzip", gzip.compress(text, 6, mtime=0))
z = io.BytesIO()
with zipfile.ZipFile(z, "w") as f:
    f.writestr(zipfile.ZipInfo("a.txt"), text, zipfile.ZIP_DEFLATED)
    f.writestr(zipfile.ZipInfo("b.txt"), text[:50], zipfile.ZIP_STORED)
seed("zip", z.getvalue())
t = io.BytesIO()
with tarfile.open(fileobj=t, mode="w", format=tarfile.GNU_FORMAT) as f:
    member = gzip.compress(text, 9, mtime=0)
    info = tarfile.TarInfo("data.gz")
    info.size = len(member)
    f.addfile(info, io.BytesIO(member))
seed("tar-with-gz", t.getvalue())
seed("tar.gz", gzip.compress(t.getvalue(), 6, mtime=0))
xz = lzma.compress(text, format=lzma.FORMAT_XZ, preset=6)
seed("ar-with-xz", b"!<arch>\n" + b"data.tar.xz/".ljust(16) + b"0".ljust(12) + b"0".ljust(6)
     + b"0".ljust(6) + b"100644".ljust(8) + str(len(xz)).encode().ljust(10) + b"`\n" + xz
     + (b"\n" if len(xz) % 2 else b""))
seed("bzip2", bz2.compress(text, 9))
def cpio(name, mode, data):
    fields = [1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
    e = b"070701" + b"".join(b"%08x" % f for f in fields) + name + b"\0"
    e += b"\0" * (-len(e) % 4) + data
    return e + b"\0" * (-len(e) % 4)
payload = cpio(b"./doc/changelog.gz", 0o100644, gzip.compress(text, 9, mtime=0)) + cpio(b"TRAILER!!!", 0, b"")
def rpm_header(entries, store):
    return b"\x8e\xad\xe8\x01\0\0\0\0" + entries.to_bytes(4, "big") + store.to_bytes(4, "big") + b"\x5a" * (16 * entries + store)
signature = rpm_header(1, 3)
seed("rpm-xz-cpio", b"\xed\xab\xee\xdb".ljust(96, b"\0") + signature + b"\0" * (-len(signature) % 8)
     + rpm_header(2, 5) + lzma.compress(payload, format=lzma.FORMAT_XZ, preset=2))
PY
echo "seeded: $(ls corpus/vcdiff_decode | wc -l) vcdiff, $(ls corpus/engine_decode | wc -l) engine, $(ls corpus/native_header | wc -l) header, $(ls corpus/seethrough_rebuild | wc -l) rebuild, $(ls corpus/seethrough_expand | wc -l) expand"
