"""Helpers for tests/interop/run.sh: S3 layout checks, foreign-metadata fixtures, test files.

Runs in the interop venv (boto3 comes with deltaglider); talks to the S3 server named by
AWS_ENDPOINT_URL. Every check prints what it found and exits non-zero on the first mismatch.

  s3tool.py free-port
  s3tool.py serve HOST PORT                moto_server whose create-if-absent PUTs are atomic
  s3tool.py buckets ENDPOINT BUCKET...
  s3tool.py variants SRC.zip OUTDIR N
  s3tool.py layout BUCKET PREFIX --format compat|native [--ref-tool T] [--ref-source NAME] FILE...
  s3tool.py proxy-fixtures --bucket B --src PREFIX --dst PREFIX --files DIR
                           --passthrough FILE... --root-bucket RB --bad-bucket XB
  s3tool.py legacy-fixtures --bucket B --src PREFIX --dst PREFIX --files DIR --direct FILE
  s3tool.py keys BUCKET [PREFIX]          raw listing, `.deltaglider/` included: SIZE KEY lines
  s3tool.py meta BUCKET KEY               an object's raw user metadata: FIELD=VALUE lines
"""

import argparse
import hashlib
import os
import shutil
import socket
import sys
import zipfile
from datetime import datetime, timezone

# Fields Python deltaglider 6.2.0 requires on a delta before it will rebuild it.
PYTHON_DELTA_FIELDS = [
    "dg-tool",
    "dg-original-name",
    "dg-file-sha256",
    "dg-file-size",
    "dg-created-at",
    "dg-ref-key",
    "dg-ref-sha256",
    "dg-delta-size",
]
PROXY_TOOL = "deltaglider_proxy/0.9.0"


