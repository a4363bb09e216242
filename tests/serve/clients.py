"""Helpers and client-side checks for tests/serve/run.sh and bench/serve.sh.

Runs in the interop venv (boto3). Every check prints what went wrong and exits non-zero on the
first mismatch; on success the last line says how many checks passed.

  clients.py series OUTDIR NAME COUNT KIB [--first N]   similar release-like zips, one path a line
  clients.py random PATH BYTES                          incompressible bytes (deterministic)
  clients.py etag PATH [PART_BYTES]                     S3 ETag of a single or multipart upload
  clients.py json-get FILE-OR-- FIELD.PATH              one field of a JSON document
  clients.py metrics URL NAME [LABEL=VALUE...]          sum of one Prometheus metric's samples
  clients.py boto3 ENDPOINT                             the boto3 suite (keys from the environment)
  clients.py race BUCKET PREFIX ENDPOINT_A ENDPOINT_B FILE...
  clients.py load ENDPOINT BUCKET [--clients 50] [--requests 2000]
  clients.py mb ENDPOINT BUCKET                         create a bucket (keys from AWS_* variables)
  clients.py bench-put|bench-get ENDPOINT BUCKET PREFIX FILE... [--threads N]
                                                        prints "BYTES SECONDS"

Environment for boto3 / race / load: SERVE_ADMIN_KEY, SERVE_ADMIN_SECRET, SERVE_READER_KEY,
SERVE_READER_SECRET, SERVE_RELEASER_KEY, SERVE_RELEASER_SECRET (the users file run.sh writes).
"""

import argparse
import concurrent.futures
import hashlib
import io
import json
import os
import random
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile

MiB = 1 << 20
checks = 0


def fail(msg):
    print(f"clients: FAIL: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def ok():
    global checks
    checks += 1


def expect(cond, msg):
    if not cond:
        fail(msg)
    ok()


def md5(data):
    return hashlib.md5(data).hexdigest()


def md5_file(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MiB), b""):
            h.update(chunk)
    return h.hexdigest()


def multipart_etag(path, part):
    """ETag S3 gives an upload in parts of `part` bytes: md5 of the parts' md5s, "-N"."""
    digests = []
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(part), b""):
            digests.append(hashlib.md5(chunk).digest())
    if len(digests) <= 1:
        return md5_file(path)
    return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"


# --- test data -------------------------------------------------------------------------------
# A "project" of text members (deflated, rewritten when they change) and binary members
# (stored, a few bytes patched when they change), like a wheel or a jar. Version v of a project
# changes about one member in twelve against version v-1 and adds one file, so successive
# versions are the kind of series dg stores as small deltas.

_WORDS = None


def words():
    global _WORDS
    if _WORDS is None:
        rng = random.Random(7)
        letters = "abcdefghijklmnopqrstuvwxyz_"
        _WORDS = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 11))) for _ in range(3000)]
        _WORDS += ["def", "return", "self", "import", "class", "(", ")", ":", "\n", "    ", "=", "if"]
    return _WORDS


def _revision(seed, member, version):
    """How many times MEMBER changed up to VERSION."""
    return sum(1 for v in range(1, version + 1) if random.Random(f"{seed}:{member}:{v}").random() < 1 / 12)