def fail(msg):
    print(f"s3tool: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def client():
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        config=Config(s3={"addressing_style": "path"}),
    )


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def md5_file(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def keys(s3, bucket, prefix):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.extend(o["Key"] for o in page.get("Contents", []))
    return sorted(out)


def head(s3, bucket, key):
    return s3.head_object(Bucket=bucket, Key=key)["Metadata"]


def proxy_time():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------------------------------------


def cmd_free_port(_args):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def cmd_serve(args):
    """Runs moto_server with `If-None-Match: *` PUTs made atomic, as S3 makes them.

    moto 5.2.5 checks that the key is absent, then stores, without a lock: under its threaded
    server two racing create-only PUTs can both succeed, the second overwriting the first —
    what S3 never does. The race tests assert S3's contract (exactly one writer wins), so every
    object PUT here runs one at a time.
    """
    import threading

    from moto import server
    from moto.s3.responses import S3Response

    lock = threading.Lock()
    unlocked = S3Response.put_object

    def put_object(self):
        with lock:
            return unlocked(self)

    S3Response.put_object = put_object
    server.main(["-H", args.host, "-p", str(args.port)])


def cmd_buckets(args):
    """Waits (up to 30 s) for the S3 server to answer, then creates the buckets with unsigned
    PUTs, as `curl -X PUT http://HOST:PORT/BUCKET` would."""
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(args.endpoint + "/", timeout=2).close()
            break
        except urllib.error.HTTPError:
            break  # it answers
        except OSError as e:
            if time.monotonic() > deadline:
                fail(f"no S3 server answering on {args.endpoint}: {e}")
            time.sleep(0.2)
    for b in args.buckets:
        req = urllib.request.Request(f"{args.endpoint}/{b}", method="PUT", data=b"")
        with urllib.request.urlopen(req, timeout=10) as r:
            if r.status != 200:
                fail(f"create bucket {b}: HTTP {r.status}")
        print(f"bucket {b}")


def cmd_variants(args):
    """N valid, different, very similar zips: SRC plus one small extra member each."""
    os.makedirs(args.outdir, exist_ok=True)
    for i in range(args.n):
        dst = os.path.join(args.outdir, f"app-1.0.{i}.zip")
        shutil.copyfile(args.src, dst)
        with zipfile.ZipFile(dst, "a", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr(f"dg_interop/build_{i}.txt", f"build {i}\n" * (i + 1))
        with zipfile.ZipFile(dst) as z:
            bad = z.testzip()
            if bad is not None:
                fail(f"{dst}: bad member {bad}")
        print(dst)


def cmd_layout(args):
    """The bucket layout a deltaspace must have after every file in FILES was uploaded."""
    s3 = client()
    prefix = args.prefix.rstrip("/") + "/"
    ref_key = prefix + "reference.bin"
    files = {os.path.basename(f): f for f in args.files}
    shas = {name: sha256_file(path) for name, path in files.items()}
    found = [k for k in keys(s3, args.bucket, prefix) if not k.startswith(".deltaglider/")]

    refs = [k for k in found if k.rsplit("/", 1)[-1] == "reference.bin"]
    if refs != [ref_key]:
        fail(f"{args.bucket}/{prefix}: expected exactly one reference {ref_key}, found {refs}")
    ref = head(s3, args.bucket, ref_key)
    ref_sha = ref.get("dg-file-sha256", "")
    source = ref.get("dg-source-name", "")
    if source not in files:
        fail(f"{ref_key}: dg-source-name {source!r} is none of the uploaded files")
    if ref_sha != shas[source]:
        fail(f"{ref_key}: dg-file-sha256 {ref_sha} is not the SHA-256 of {source}")
    if args.ref_source and source != args.ref_source:
        fail(f"{ref_key}: reference made from {source}, expected {args.ref_source}")
    if args.ref_tool and not ref.get("dg-tool", "").startswith(args.ref_tool):
        fail(f"{ref_key}: dg-tool {ref.get('dg-tool')!r}, expected {args.ref_tool}…")
    ref_native = ref.get("dg-format") == "dgx1"
    if ref_native != (args.format == "native"):
        fail(f"{ref_key}: dg-format {ref.get('dg-format')!r} but deltaspace should be {args.format}")
    if args.format == "compat":
        size = s3.head_object(Bucket=args.bucket, Key=ref_key)["ContentLength"]
        if size != os.path.getsize(files[source]):
            fail(f"{ref_key}: compat reference is {size} bytes, {source} is not stored whole")

    expected = {ref_key}
    zero_diff = []
    for name, sha in sorted(shas.items()):
        delta_key, direct_key = prefix + name + ".delta", prefix + name
        present = [k for k in (delta_key, direct_key) if k in found]
        if present != [delta_key]:
            fail(f"{name}: expected exactly {delta_key} (a delta), found {present}")
        expected.add(delta_key)
        meta = head(s3, args.bucket, delta_key)
        if meta.get("dg-file-sha256") != sha:
            fail(f"{delta_key}: dg-file-sha256 {meta.get('dg-file-sha256')} != {sha}")
        if meta.get("dg-ref-key") != ref_key:
            fail(f"{delta_key}: dg-ref-key {meta.get('dg-ref-key')!r} != {ref_key}")
        if meta.get("dg-ref-sha256") != ref_sha:
            fail(
                f"{delta_key}: made against reference {meta.get('dg-ref-sha256')}, "
                f"but {ref_key} is {ref_sha} (reference replaced after the delta was written?)"
            )
        if (meta.get("dg-format") == "dgx1") != (args.format == "native"):
            fail(f"{delta_key}: dg-format {meta.get('dg-format')!r} in a {args.format} deltaspace")
        if args.format == "compat":
            missing = [f for f in PYTHON_DELTA_FIELDS if not meta.get(f)]
            if missing:
                fail(f"{delta_key}: Python 6.2.0 cannot read it, missing {missing}")
        if meta.get("dg-note", "").startswith("zero-diff"):
            zero_diff.append(name)
    if zero_diff != [source]:
        fail(f"{prefix}: zero-diff deltas {zero_diff}, expected only the reference's {source}")
    extra = sorted(set(found) - expected)
    if extra:
        fail(f"{args.bucket}/{prefix}: unexpected objects {extra}")
    print(
        f"layout ok: {args.bucket}/{prefix} {args.format}, reference from {source} "
        f"({ref.get('dg-tool')}), {len(shas)} deltas against it"
    )


def proxy_common(name, path):
    return {
        "dg-tool": PROXY_TOOL,
        "dg-original-name": name,
        "dg-file-sha256": sha256_file(path),
        "dg-file-size": str(os.path.getsize(path)),
        "dg-md5": md5_file(path),
        "dg-created-at": proxy_time(),
    }


def put(s3, bucket, key, body, meta):
    s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=meta)
    print(f"fixture s3://{bucket}/{key} {sorted(meta)}")


def python_space(s3, bucket, src):
    """(reference body, reference metadata, [(name, delta body, delta metadata)]) of a prefix
    that Python deltaglider wrote."""
    src = src.rstrip("/") + "/"
    ref = s3.get_object(Bucket=bucket, Key=src + "reference.bin")
    deltas = []
    for k in keys(s3, bucket, src):
        if k.endswith(".delta"):
            obj = s3.get_object(Bucket=bucket, Key=k)
            if not obj["Metadata"].get("dg-tool", "").startswith("deltaglider/"):
                fail(f"{k} was not written by Python deltaglider")
            deltas.append((k[len(src) : -len(".delta")], obj["Body"].read(), obj["Metadata"]))
    if len(deltas) < 2:
        fail(f"{bucket}/{src}: expected Python-written deltas, found {len(deltas)}")
    return ref["Body"].read(), ref["Metadata"], deltas


def proxy_reference(body, meta, files):
    source = meta["dg-source-name"]
    out = proxy_common(source, os.path.join(files, source))
    out.update({"dg-note": "reference", "dg-source-name": source})
    if out["dg-file-sha256"] != meta["dg-file-sha256"] or len(body) != int(out["dg-file-size"]):
        fail("Python reference does not match the local file it was made from")
    return out


def proxy_delta(name, body, meta, files, ref_key=None):
    out = proxy_common(name, os.path.join(files, name))
    out.update(
        {
            "dg-note": "delta",
            "dg-ref-path": "reference.bin",
            "dg-ref-sha256": meta["dg-ref-sha256"],
            "dg-delta-size": str(len(body)),
            "dg-delta-cmd": f"xdelta3 -e -9 -s reference.bin {name} {name}.delta",
        }
    )
    if ref_key:
        out["dg-ref-key"] = ref_key
    if out["dg-file-sha256"] != meta["dg-file-sha256"]:
        fail(f"{name}: Python delta does not match the local file")
    return out


def proxy_passthrough(path, note="passthrough"):
    out = proxy_common(os.path.basename(path), path)
    out["dg-note"] = note
    return out


def cmd_proxy_fixtures(args):
    """deltaglider_proxy's spelling, made from objects Python wrote: `dg-ref-path` (relative to
    the deltaspace) instead of, or beside, `dg-ref-key`; notes reference/delta/passthrough
    (older: direct); no `dg-compression`; `dg-md5`, microsecond timestamps."""
    s3 = client()
    dst = args.dst.rstrip("/") + "/"
    ref_body, ref_meta, deltas = python_space(s3, args.bucket, args.src)
    put(s3, args.bucket, dst + "reference.bin", ref_body, proxy_reference(ref_body, ref_meta, args.files))
    for i, (name, body, meta) in enumerate(deltas):
        # Even: dg-ref-path only (as the proxy writes); odd: dg-ref-path and dg-ref-key.
        ref_key = dst + "reference.bin" if i % 2 else None
        put(s3, args.bucket, f"{dst}{name}.delta", body, proxy_delta(name, body, meta, args.files, ref_key))
    for i, path in enumerate(args.passthrough):
        # The proxy's whole objects: `passthrough`, before v0.4 `direct`; never dg-compression.
        note = "direct" if i % 2 else "passthrough"
        with open(path, "rb") as f:
            put(s3, args.bucket, dst + os.path.basename(path), f.read(), proxy_passthrough(path, note))

    # A deltaspace at the bucket root: dg-ref-path resolves to the bucket's reference.bin.
    name, body, meta = deltas[-1]
    put(s3, args.root_bucket, "reference.bin", ref_body, proxy_reference(ref_body, ref_meta, args.files))
    put(s3, args.root_bucket, name + ".delta", body, proxy_delta(name, body, meta, args.files))

    # Must fail: every value is checked, none merely passed through.
    bad = args.bad_bucket
    pt = args.passthrough[0]
    m = proxy_passthrough(pt)
    m["dg-file-sha256"] = "0" * 64
    with open(pt, "rb") as f:
        put(s3, bad, "passthrough/" + os.path.basename(pt), f.read(), m)
    put(s3, bad, "delta/reference.bin", ref_body, proxy_reference(ref_body, ref_meta, args.files))
    m = proxy_delta(name, body, meta, args.files)
    m["dg-file-sha256"] = "1" * 64
    put(s3, bad, f"delta/{name}.delta", body, m)
    put(s3, bad, "refsha/reference.bin", ref_body, proxy_reference(ref_body, ref_meta, args.files))
    m = proxy_delta(name, body, meta, args.files)
    m["dg-ref-sha256"] = "2" * 64
    put(s3, bad, f"refsha/{name}.delta", body, m)


def cmd_legacy_fixtures(args):
    """Older writers' spellings that Python 6.2.0 still reads: `dg_x_y`, bare `x_y` and `x-y`;
    a direct object marked by a bare `compression: none`."""
    s3 = client()
    dst = args.dst.rstrip("/") + "/"
    ref_body, ref_meta, deltas = python_space(s3, args.bucket, args.src)
    spellings = [
        lambda f: "dg_" + f.replace("-", "_"),
        lambda f: f.replace("-", "_"),
        lambda f: f,
    ]

    def respell(meta, how):
        return {how(k[len("dg-") :] if k.startswith("dg-") else k): v for k, v in meta.items()}

    put(s3, args.bucket, dst + "reference.bin", ref_body, respell(ref_meta, spellings[1]))
    for i, (name, body, meta) in enumerate(deltas):
        meta = dict(meta)
        meta["dg-ref-key"] = dst + "reference.bin"
        put(s3, args.bucket, f"{dst}{name}.delta", body, respell(meta, spellings[i % 3]))
    path = args.direct
    with open(path, "rb") as f:
        put(
            s3,
            args.bucket,
            dst + os.path.basename(path),
            f.read(),
            {
                "original_name": os.path.basename(path),
                "file_sha256": sha256_file(path),
                "file_size": str(os.path.getsize(path)),
                "compression": "none",
            },
        )


def cmd_keys(args):
    """Every object under PREFIX as stored, hidden `.deltaglider/` objects included."""
    s3 = client()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=args.bucket, Prefix=args.prefix):
        for o in page.get("Contents", []):
            print(f"{o['Size']} {o['Key']}")


def cmd_meta(args):
    """The user metadata of one object, exactly as stored."""
    for k, v in sorted(head(client(), args.bucket, args.key).items()):
        print(f"{k}={v}")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("free-port").set_defaults(func=cmd_free_port)
    sv = sub.add_parser("serve")
    sv.add_argument("host")
    sv.add_argument("port", type=int)
    sv.set_defaults(func=cmd_serve)
    bk = sub.add_parser("buckets")
    bk.add_argument("endpoint")
    bk.add_argument("buckets", nargs="+")
    bk.set_defaults(func=cmd_buckets)
    v = sub.add_parser("variants")
    v.add_argument("src")
    v.add_argument("outdir")
    v.add_argument("n", type=int)
    v.set_defaults(func=cmd_variants)
    lay = sub.add_parser("layout")
    lay.add_argument("bucket")
    lay.add_argument("prefix")
    lay.add_argument("--format", choices=["compat", "native"], required=True)
    lay.add_argument("--ref-tool")
    lay.add_argument("--ref-source")
    lay.add_argument("files", nargs="+")
    lay.set_defaults(func=cmd_layout)
    px = sub.add_parser("proxy-fixtures")
    for a in ("--bucket", "--src", "--dst", "--files", "--root-bucket", "--bad-bucket"):
        px.add_argument(a, required=True)
    px.add_argument("--passthrough", nargs="+", required=True)
    px.set_defaults(func=cmd_proxy_fixtures)
    lg = sub.add_parser("legacy-fixtures")
    for a in ("--bucket", "--src", "--dst", "--files", "--direct"):
        lg.add_argument(a, required=True)
    lg.set_defaults(func=cmd_legacy_fixtures)
    ks = sub.add_parser("keys")
    ks.add_argument("bucket")
    ks.add_argument("prefix", nargs="?", default="")
    ks.set_defaults(func=cmd_keys)
    mt = sub.add_parser("meta")
    mt.add_argument("bucket")
    mt.add_argument("key")
    mt.set_defaults(func=cmd_meta)
    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