def _text(seed, member, rev, size):
    rng = random.Random(f"t:{seed}:{member}:{rev}")
    return " ".join(rng.choices(words(), k=max(1, size // 6))).encode()[:size]


def _blob(seed, member, rev, size):
    data = bytearray(random.Random(f"b:{seed}:{member}").randbytes(size))
    for r in range(1, rev + 1):
        rng = random.Random(f"p:{seed}:{member}:{r}")
        for _ in range(4):
            at = rng.randrange(0, max(1, size - 64))
            data[at : at + 32] = rng.randbytes(32)
    return bytes(data)


def release_zip(seed, version, kib):
    """Bytes of version VERSION of project SEED, about KIB KiB."""
    target = kib * 1024
    n_blobs = max(1, target // (256 * 1024))
    blob_size = int(target * 0.7) // n_blobs
    n_texts = max(4, target // (24 * 1024))
    text_size = max(512, int(target * 0.3 * 3.2) // n_texts)
    buf = io.BytesIO()
    stamp = (2024, 1, 1, 0, 0, 0)
    with zipfile.ZipFile(buf, "w") as z:
        members = [(f"pkg/mod_{i:04d}.py", "t", i) for i in range(n_texts)]
        members += [(f"pkg/lib_{i:02d}.so", "b", i) for i in range(n_blobs)]
        members += [(f"pkg/added_in_{v}.py", "t", 10000 + v) for v in range(1, version + 1)]
        for name, kind, i in members:
            rev = _revision(seed, i, version)
            info = zipfile.ZipInfo(name, stamp)
            if kind == "t":
                info.compress_type = zipfile.ZIP_DEFLATED
                body = _text(seed, i, rev, text_size if i < 10000 else 2048)
            else:
                info.compress_type = zipfile.ZIP_STORED
                body = _blob(seed, i, rev, blob_size)
            z.writestr(info, body)
        z.writestr(zipfile.ZipInfo("pkg/VERSION", stamp), f"{seed} {version}\n")
    return buf.getvalue()


def cmd_series(a):
    os.makedirs(a.outdir, exist_ok=True)
    for v in range(a.first, a.first + a.count):
        path = os.path.join(a.outdir, f"{a.name}-1.{v}.0.zip")
        if not os.path.exists(path):
            data = release_zip(a.name, v, a.kib)
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.rename(path + ".tmp", path)
        print(path)


def cmd_random(a):
    rng = random.Random(f"random:{a.path}:{a.bytes}")
    with open(a.path, "wb") as f:
        left = a.bytes
        while left:
            n = min(left, 4 * MiB)
            f.write(rng.randbytes(n))
            left -= n


def cmd_etag(a):
    print(multipart_etag(a.path, a.part) if a.part else md5_file(a.path))


def cmd_json_get(a):
    doc = json.load(sys.stdin if a.file == "-" else open(a.file))
    for part in a.field.split("."):
        if isinstance(doc, list):
            doc = doc[int(part)]
        elif isinstance(doc, dict) and part in doc:
            doc = doc[part]
        else:
            print("")
            return
    print(json.dumps(doc) if isinstance(doc, (dict, list)) else doc)


def cmd_metrics(a):
    text = urllib.request.urlopen(a.url, timeout=10).read().decode()
    total, seen = 0.0, False
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        labels = {}
        if "{" in line:
            inner = line.split("{", 1)[1].rsplit("}", 1)[0]
            for item in inner.split('",'):
                if "=" in item:
                    k, v = item.split("=", 1)
                    labels[k.strip()] = v.strip().strip('"')
        if name == a.name and all(labels.get(k) == v for k, v in a.labels):
            total += float(line.rsplit(" ", 1)[1])
            seen = True
    if not seen:
        fail(f"{a.url}: no metric {a.name}")
    print(int(total) if total == int(total) else total)


# --- clients ---------------------------------------------------------------------------------


def s3_client(endpoint, key=None, secret=None, unsigned=False, retries=3, pool=10):
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    cfg = Config(
        s3={"addressing_style": "path"},
        region_name="us-east-1",
        retries={"max_attempts": retries, "mode": "standard"},
        max_pool_connections=pool,
        signature_version=UNSIGNED if unsigned else "s3v4",
        connect_timeout=10,
        read_timeout=120,
    )
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key or "unused",
        aws_secret_access_key=secret or "unused",
        config=cfg,
    )


def env_keys(who):
    return os.environ[f"SERVE_{who}_KEY"], os.environ[f"SERVE_{who}_SECRET"]


def error_of(fn, *args, **kw):
    """(HTTP status, error code) of a call that must fail."""
    from botocore.exceptions import ClientError

    try:
        fn(*args, **kw)
    except ClientError as e:
        return e.response["ResponseMetadata"].get("HTTPStatusCode"), e.response["Error"].get("Code")
    return None, None


def http(method, url, data=None):
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def list_v2_all(s3, bucket, page_size=None, **kw):
    """Every page of list_objects_v2, following ContinuationToken by hand."""
    pages, token = [], None
    while True:
        args = dict(Bucket=bucket, **kw)
        if page_size:
            args["MaxKeys"] = page_size
        if token:
            args["ContinuationToken"] = token
        page = s3.list_objects_v2(**args)
        pages.append(page)
        if not page.get("IsTruncated"):
            return pages
        token = page.get("NextContinuationToken")
        expect(token, f"list_objects_v2 {kw}: IsTruncated without NextContinuationToken")
        expect(len(pages) < 1000, f"list_objects_v2 {kw}: more than 1000 pages")


def list_v1_all(s3, bucket, page_size, **kw):
    pages, marker = [], None
    while True:
        args = dict(Bucket=bucket, MaxKeys=page_size, **kw)
        if marker:
            args["Marker"] = marker
        page = s3.list_objects(**args)
        pages.append(page)
        if not page.get("IsTruncated"):
            return pages
        marker = page.get("NextMarker")
        if not marker:
            expect(not kw.get("Delimiter"), f"list_objects {kw}: truncated, Delimiter, no NextMarker")
            marker = page["Contents"][-1]["Key"]
        expect(len(pages) < 1000, f"list_objects {kw}: more than 1000 pages")


def keys_of(pages):
    return [o["Key"] for p in pages for o in p.get("Contents", [])]


def prefixes_of(pages):
    return [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]


def cmd_boto3(a):
    from boto3.s3.transfer import TransferConfig

    ep = a.endpoint
    work = a.work
    os.makedirs(work, exist_ok=True)
    admin = s3_client(ep, *env_keys("ADMIN"))
    reader = s3_client(ep, *env_keys("READER"))
    releaser = s3_client(ep, *env_keys("RELEASER"))
    B = a.bucket

    # buckets
    admin.create_bucket(Bucket=B)
    names = [b["Name"] for b in admin.list_buckets()["Buckets"]]
    expect(B in names, f"list_buckets: {B} missing from {names}")
    admin.head_bucket(Bucket=B)
    ok()
    status, code = error_of(admin.head_bucket, Bucket="no-such-bucket-dg")
    expect(status == 404, f"head_bucket of a missing bucket: {status} {code}, want 404")
    status, code = error_of(admin.list_objects_v2, Bucket="no-such-bucket-dg")
    expect(code == "NoSuchBucket", f"list_objects_v2 of a missing bucket: {status} {code}")

    # put / get / head: one release series (delta-eligible) and small plain files
    series = [release_zip("boto", v, 600) for v in range(1, 5)]
    rel_keys = [f"tree/rel/boto-1.{v}.0.zip" for v in range(1, 5)]
    for i, (key, body) in enumerate(zip(rel_keys, series)):
        r = admin.put_object(
            Bucket=B, Key=key, Body=body, ContentType="application/zip", Metadata={"build": f"b{i}", "Owner-Team": "Rel Eng"}
        )
        expect(r["ETag"].strip('"') == md5(body), f"put_object {key}: ETag {r['ETag']}, want md5 {md5(body)}")
    plain = {
        "tree/a.txt": b"alpha\n" * 10,
        "tree/b.txt": b"bravo\n" * 11,
        "tree/c.zip": series[0][:5000],  # named like an archive but not one
        "tree/dir1/x.txt": b"x" * 3,
        "tree/dir1/y.txt": b"",
        "tree/dir2/z.txt": b"z" * 4097,
        "tree/sp ace/u\u00e9+%.txt": b"odd name",
        "other/k.txt": b"elsewhere",
    }
    for key, body in plain.items():
        admin.put_object(Bucket=B, Key=key, Body=body)
    ok()

    for i, (key, body) in enumerate(zip(rel_keys, series)):
        r = admin.get_object(Bucket=B, Key=key)
        got = r["Body"].read()
        expect(got == body, f"get_object {key}: {len(got)} bytes differ from the {len(body)} put")
        expect(r["ContentLength"] == len(body), f"get_object {key}: ContentLength {r['ContentLength']}")
        expect(r["ContentType"] == "application/zip", f"get_object {key}: ContentType {r['ContentType']}")
        expect(r["Metadata"].get("build") == f"b{i}", f"get_object {key}: Metadata {r['Metadata']}")
        expect(r["ETag"].strip('"') == md5(body), f"get_object {key}: ETag {r['ETag']}")
        h = admin.head_object(Bucket=B, Key=key)
        expect(h["ContentLength"] == len(body), f"head_object {key}: ContentLength {h['ContentLength']}")
        expect(
            h["Metadata"] == {"build": f"b{i}", "owner-team": "Rel Eng"},
            f"head_object {key}: Metadata {h['Metadata']}, want build=b{i}, owner-team='Rel Eng'",
        )
        expect(h["ContentType"] == "application/zip", f"head_object {key}: ContentType {h['ContentType']}")
        expect(h["ETag"].strip('"') == md5(body), f"head_object {key}: ETag {h['ETag']}")
        expect("LastModified" in h, f"head_object {key}: no LastModified")
    for key, body in plain.items():
        got = admin.get_object(Bucket=B, Key=key)["Body"].read()
        expect(got == body, f"get_object {key!r}: content differs")

    # ranges, on a file stored as a delta
    body, key = series[2], rel_keys[2]
    n = len(body)
    for rng, want, cr in [
        ("bytes=100-199", body[100:200], f"bytes 100-199/{n}"),
        ("bytes=-100", body[-100:], f"bytes {n - 100}-{n - 1}/{n}"),
        (f"bytes={n - 10}-", body[-10:], f"bytes {n - 10}-{n - 1}/{n}"),
        (f"bytes=0-{n + 1000}", body, f"bytes 0-{n - 1}/{n}"),
        ("bytes=0-0", body[:1], f"bytes 0-0/{n}"),
    ]:
        r = admin.get_object(Bucket=B, Key=key, Range=rng)
        got = r["Body"].read()
        expect(got == want, f"get_object {key} Range {rng}: {len(got)} bytes, want {len(want)} (content differs?)")
        status = r["ResponseMetadata"]["HTTPStatusCode"]
        expect(status == 206, f"get_object Range {rng}: HTTP {status}, want 206")
        expect(r.get("ContentRange") == cr, f"get_object Range {rng}: ContentRange {r.get('ContentRange')}, want {cr}")
    status, code = error_of(admin.get_object, Bucket=B, Key=key, Range=f"bytes={n + 5}-")
    expect(status == 416, f"get_object unsatisfiable Range: {status} {code}, want 416 InvalidRange")

    # missing objects
    status, code = error_of(admin.get_object, Bucket=B, Key="tree/missing.zip")
    expect((status, code) == (404, "NoSuchKey"), f"get_object of a missing key: {status} {code}")
    status, code = error_of(admin.head_object, Bucket=B, Key="tree/missing.zip")
    expect(status == 404, f"head_object of a missing key: {status} {code}")

    # listings
    under_tree = sorted(k for k in list(plain) + rel_keys if k.startswith("tree/"))
    pages = list_v2_all(admin, B, page_size=2, Prefix="tree/")
    got = keys_of(pages)
    expect(got == under_tree, f"list_objects_v2 Prefix=tree/ MaxKeys=2: {got}, want {under_tree}")
    expect(all(len(p.get("Contents", [])) <= 2 for p in pages), "list_objects_v2 MaxKeys=2: a page with more than 2 keys")
    expect(len(pages) >= len(under_tree) // 2, f"list_objects_v2 MaxKeys=2: only {len(pages)} pages")
    for p in pages:
        expect(p["KeyCount"] == len(p.get("Contents", [])) + len(p.get("CommonPrefixes", [])), f"KeyCount {p['KeyCount']}")
    sizes = {o["Key"]: o["Size"] for p in pages for o in p.get("Contents", [])}
    etags = {o["Key"]: o["ETag"].strip('"') for p in pages for o in p.get("Contents", [])}
    for key, body in list(zip(rel_keys, series)) + list(plain.items()):
        if key.startswith("tree/"):
            expect(sizes[key] == len(body), f"list_objects_v2 {key}: Size {sizes[key]}, want {len(body)}")
            expect(etags[key] == md5(body), f"list_objects_v2 {key}: ETag {etags[key]}, want {md5(body)}")
    everything = keys_of(list_v2_all(admin, B))
    expect(
        not any(k.endswith(("reference.bin", ".delta")) for k in everything),
        f"list_objects_v2 shows storage keys: {[k for k in everything if k.endswith(('reference.bin', '.delta'))]}",
    )

    want_keys = ["tree/a.txt", "tree/b.txt", "tree/c.zip"]
    want_prefixes = ["tree/dir1/", "tree/dir2/", "tree/rel/", "tree/sp ace/"]
    for size in (None, 1, 2, 1000):
        pages = list_v2_all(admin, B, page_size=size, Prefix="tree/", Delimiter="/")
        expect(keys_of(pages) == want_keys, f"list_objects_v2 Delimiter=/ MaxKeys={size}: keys {keys_of(pages)}")
        expect(
            prefixes_of(pages) == want_prefixes,
            f"list_objects_v2 Delimiter=/ MaxKeys={size}: CommonPrefixes {prefixes_of(pages)}, want {want_prefixes}",
        )
    pages = list_v2_all(admin, B, page_size=2, Prefix="tree/", StartAfter="tree/b.txt")
    want = [k for k in under_tree if k > "tree/b.txt"]
    expect(keys_of(pages) == want, f"list_objects_v2 StartAfter=tree/b.txt: {keys_of(pages)}, want {want}")
    pages = list_v2_all(admin, B, page_size=3, Prefix="tree/rel/", StartAfter="tree/rel/boto-1.2.0.zip")
    want = rel_keys[2:]
    expect(keys_of(pages) == want, f"list_objects_v2 StartAfter in a deltaspace: {keys_of(pages)}, want {want}")
    r = admin.list_objects_v2(Bucket=B, Prefix="nothing/")
    expect(r.get("KeyCount") == 0 and not r.get("Contents"), f"list_objects_v2 of an empty prefix: {r.get('Contents')}")
    pag = admin.get_paginator("list_objects_v2").paginate(Bucket=B, Prefix="tree/", PaginationConfig={"PageSize": 3})
    got = [o["Key"] for p in pag for o in p.get("Contents", [])]
    expect(got == under_tree, f"list_objects_v2 paginator: {got}")

    pages = list_v1_all(admin, B, 2, Prefix="tree/")
    expect(keys_of(pages) == under_tree, f"list_objects (v1) Prefix=tree/ MaxKeys=2: {keys_of(pages)}")
    r = admin.list_objects(Bucket=B, Prefix="tree/", Marker="tree/dir2/z.txt")
    want = [k for k in under_tree if k > "tree/dir2/z.txt"]
    expect(keys_of([r]) == want, f"list_objects Marker=tree/dir2/z.txt: {keys_of([r])}, want {want}")
    pages = list_v1_all(admin, B, 2, Prefix="tree/", Delimiter="/")
    expect(keys_of(pages) == want_keys, f"list_objects Delimiter=/ MaxKeys=2: keys {keys_of(pages)}")
    expect(prefixes_of(pages) == want_prefixes, f"list_objects Delimiter=/ MaxKeys=2: prefixes {prefixes_of(pages)}")

    # multipart through the transfer manager
    big = os.path.join(work, "big-20m.dat")
    if not os.path.exists(big):
        cmd_random(argparse.Namespace(path=big, bytes=20 * MiB + 12345))
    tc = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=4)
    admin.upload_file(big, B, "big/big-20m.dat", Config=tc)
    h = admin.head_object(Bucket=B, Key="big/big-20m.dat")
    expect(h["ContentLength"] == os.path.getsize(big), f"upload_file: ContentLength {h['ContentLength']}")
    want = multipart_etag(big, 5 * MiB)
    expect(h["ETag"].strip('"') == want, f"upload_file multipart: ETag {h['ETag']}, want {want}")
    out = os.path.join(work, "big-20m.got")
    admin.download_file(B, "big/big-20m.dat", out, Config=tc)
    expect(md5_file(out) == md5_file(big), "download_file big/big-20m.dat: content differs")
    os.remove(out)
    # a release zip through multipart: stored as a delta, read back exactly
    zbig = release_zip("boto", 5, 11 * 1024)
    zpath = os.path.join(work, "boto-big.zip")
    with open(zpath, "wb") as f:
        f.write(zbig)
    admin.upload_file(zpath, B, "tree/rel/boto-big.zip", Config=tc)
    admin.download_file(B, "tree/rel/boto-big.zip", out)
    expect(md5_file(out) == md5(zbig), "download_file tree/rel/boto-big.zip (multipart zip): content differs")
    os.remove(out)
    admin.delete_object(Bucket=B, Key="tree/rel/boto-big.zip")

    # multipart by hand: list uploads and parts, abort, complete
    key = "mp/aborted.bin"
    up = admin.create_multipart_upload(Bucket=B, Key=key)["UploadId"]
    part = random.Random(1).randbytes(5 * MiB)
    p1 = admin.upload_part(Bucket=B, Key=key, UploadId=up, PartNumber=1, Body=part)
    expect(p1["ETag"].strip('"') == md5(part), f"upload_part: ETag {p1['ETag']}")
    ups = admin.list_multipart_uploads(Bucket=B).get("Uploads", [])
    expect(any(u["Key"] == key and u["UploadId"] == up for u in ups), f"list_multipart_uploads: {key} {up} not in {ups}")
    parts = admin.list_parts(Bucket=B, Key=key, UploadId=up).get("Parts", [])
    expect(
        [(p["PartNumber"], p["Size"], p["ETag"].strip('"')) for p in parts] == [(1, len(part), md5(part))],
        f"list_parts: {parts}",
    )
    admin.abort_multipart_upload(Bucket=B, Key=key, UploadId=up)
    ups = admin.list_multipart_uploads(Bucket=B).get("Uploads", [])
    expect(not any(u["UploadId"] == up for u in ups), f"list_multipart_uploads after abort: {ups}")
    status, code = error_of(admin.upload_part, Bucket=B, Key=key, UploadId=up, PartNumber=2, Body=b"x")
    expect(code == "NoSuchUpload", f"upload_part after abort: {status} {code}, want NoSuchUpload")
    status, code = error_of(admin.head_object, Bucket=B, Key=key)
    expect(status == 404, f"head_object of an aborted upload's key: {status}")

    key = "mp/done.zip"
    up = admin.create_multipart_upload(Bucket=B, Key=key, ContentType="application/zip", Metadata={"via": "mpu"})["UploadId"]
    whole = release_zip("boto", 6, 7 * 1024)
    chunks = [whole[: 5 * MiB], whole[5 * MiB :]]
    done = []
    for i, c in enumerate(chunks, 1):
        r = admin.upload_part(Bucket=B, Key=key, UploadId=up, PartNumber=i, Body=c)
        done.append({"PartNumber": i, "ETag": r["ETag"]})
    r = admin.complete_multipart_upload(Bucket=B, Key=key, UploadId=up, MultipartUpload={"Parts": done})
    want = hashlib.md5(b"".join(hashlib.md5(c).digest() for c in chunks)).hexdigest() + "-2"
    expect(r["ETag"].strip('"') == want, f"complete_multipart_upload: ETag {r['ETag']}, want {want}")
    g = admin.get_object(Bucket=B, Key=key)
    expect(g["Body"].read() == whole, "get_object after complete_multipart_upload: content differs")
    expect(g["Metadata"] == {"via": "mpu"}, f"multipart Metadata: {g['Metadata']}")
    expect(g["ContentType"] == "application/zip", f"multipart ContentType: {g['ContentType']}")
    expect(g["ETag"].strip('"') == want, f"get_object after multipart: ETag {g['ETag']}, want {want}")

    # presigned URLs
    url = admin.generate_presigned_url("get_object", Params={"Bucket": B, "Key": rel_keys[1]}, ExpiresIn=300)
    status, got = http("GET", url)
    expect(status == 200 and got == series[1], f"presigned GET: HTTP {status}, {len(got)} bytes")
    tampered = url[:-1] + ("0" if url[-1] != "0" else "1")
    status, _ = http("GET", tampered)
    expect(status == 403, f"presigned GET with a tampered signature: HTTP {status}, want 403")
    status, _ = http("GET", url.replace(rel_keys[1], rel_keys[0]))
    expect(status == 403, f"presigned GET of another key: HTTP {status}, want 403")
    url = admin.generate_presigned_url("put_object", Params={"Bucket": B, "Key": "presigned/put.zip"}, ExpiresIn=300)
    status, got = http("PUT", url, data=series[3])
    expect(status == 200, f"presigned PUT: HTTP {status} {got[:300]!r}")
    got = admin.get_object(Bucket=B, Key="presigned/put.zip")["Body"].read()
    expect(got == series[3], "get_object after presigned PUT: content differs")
    url = reader.generate_presigned_url("put_object", Params={"Bucket": B, "Key": "presigned/no.zip"}, ExpiresIn=300)
    status, got = http("PUT", url, data=b"nope")
    expect(status == 403, f"presigned PUT by the read-only user: HTTP {status}, want 403")

    # copy
    r = admin.copy_object(Bucket=B, Key="copied/boto-1.2.0.zip", CopySource={"Bucket": B, "Key": rel_keys[1]})
    expect(r["CopyObjectResult"]["ETag"].strip('"') == md5(series[1]), f"copy_object: ETag {r['CopyObjectResult']}")
    g = admin.get_object(Bucket=B, Key="copied/boto-1.2.0.zip")
    expect(g["Body"].read() == series[1], "get_object of a copy: content differs")
    expect(g["Metadata"].get("build") == "b1", f"copy_object (COPY directive): Metadata {g['Metadata']}")
    expect(g["ContentType"] == "application/zip", f"copy_object: ContentType {g['ContentType']}")
    admin.copy_object(
        Bucket=B,
        Key="tree/rel/boto-copy.zip",
        CopySource={"Bucket": B, "Key": rel_keys[3]},
        MetadataDirective="REPLACE",
        Metadata={"copied": "yes"},
        ContentType="application/octet-stream",
    )
    h = admin.head_object(Bucket=B, Key="tree/rel/boto-copy.zip")
    expect(h["Metadata"] == {"copied": "yes"}, f"copy_object REPLACE: Metadata {h['Metadata']}")
    expect(h["ContentType"] == "application/octet-stream", f"copy_object REPLACE: ContentType {h['ContentType']}")
    got = admin.get_object(Bucket=B, Key="tree/rel/boto-copy.zip")["Body"].read()
    expect(got == series[3], "get_object of a copy within the deltaspace: content differs")

    # delete
    gone = ["tree/a.txt", "tree/dir1/x.txt", rel_keys[0], "tree/rel/boto-copy.zip", "never/existed.txt"]
    r = admin.delete_objects(Bucket=B, Delete={"Objects": [{"Key": k} for k in gone]})
    expect(not r.get("Errors"), f"delete_objects: Errors {r.get('Errors')}")
    expect(sorted(d["Key"] for d in r.get("Deleted", [])) == sorted(gone), f"delete_objects: Deleted {r.get('Deleted')}")
    left = keys_of(list_v2_all(admin, B, Prefix="tree/"))
    expect(not set(gone) & set(left), f"list after delete_objects still has {set(gone) & set(left)}")
    expect(set(left) == set(under_tree) - set(gone), f"list after delete_objects: {left}")
    for key, body in zip(rel_keys[1:], series[1:]):  # the reference's first file is gone, not the deltas
        got = admin.get_object(Bucket=B, Key=key)["Body"].read()
        expect(got == body, f"get_object {key} after deleting {rel_keys[0]}: content differs")
    admin.delete_object(Bucket=B, Key="tree/b.txt")
    status, _ = error_of(admin.head_object, Bucket=B, Key="tree/b.txt")
    expect(status == 404, f"head_object after delete_object: {status}")
    admin.delete_object(Bucket=B, Key="tree/never-there.txt")  # S3 answers 204 for a missing key
    ok()

    # who may do what
    status, code = error_of(reader.put_object, Bucket=B, Key="tree/r.txt", Body=b"r")
    expect((status, code) == (403, "AccessDenied"), f"put_object by the read-only user: {status} {code}, want 403 AccessDenied")
    status, code = error_of(reader.delete_object, Bucket=B, Key=rel_keys[1])
    expect(status == 403, f"delete_object by the read-only user: {status} {code}")
    from botocore.exceptions import ClientError

    try:
        r = reader.delete_objects(Bucket=B, Delete={"Objects": [{"Key": rel_keys[1]}]})
        errs = [(e.get("Key"), e.get("Code")) for e in r.get("Errors", [])]
        expect(errs == [(rel_keys[1], "AccessDenied")], f"delete_objects by the read-only user: Errors {errs}, Deleted {r.get('Deleted')}")
    except ClientError as e:
        status = e.response["ResponseMetadata"].get("HTTPStatusCode")
        expect(status == 403, f"delete_objects by the read-only user: {status} {e}")
    got = reader.get_object(Bucket=B, Key=rel_keys[1])["Body"].read()
    expect(got == series[1], "get_object by the read-only user: content differs (or it was deleted)")
    status, code = error_of(reader.create_bucket, Bucket="reader-made")
    expect(status == 403, f"create_bucket by the read-only user: {status} {code}")
    status, code = error_of(
        reader.copy_object, Bucket=B, Key="copied/by-reader.zip", CopySource={"Bucket": B, "Key": rel_keys[1]}
    )
    expect(status == 403, f"copy_object by the read-only user: {status} {code}")
    releaser.put_object(Bucket=B, Key="app/rel.txt", Body=b"mine")
    got = releaser.get_object(Bucket=B, Key="app/rel.txt")["Body"].read()
    expect(got == b"mine", "releaser get_object of its own prefix")
    status, code = error_of(releaser.put_object, Bucket=B, Key="tree/rel.txt", Body=b"no")
    expect((status, code) == (403, "AccessDenied"), f"put_object outside the releaser's prefix: {status} {code}")
    status, code = error_of(releaser.get_object, Bucket=B, Key=rel_keys[1])
    expect(status == 403, f"get_object outside the releaser's prefix: {status} {code}")
    status, code = error_of(
        releaser.copy_object, Bucket=B, Key="app/stolen.zip", CopySource={"Bucket": B, "Key": rel_keys[1]}
    )
    expect(status == 403, f"copy_object from outside the releaser's read prefix: {status} {code}")
    keys = keys_of(list_v2_all(releaser, B, Prefix="app/"))
    expect(keys == ["app/rel.txt"], f"releaser list_objects_v2 Prefix=app/: {keys}")
    status, code = error_of(releaser.list_objects_v2, Bucket=B, Prefix="tree/")
    expect(status == 403, f"releaser list_objects_v2 Prefix=tree/: {status} {code}, want 403")

    wrong = s3_client(ep, env_keys("ADMIN")[0], "not-the-secret-000000", retries=1)
    status, code = error_of(wrong.get_object, Bucket=B, Key=rel_keys[1])
    expect(
        (status, code) == (403, "SignatureDoesNotMatch"), f"get_object with a wrong secret: {status} {code}, want 403 SignatureDoesNotMatch"
    )
    status, code = error_of(wrong.put_object, Bucket=B, Key="tree/w.txt", Body=b"w")
    expect(status == 403, f"put_object with a wrong secret: {status} {code}")
    unknown = s3_client(ep, "nobody", "nobody-secret-0000000", retries=1)
    status, code = error_of(unknown.list_objects_v2, Bucket=B)
    expect((status, code) == (403, "InvalidAccessKeyId"), f"list with an unknown key: {status} {code}, want 403 InvalidAccessKeyId")
    anon = s3_client(ep, unsigned=True, retries=1)
    for what, fn, kw in [
        ("get_object", anon.get_object, dict(Bucket=B, Key=rel_keys[1])),
        ("put_object", anon.put_object, dict(Bucket=B, Key="tree/anon.txt", Body=b"a")),
        ("list_objects_v2", anon.list_objects_v2, dict(Bucket=B)),
        ("list_buckets", anon.list_buckets, {}),
    ]:
        status, code = error_of(fn, **kw)
        expect(status == 403, f"unsigned {what}: {status} {code}, want 403")
    status, _ = error_of(admin.head_object, Bucket=B, Key="tree/anon.txt")
    expect(status == 404, "an unsigned put_object left an object behind")

    print(f"clients: boto3: {checks} checks passed")


def cmd_race(a):
    """Uploads every FILE at once, alternating the endpoints, into one empty deltaspace."""
    key, secret = env_keys("ADMIN")
    eps = [a.endpoint_a, a.endpoint_b]
    clients = [s3_client(eps[i % 2], key, secret, retries=1) for i in range(len(a.files))]
    barrier = threading.Barrier(len(a.files))

    def put(i):
        path = a.files[i]
        with open(path, "rb") as f:
            body = f.read()
        barrier.wait()
        t = time.monotonic()
        r = clients[i].put_object(Bucket=a.bucket, Key=f"{a.prefix}{os.path.basename(path)}", Body=body)
        return r["ETag"].strip('"'), md5(body), time.monotonic() - t

    with concurrent.futures.ThreadPoolExecutor(len(a.files)) as pool:
        results = list(pool.map(put, range(len(a.files))))
    for path, (etag, want, _) in zip(a.files, results):
        expect(etag == want, f"race put {path}: ETag {etag}, want {want}")
    print(f"clients: race: {len(a.files)} puts done in {max(r[2] for r in results):.1f}s (slowest)", flush=True)
    for ep in eps:
        c = s3_client(ep, key, secret)
        listed = {o["Key"]: o["Size"] for o in c.list_objects_v2(Bucket=a.bucket, Prefix=a.prefix).get("Contents", [])}
        want = {f"{a.prefix}{os.path.basename(p)}": os.path.getsize(p) for p in a.files}
        expect(listed == want, f"race: {ep} lists {listed}, want {want}")
        for path in a.files:
            got = c.get_object(Bucket=a.bucket, Key=f"{a.prefix}{os.path.basename(path)}")["Body"].read()
            expect(md5(got) == md5_file(path), f"race: get {path} from {ep}: content differs")
    print(f"clients: race: {checks} checks passed")


def cmd_load(a):
    """a.clients threads, each its own boto3 client and keys, a.requests operations in all."""
    key, secret = env_keys("ADMIN")
    groups = 5
    versions = 12
    t0 = time.monotonic()
    payloads = {}
    for g in range(groups):
        kib = [16, 48, 128, 256, 24][g]
        for v in range(1, versions + 1):
            payloads[(g, v)] = release_zip(f"load{g}", v, kib)
    print(f"clients: load: {len(payloads)} payloads made in {time.monotonic() - t0:.1f}s", flush=True)
    admin = s3_client(a.endpoint, key, secret)
    try:
        admin.create_bucket(Bucket=a.bucket)
    except Exception:
        pass
    lock = threading.Lock()
    counter = {"left": a.requests}
    errors, stats = [], {}
    latencies = []

    def take():
        with lock:
            if counter["left"] <= 0:
                return False
            counter["left"] -= 1
            return True

    def worker(tid):
        rng = random.Random(tid)
        c = s3_client(a.endpoint, key, secret, retries=1, pool=2)
        mine = {}  # key -> (md5, size)
        n = 0
        while take():
            live = sorted(mine)
            r = rng.random()
            if not live or r < 0.30:
                op = "put"
            elif r < 0.62:
                op = "get"
            elif r < 0.77:
                op = "head"
            elif r < 0.90:
                op = "list"
            else:
                op = "delete"
            t = time.monotonic()
            try:
                if op == "put":
                    g = rng.randrange(groups)
                    body = payloads[(g, rng.randint(1, versions))]
                    # half the puts overwrite one of the thread's keys
                    if live and rng.random() < 0.5:
                        k = rng.choice(live)
                    else:
                        n += 1
                        k = f"g{g}/t{tid:02d}-{n}.zip"
                    resp = c.put_object(Bucket=a.bucket, Key=k, Body=body)
                    if resp["ETag"].strip('"') != md5(body):
                        raise AssertionError(f"put {k}: ETag {resp['ETag']}, want {md5(body)}")
                    mine[k] = (md5(body), len(body))
                elif op == "get":
                    k = rng.choice(live)
                    got = c.get_object(Bucket=a.bucket, Key=k)["Body"].read()
                    if md5(got) != mine[k][0]:
                        raise AssertionError(f"get {k}: {len(got)} bytes, md5 {md5(got)}, want {mine[k][0]} ({mine[k][1]} bytes)")
                elif op == "head":
                    k = rng.choice(live)
                    h = c.head_object(Bucket=a.bucket, Key=k)
                    if h["ContentLength"] != mine[k][1] or h["ETag"].strip('"') != mine[k][0]:
                        raise AssertionError(f"head {k}: {h['ContentLength']} {h['ETag']}, want {mine[k][1]} {mine[k][0]}")
                elif op == "list":
                    g = rng.randrange(groups)
                    p = f"g{g}/t{tid:02d}-"
                    listed = {}
                    for page in c.get_paginator("list_objects_v2").paginate(Bucket=a.bucket, Prefix=p):
                        listed.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
                    want = {k: v[1] for k, v in mine.items() if k.startswith(p)}
                    if listed != want:
                        raise AssertionError(f"list {p}: {listed}, want {want}")
                else:
                    k = rng.choice(live)
                    c.delete_object(Bucket=a.bucket, Key=k)
                    del mine[k]
            except Exception as e:  # every failure counts; the run fails if there is any
                with lock:
                    errors.append(f"t{tid} {op}: {type(e).__name__}: {e}")
            dt = time.monotonic() - t
            with lock:
                stats[op] = stats.get(op, 0) + 1
                latencies.append(dt)
        # the thread's survivors must all read back exactly
        for k, (m, _) in sorted(mine.items()):
            try:
                got = c.get_object(Bucket=a.bucket, Key=k)["Body"].read()
                if md5(got) != m:
                    raise AssertionError(f"final get {k}: content differs")
            except Exception as e:
                with lock:
                    errors.append(f"t{tid} final get: {type(e).__name__}: {e}")
        return len(mine)

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(a.clients) as pool:
        survivors = sum(pool.map(worker, range(a.clients)))
    wall = time.monotonic() - t0
    latencies.sort()
    p50 = latencies[len(latencies) // 2] if latencies else 0
    p99 = latencies[int(len(latencies) * 0.99)] if latencies else 0
    print(
        f"clients: load: {sum(stats.values())} requests by {a.clients} clients in {wall:.1f}s "
        f"({sum(stats.values()) / wall:.0f}/s; p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms), "
        f"{dict(sorted(stats.items()))}, {survivors} objects verified at the end, {len(errors)} errors",
        flush=True,
    )
    for e in errors[:20]:
        print(f"clients: load error: {e}", file=sys.stderr)
    expect(not errors, f"load: {len(errors)} errors")
    expect(sum(stats.values()) == a.requests, f"load: {sum(stats.values())} requests, want {a.requests}")


def cmd_mb(a):
    key = os.environ.get("AWS_ACCESS_KEY_ID", "bench")
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY", "bench-secret")
    s3_client(a.endpoint, key, secret).create_bucket(Bucket=a.bucket)


def cmd_bench(a, put):
    """Puts (or gets) FILES through ENDPOINT with a.threads threads; prints bytes and seconds."""
    key = os.environ.get("AWS_ACCESS_KEY_ID", "bench")
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY", "bench-secret")
    clients = [s3_client(a.endpoint, key, secret, retries=1) for _ in range(a.threads)]
    if put:
        try:
            clients[0].create_bucket(Bucket=a.bucket)
        except Exception:
            pass

    def one(i):
        path = a.files[i]
        c = clients[i % a.threads]
        k = f"{a.prefix}{os.path.basename(path)}"
        if put:
            with open(path, "rb") as f:
                c.put_object(Bucket=a.bucket, Key=k, Body=f.read())
            return os.path.getsize(path)
        body = c.get_object(Bucket=a.bucket, Key=k)["Body"].read()
        if md5(body) != md5_file(path):
            fail(f"bench get {k}: content differs")
        return len(body)

    t0 = time.monotonic()
    if a.threads == 1:
        total = sum(one(i) for i in range(len(a.files)))
    else:
        with concurrent.futures.ThreadPoolExecutor(a.threads) as pool:
            total = sum(pool.map(one, range(len(a.files))))
    print(f"{total} {time.monotonic() - t0:.3f}")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("series")
    s.add_argument("outdir")
    s.add_argument("name")
    s.add_argument("count", type=int)
    s.add_argument("kib", type=int)
    s.add_argument("--first", type=int, default=1)
    s = sub.add_parser("random")
    s.add_argument("path")
    s.add_argument("bytes", type=int)
    s = sub.add_parser("etag")
    s.add_argument("path")
    s.add_argument("part", type=int, nargs="?", default=0)
    s = sub.add_parser("json-get")
    s.add_argument("file")
    s.add_argument("field")
    s = sub.add_parser("metrics")
    s.add_argument("url")
    s.add_argument("name")
    s.add_argument("labels", nargs="*", type=lambda t: tuple(t.split("=", 1)), help="LABEL=VALUE")
    s = sub.add_parser("boto3")
    s.add_argument("endpoint")
    s.add_argument("--bucket", default="boto-b")
    s.add_argument("--work", default=os.environ.get("TMPDIR", "/tmp") + "/dg-serve-boto3")
    s = sub.add_parser("race")
    s.add_argument("bucket")
    s.add_argument("prefix")
    s.add_argument("endpoint_a")
    s.add_argument("endpoint_b")
    s.add_argument("files", nargs="+")
    s = sub.add_parser("load")
    s.add_argument("endpoint")
    s.add_argument("bucket")
    s.add_argument("--clients", type=int, default=50)
    s.add_argument("--requests", type=int, default=2000)
    s = sub.add_parser("mb")
    s.add_argument("endpoint")
    s.add_argument("bucket")
    for name in ("bench-put", "bench-get"):
        s = sub.add_parser(name)
        s.add_argument("endpoint")
        s.add_argument("bucket")
        s.add_argument("prefix")
        s.add_argument("files", nargs="+")
        s.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    {
        "series": cmd_series,
        "random": cmd_random,
        "etag": cmd_etag,
        "json-get": cmd_json_get,
        "metrics": cmd_metrics,
        "boto3": cmd_boto3,
        "race": cmd_race,
        "load": cmd_load,
        "mb": cmd_mb,
        "bench-put": lambda a: cmd_bench(a, True),
        "bench-get": lambda a: cmd_bench(a, False),
    }[a.cmd](a)


if __name__ == "__main__":
    main()
