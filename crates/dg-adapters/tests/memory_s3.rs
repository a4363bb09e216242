//! The in-memory S3 test server: odd keys kept exactly over HTTP, S3's listing semantics, and
//! dg's S3 adapter against it (conformance, races, multipart, every key S3 allows, faults).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::SystemTime;

use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use dg_adapters::conformance;
use dg_adapters::storage::{
    Backoff, RetryCounter, RetryPolicy, RetryingStorage, S3Config, S3Storage,
};
use dg_adapters::testing::{S3TestServer, ServerFaults, ACCESS_KEY, SECRET_KEY};
use dg_adapters::FileBlob;
use dg_ports::{
    Buckets, BytesBlob, Error, ListRequest, Location, Metadata, ObjectStorage, PutMode, PutOptions,
};
use futures::TryStreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---------------------------------------------------------------------------------------------
// A raw S3 client: signed HTTP/1.1 over a plain TCP stream, so that paths reach the server
// exactly as written (URL libraries resolve `.` and `..` segments, even percent-encoded ones).

/// S3's URI encoding: unreserved characters as they are (and `/` unless `slash`), the rest
/// percent-encoded.
fn uri_encode(s: &str, slash: bool) -> String {
    let mut out = String::new();
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b'/' if !slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Reverses `encoding-type=url` (`+` is a space).
fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

struct Raw {
    host: String,
}

impl Raw {
    fn new(server: &S3TestServer) -> Self {
        Raw {
            host: server.endpoint().trim_start_matches("http://").to_string(),
        }
    }

    /// `path` and `query` already encoded; `query` pairs sorted by the caller or not, as sent.
    async fn send(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let query: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", uri_encode(k, true), uri_encode(v, true)))
            .collect();
        let target = if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", query.join("&"))
        };
        let url = format!("http://{}{target}", self.host);
        let identity =
            aws_credential_types::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test")
                .into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            method,
            url.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        for (n, v) in instructions.headers() {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ));
        let mut stream = tokio::net::TcpStream::connect(&self.host).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        parse_response(&raw, method == "HEAD")
    }

    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Response {
        self.send("PUT", &object_path(bucket, key), &[], headers, body)
            .await
    }

    async fn get(&self, bucket: &str, key: &str, headers: &[(&str, &str)]) -> Response {
        self.send("GET", &object_path(bucket, key), &[], headers, b"")
            .await
    }

    async fn head(&self, bucket: &str, key: &str) -> Response {
        self.send("HEAD", &object_path(bucket, key), &[], &[], b"")
            .await
    }

    async fn delete(&self, bucket: &str, key: &str) -> Response {
        self.send("DELETE", &object_path(bucket, key), &[], &[], b"")
            .await
    }

    async fn list(&self, bucket: &str, query: &[(&str, &str)]) -> Response {
        self.send("GET", &format!("/{bucket}"), query, &[], b"")
            .await
    }
}

fn object_path(bucket: &str, key: &str) -> String {
    format!("/{bucket}/{}", uri_encode(key, false))
}

fn parse_response(raw: &[u8], head: bool) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let text = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if head {
        Vec::new()
    } else if chunked {
        let mut body = Vec::new();
        let mut at = 0;
        loop {
            let end = at + rest[at..].windows(2).position(|w| w == b"\r\n").unwrap();
            let line = std::str::from_utf8(&rest[at..end]).unwrap();
            let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16).unwrap();
            at = end + 2;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&rest[at..at + size]);
            at += size + 2;
        }
        body
    } else {
        rest.to_vec()
    };
    Response {
        status,
        headers,
        body,
    }
}

/// The text between `<tag>` and `</tag>` of each occurrence in `xml`.
fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    out
}

/// One page of a raw `ListObjectsV2` with `encoding-type=url`: keys, common prefixes (both
/// decoded), the next token, and the `KeyCount`.
#[derive(Debug, PartialEq)]
struct RawPage {
    keys: Vec<String>,
    prefixes: Vec<String>,
    next: Option<String>,
    key_count: usize,
    truncated: bool,
}

fn raw_page(xml: &str) -> RawPage {
    let contents = elements(xml, "Contents");
    let keys = contents
        .iter()
        .map(|c| url_decode(elements(c, "Key")[0]))
        .collect();
    let prefixes = elements(xml, "CommonPrefixes")
        .iter()
        .map(|c| url_decode(elements(c, "Prefix")[0]))
        .collect();
    RawPage {
        keys,
        prefixes,
        next: elements(xml, "NextContinuationToken")
            .first()
            .map(|s| s.to_string()),
        key_count: elements(xml, "KeyCount")[0].parse().unwrap(),
        truncated: elements(xml, "IsTruncated")[0] == "true",
    }
}

/// Every page of a raw listing of `bucket`, `max` entries at a time.
async fn raw_list_all(
    raw: &Raw,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    max: usize,
) -> Vec<RawPage> {
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    let max = max.to_string();
    loop {
        let mut query = vec![
            ("list-type", "2"),
            ("prefix", prefix),
            ("max-keys", max.as_str()),
            ("encoding-type", "url"),
        ];
        if let Some(d) = delimiter {
            query.push(("delimiter", d));
        }
        if let Some(t) = &token {
            query.push(("continuation-token", t.as_str()));
        }
        let r = raw.list(bucket, &query).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let page = raw_page(&r.text());
        token = page.next.clone();
        let done = !page.truncated;
        pages.push(page);
        if done {
            break;
        }
        assert!(token.is_some(), "a truncated page carries a token");
        assert!(pages.len() < 1000, "the listing ends");
    }
    pages
}

// ---------------------------------------------------------------------------------------------

/// Keys that S3 allows and file-system-backed servers cannot hold.
fn odd_keys() -> Vec<String> {
    let mut keys: Vec<String> = [
        "p/a//b",
        "p/..",
        "p/.",
        "p/./x",
        "p/../x",
        "/lead",
        "//double-lead",
        "/",
        "p/trailing/",
        "p/trailing//",
        "p/tab\there",
        "p/nl\nhere",
        "p/cr\rhere",
        "p/ctl\u{1}\u{1f}\u{7f}",
        "p/nul\0byte",
        "p/100%",
        "p/%2F-literal",
        "p/%zz",
        "p/space here ",
        " p-leading-space",
        "p/plus+sign",
        "p/q?x=1&y=2#frag",
        "p/<xml>&amp;\"'",
        "p/back\\slash",
        "p/ünïcødé/日本語/🎉",
        "p/x.delta",
        "p/reference.bin",
        "a",
        "a/b",
        "a/b/",
        "~",
        "*",
    ]
    .iter()
    .map(|k| k.to_string())
    .collect();
    // the longest key: 1024 bytes (with multi-byte characters)
    let mut long = "p/long-".to_string();
    while long.len() + "é".len() <= 1024 {
        long.push('é');
    }
    while long.len() < 1024 {
        long.push('x');
    }
    assert_eq!(long.len(), 1024);
    keys.push(long);
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn odd_keys_round_trip_byte_exact_over_http() {
    let server = S3TestServer::start_in_memory().await;
    let raw = Raw::new(&server);
    let memory = server.memory().unwrap();
    assert_eq!(raw.send("PUT", "/odd", &[], &[], b"").await.status, 200);
    let keys = odd_keys();
    for (i, key) in keys.iter().enumerate() {
        let body = format!("body of {key:?} #{i}").into_bytes();
        let note = format!("note-{i}");
        let r = raw
            .put(
                "odd",
                key,
                &body,
                &[
                    ("x-amz-meta-dg-note", note.as_str()),
                    ("content-type", "text/x-odd"),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "PUT {key:?}: {}", r.text());
        let stored = memory
            .get_raw("odd", key)
            .expect("stored under the exact key");
        assert_eq!(stored.body, body, "{key:?}");
        assert_eq!(stored.metadata.get("dg-note"), Some(&note), "{key:?}");

        let r = raw.get("odd", key, &[]).await;
        assert_eq!(r.status, 200, "GET {key:?}: {}", r.text());
        assert_eq!(r.body, body, "GET {key:?}");
        assert_eq!(r.header("x-amz-meta-dg-note"), Some(note.as_str()));
        assert_eq!(r.header("content-type"), Some("text/x-odd"));
        assert_eq!(
            r.header("etag").map(str::to_string),
            Some(format!("\"{}\"", stored.etag))
        );

        let r = raw.head("odd", key).await;
        assert_eq!(r.status, 200, "HEAD {key:?}");
        assert_eq!(r.header("x-amz-meta-dg-note"), Some(note.as_str()));
        assert_eq!(
            r.header("content-length"),
            Some(body.len().to_string().as_str())
        );

        // listed under exactly its key, as the first entry of a listing by the key itself
        let r = raw
            .list(
                "odd",
                &[
                    ("list-type", "2"),
                    ("prefix", key),
                    ("encoding-type", "url"),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "LIST {key:?}: {}", r.text());
        let page = raw_page(&r.text());
        assert_eq!(page.keys.first(), Some(key), "LIST {key:?}: {}", r.text());
    }
    assert_eq!(
        memory.keys("odd"),
        {
            let mut sorted = keys.clone();
            sorted.sort();
            sorted
        },
        "every key kept, none merged"
    );
    // a whole listing, a few at a time, returns every key once, in byte order
    let pages = raw_list_all(&raw, "odd", "", None, 7).await;
    let listed: Vec<String> = pages.iter().flat_map(|p| p.keys.clone()).collect();
    assert_eq!(listed, memory.keys("odd"));

    for key in &keys {
        let r = raw.delete("odd", key).await;
        assert_eq!(r.status, 204, "DELETE {key:?}: {}", r.text());
        assert!(memory.get_raw("odd", key).is_none(), "{key:?} deleted");
        assert_eq!(raw.get("odd", key, &[]).await.status, 404, "{key:?} gone");
        assert_eq!(
            raw.delete("odd", key).await.status,
            204,
            "deletes are idempotent"
        );
    }
    assert!(memory.keys("odd").is_empty());

    // 1025 bytes is one too many (s3s refuses it before the backend sees it)
    let too_long = "k".repeat(1025);
    let r = raw.put("odd", &too_long, b"x", &[]).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("KeyTooLong"), "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listings_follow_s3_semantics() {
    let server = S3TestServer::start_in_memory().await;
    let raw = Raw::new(&server);
    let keys = [
        "a", "a/", "a/b", "a//b", "a//c", "a///d", "a/b/c", "a/b/d", "a0", "a\u{1}", "b", "é",
    ];
    for k in keys {
        server.put_raw("lst", k, k.as_bytes().to_vec(), [("k", k)]);
    }
    // S3 orders keys by their UTF-8 bytes
    let all = raw_list_all(&raw, "lst", "", None, 1000).await;
    assert_eq!(
        all[0].keys,
        ["a", "a\u{1}", "a/", "a///d", "a//b", "a//c", "a/b", "a/b/c", "a/b/d", "a0", "b", "é"]
    );
    // top level: `a` is an object and `a/` a common prefix at once
    let top = raw_list_all(&raw, "lst", "", Some("/"), 1000).await;
    assert_eq!(top.len(), 1);
    assert_eq!(top[0].keys, ["a", "a\u{1}", "a0", "b", "é"]);
    assert_eq!(top[0].prefixes, ["a/"]);
    assert_eq!(top[0].key_count, 6);
    // one level down: `a/` itself is an object, `a//` and `a/b/` common prefixes
    let level = raw_list_all(&raw, "lst", "a/", Some("/"), 1000).await;
    assert_eq!(level[0].keys, ["a/", "a/b"]);
    assert_eq!(level[0].prefixes, ["a//", "a/b/"]);
    let deeper = raw_list_all(&raw, "lst", "a//", Some("/"), 1000).await;
    assert_eq!(deeper[0].keys, ["a//b", "a//c"]);
    assert_eq!(deeper[0].prefixes, ["a///"]);
    // pages of one: each common prefix once, counted as one entry
    let paged = raw_list_all(&raw, "lst", "a/", Some("/"), 1).await;
    let entries: Vec<(Vec<String>, Vec<String>)> = paged
        .iter()
        .map(|p| (p.keys.clone(), p.prefixes.clone()))
        .collect();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        entries,
        vec![
            (s(&["a/"]), s(&[])),
            (s(&[]), s(&["a//"])),
            (s(&["a/b"]), s(&[])),
            (s(&[]), s(&["a/b/"])),
        ]
    );
    assert!(paged.iter().all(|p| p.key_count == 1));
    assert!(paged[..3].iter().all(|p| p.truncated) && !paged[3].truncated);
    // pages of two over everything
    let two = raw_list_all(&raw, "lst", "", Some("/"), 2).await;
    let pages: Vec<(Vec<String>, Vec<String>)> = two
        .iter()
        .map(|p| (p.keys.clone(), p.prefixes.clone()))
        .collect();
    assert_eq!(
        pages,
        vec![
            (s(&["a", "a\u{1}"]), s(&[])),
            (s(&["a0"]), s(&["a/"])),
            (s(&["b", "é"]), s(&[])),
        ]
    );
    // a multi-character delimiter
    let double = raw_list_all(&raw, "lst", "a", Some("//"), 1000).await;
    assert_eq!(double[0].prefixes, ["a//"]);
    assert_eq!(
        double[0].keys,
        ["a", "a\u{1}", "a/", "a/b", "a/b/c", "a/b/d", "a0"]
    );

    // start-after, and a key passed as a continuation token is refused as on AWS
    let r = raw
        .list(
            "lst",
            &[
                ("list-type", "2"),
                ("start-after", "a/b"),
                ("encoding-type", "url"),
            ],
        )
        .await;
    assert_eq!(raw_page(&r.text()).keys[0], "a/b/c");
    let r = raw
        .list("lst", &[("list-type", "2"), ("continuation-token", "a/b")])
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("InvalidArgument"));
    // max-keys 0: nothing, not truncated
    let r = raw
        .list("lst", &[("list-type", "2"), ("max-keys", "0")])
        .await;
    let page = raw_page(&r.text());
    assert_eq!((page.key_count, page.truncated), (0, false));

    // ListObjects v1: marker and NextMarker (sent with a delimiter)
    let r = raw
        .list(
            "lst",
            &[
                ("prefix", "a/"),
                ("delimiter", "/"),
                ("max-keys", "2"),
                ("encoding-type", "url"),
            ],
        )
        .await;
    let xml = r.text();
    assert_eq!(elements(&xml, "IsTruncated"), ["true"]);
    assert_eq!(elements(&xml, "NextMarker"), ["a//"]);
    let r = raw
        .list(
            "lst",
            &[
                ("prefix", "a/"),
                ("delimiter", "/"),
                ("marker", "a//"),
                ("encoding-type", "url"),
            ],
        )
        .await;
    let page = r.text();
    let keys: Vec<String> = elements(&page, "Key")
        .iter()
        .map(|k| url_decode(k))
        .collect();
    assert_eq!(keys, ["a/b"]);
    assert_eq!(elements(&page, "IsTruncated"), ["false"]);
    assert!(elements(&page, "NextMarker").is_empty());

    // a missing bucket
    let r = raw.list("nope", &[("list-type", "2")]).await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("NoSuchBucket"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ranges_conditions_copies_and_buckets_over_http() {
    let server = S3TestServer::start_in_memory().await;
    let raw = Raw::new(&server);
    // writes into a missing bucket are refused
    let r = raw.put("missing", "k", b"x", &[]).await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.text().contains("NoSuchBucket"));
    assert_eq!(raw.send("PUT", "/rbk", &[], &[], b"").await.status, 200);
    let again = raw.send("PUT", "/rbk", &[], &[], b"").await;
    assert_eq!(again.status, 409, "{}", again.text());
    assert_eq!(raw.send("HEAD", "/rbk", &[], &[], b"").await.status, 200);
    assert_eq!(raw.send("HEAD", "/nope", &[], &[], b"").await.status, 404);

    let data: Vec<u8> = (0..=255u8).collect();
    let r = raw
        .put("rbk", "r/obj", &data, &[("x-amz-meta-a", "1")])
        .await;
    let etag = r.header("etag").unwrap().to_string();
    let get_range = |range: &'static str| {
        let raw = &raw;
        async move { raw.get("rbk", "r/obj", &[("range", range)]).await }
    };
    let r = get_range("bytes=10-19").await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &data[10..20]);
    assert_eq!(r.header("content-range"), Some("bytes 10-19/256"));
    let r = get_range("bytes=250-").await;
    assert_eq!((r.status, &r.body[..]), (206, &data[250..]));
    assert_eq!(r.header("content-range"), Some("bytes 250-255/256"));
    let r = get_range("bytes=-6").await;
    assert_eq!((r.status, &r.body[..]), (206, &data[250..]));
    let r = get_range("bytes=200-999").await;
    assert_eq!((r.status, &r.body[..]), (206, &data[200..]));
    assert_eq!(get_range("bytes=256-").await.status, 416);

    // conditional reads and writes
    let r = raw
        .get("rbk", "r/obj", &[("if-match", etag.as_str())])
        .await;
    assert_eq!(r.status, 200);
    let r = raw.get("rbk", "r/obj", &[("if-match", "\"0000\"")]).await;
    assert_eq!(r.status, 412);
    let r = raw
        .get("rbk", "r/obj", &[("if-none-match", etag.as_str())])
        .await;
    assert_eq!(r.status, 304);
    let r = raw
        .put("rbk", "r/obj", b"new", &[("if-none-match", "*")])
        .await;
    assert_eq!(r.status, 412, "{}", r.text());
    let r = raw
        .put("rbk", "r/obj", b"new", &[("if-match", "\"0000\"")])
        .await;
    assert_eq!(r.status, 412);
    let r = raw
        .put("rbk", "r/obj", &data, &[("if-match", etag.as_str())])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        server
            .memory()
            .unwrap()
            .get_raw("rbk", "r/obj")
            .unwrap()
            .metadata
            .len(),
        0
    );

    // copies: metadata copied, or replaced
    raw.put("rbk", "r/src", b"payload", &[("x-amz-meta-a", "1")])
        .await;
    let r = raw
        .put(
            "rbk",
            "r//copy",
            b"",
            &[("x-amz-copy-source", "/rbk/r/src")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let copy = server.memory().unwrap().get_raw("rbk", "r//copy").unwrap();
    assert_eq!(&copy.body[..], b"payload");
    assert_eq!(copy.metadata.get("a").map(String::as_str), Some("1"));
    let r = raw
        .put(
            "rbk",
            "r/replaced",
            b"",
            &[
                ("x-amz-copy-source", "rbk/r%2F%2Fcopy"),
                ("x-amz-metadata-directive", "REPLACE"),
                ("x-amz-meta-b", "2"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let replaced = server
        .memory()
        .unwrap()
        .get_raw("rbk", "r/replaced")
        .unwrap();
    assert_eq!(&replaced.body[..], b"payload");
    assert_eq!(replaced.metadata.keys().collect::<Vec<_>>(), ["b"]);
    let r = raw
        .put("rbk", "r/src", b"", &[("x-amz-copy-source", "/rbk/r/src")])
        .await;
    assert_eq!(
        r.status,
        400,
        "copying onto itself unchanged is refused: {}",
        r.text()
    );

    // DeleteObjects
    let xml = "<Delete><Object><Key>r/src</Key></Object><Object><Key>r//copy</Key></Object><Object><Key>never</Key></Object></Delete>";
    let r = raw
        .send("POST", "/rbk", &[("delete", "")], &[], xml.as_bytes())
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(elements(&r.text(), "Deleted").len(), 3);
    assert_eq!(
        server.memory().unwrap().keys("rbk"),
        ["r/obj", "r/replaced"]
    );

    // a bucket with objects is not deleted
    let r = raw.send("DELETE", "/rbk", &[], &[], b"").await;
    assert_eq!(r.status, 409);
    assert!(r.text().contains("BucketNotEmpty"));
    raw.delete("rbk", "r/obj").await;
    raw.delete("rbk", "r/replaced").await;
    assert_eq!(raw.send("DELETE", "/rbk", &[], &[], b"").await.status, 204);
    assert_eq!(raw.send("DELETE", "/rbk", &[], &[], b"").await.status, 404);
}

// ---------------------------------------------------------------------------------------------
// dg's own S3 adapter against the in-memory server.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_storage_conforms_against_the_memory_server() {
    let server = S3TestServer::start_in_memory().await;
    let store = S3Storage::new(server.config()).unwrap();
    store.create_bucket("conformance").await.unwrap();
    conformance::storage::run(Arc::new(store), "conformance").await;
    let memory = server.memory().unwrap();
    assert!(memory.keys("conformance").is_empty());
    assert_eq!(memory.uploads_in_progress(), 0);
}

async fn body_of(store: &S3Storage, at: &Location) -> Vec<u8> {
    let got = store.get(at).await.unwrap();
    let chunks: Vec<bytes::Bytes> = got.body.try_collect().await.unwrap();
    chunks.concat()
}

/// Keys `object_store` would refuse (empty and `.`/`..` segments, control characters) or
/// rename (one leading or trailing `/` stripped): dg's adapter sends these itself.
fn beyond_object_store(key: &str) -> bool {
    let inner = key.strip_prefix('/').unwrap_or(key);
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    inner != key
        || inner.is_empty()
        || inner
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        || inner.chars().any(|c| c.is_ascii_control())
}

async fn list_keys(store: &S3Storage, bucket: &str, prefix: &str) -> dg_ports::Result<Vec<String>> {
    let page = store
        .list(&ListRequest {
            bucket: bucket.into(),
            prefix: prefix.into(),
            ..Default::default()
        })
        .await?;
    Ok(page
        .objects
        .iter()
        .map(|o| o.location.key.clone())
        .collect())
}

/// Every page of a listing through the adapter, `max_keys` entries at a time: the objects and
/// the common prefixes, in order.
async fn list_paged(
    store: &S3Storage,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    max_keys: usize,
) -> (Vec<String>, Vec<String>) {
    let mut request = ListRequest {
        bucket: bucket.into(),
        prefix: prefix.into(),
        delimiter: delimiter.map(str::to_string),
        max_keys,
        ..Default::default()
    };
    let (mut objects, mut prefixes) = (Vec::new(), Vec::new());
    for _ in 0..10_000 {
        let page = store
            .list(&request)
            .await
            .unwrap_or_else(|e| panic!("listing {prefix:?}: {e}"));
        assert!(page.objects.len() + page.common_prefixes.len() <= max_keys);
        objects.extend(page.objects.into_iter().map(|o| o.location.key));
        prefixes.extend(page.common_prefixes);
        match page.next {
            Some(next) => request.start_after = Some(next),
            None => return (objects, prefixes),
        }
    }
    panic!("the listing of {prefix:?} does not end");
}

/// What S3 lists under `prefix` with the delimiter `/`, for `keys` in byte order.
fn level(keys: &[String], prefix: &str) -> (Vec<String>, Vec<String>) {
    let (mut objects, mut prefixes) = (Vec::new(), Vec::<String>::new());
    for key in keys.iter().filter(|k| k.starts_with(prefix)) {
        match key[prefix.len()..].find('/') {
            Some(i) => {
                let common = &key[..prefix.len() + i + 1];
                if prefixes.last().map(String::as_str) != Some(common) {
                    prefixes.push(common.to_string());
                }
            }
            None => objects.push(key.clone()),
        }
    }
    (objects, prefixes)
}

async fn collect(got: dg_ports::GetResult) -> Vec<u8> {
    let chunks: Vec<bytes::Bytes> = got.body.try_collect().await.unwrap();
    chunks.concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_adapter_round_trips_every_key_s3_allows() {
    let server = S3TestServer::start_in_memory().await;
    let store = S3Storage::new(server.config()).unwrap();
    store.create_bucket("odd").await.unwrap();
    let memory = server.memory().unwrap();
    let keys = odd_keys();
    assert!(keys.iter().filter(|k| beyond_object_store(k)).count() >= 15);
    for (i, key) in keys.iter().enumerate() {
        let at = Location::new("odd", key.clone());
        let body = format!("body {i} of {key:?}").into_bytes();
        let len = body.len() as u64;
        let mut options = PutOptions::default();
        options.metadata.insert("dg-note".into(), format!("n{i}"));
        store
            .put(&at, BytesBlob::shared(body.clone()), options)
            .await
            .unwrap_or_else(|e| panic!("put {key:?}: {e}"));
        assert_eq!(
            memory.keys("odd"),
            std::slice::from_ref(key),
            "stored under exactly {key:?}"
        );
        let stored = memory.get_raw("odd", key).unwrap();
        assert_eq!(stored.body, body);
        assert_eq!(stored.metadata.get("dg-note"), Some(&format!("n{i}")));

        let info = store
            .head(&at)
            .await
            .unwrap_or_else(|e| panic!("head {key:?}: {e}"));
        assert_eq!((&info.location, info.size), (&at, len), "{key:?}");
        assert_eq!(info.metadata.get("dg-note"), Some(&format!("n{i}")));
        assert_eq!(info.etag, Some(format!("\"{}\"", stored.etag)));
        assert!(info.last_modified.is_some());

        let got = store.get(&at).await.unwrap();
        assert_eq!(got.info.size, len);
        assert_eq!(got.info.metadata.get("dg-note"), Some(&format!("n{i}")));
        assert_eq!(collect(got).await, body, "get {key:?}");
        let tail = store.get_from(&at, 5).await.unwrap();
        assert_eq!(tail.info.size, len, "the whole size, not the range's");
        assert_eq!(tail.info.etag, info.etag);
        assert_eq!(collect(tail).await, &body[5..], "get_from {key:?}");
        let end = store.get_from(&at, len).await.unwrap();
        assert!(collect(end).await.is_empty());
        assert!(matches!(
            store.get_from(&at, len + 1).await,
            Err(Error::InvalidInput(_))
        ));

        let create = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        let again = store
            .put(&at, BytesBlob::shared(b"other".to_vec()), create)
            .await;
        assert!(
            matches!(again, Err(Error::AlreadyExists { .. })),
            "{key:?}: {again:?}"
        );
        assert_eq!(memory.get_raw("odd", key).unwrap().body, body);

        // listed exactly: by the key itself, one level up, and from the top
        assert_eq!(
            list_keys(&store, "odd", key).await.unwrap(),
            std::slice::from_ref(key)
        );
        let parent = key.rfind('/').map_or("", |j| &key[..=j]);
        assert_eq!(
            list_paged(&store, "odd", parent, Some("/"), 2).await,
            (vec![key.clone()], vec![]),
            "{key:?} under {parent:?}"
        );
        let top = list_paged(&store, "odd", "", Some("/"), 1000).await;
        match key.find('/') {
            Some(j) => assert_eq!(top, (vec![], vec![key[..=j].to_string()]), "{key:?}"),
            None => assert_eq!(top, (vec![key.clone()], vec![]), "{key:?}"),
        }

        // copies, from and to odd keys, keep body and metadata
        let copy = Location::new("odd", format!("copies/{i}/../x//"));
        store.copy(&at, &copy).await.unwrap();
        let copied = memory.get_raw("odd", &copy.key).unwrap();
        assert_eq!(
            (copied.body, copied.metadata),
            (stored.body, stored.metadata)
        );
        store.delete(&copy).await.unwrap();

        store.delete(&at).await.unwrap();
        assert!(memory.keys("odd").is_empty(), "{key:?} deleted");
        store.delete(&at).await.unwrap();
        assert!(store.head(&at).await.unwrap_err().is_not_found());
        let missing = store.get(&at).await.unwrap_err();
        assert!(missing.is_not_found(), "{missing}");
        assert!(!missing.to_string().contains('\n'), "one line: {missing}");
    }
    // `a` and `a/b`, an object and a prefix at once
    for k in ["a", "a/b"] {
        store
            .put(
                &Location::new("odd", k),
                BytesBlob::shared(k.as_bytes().to_vec()),
                PutOptions::default(),
            )
            .await
            .unwrap();
    }
    assert_eq!(
        list_paged(&store, "odd", "", Some("/"), 1000).await,
        (vec!["a".to_string()], vec!["a/".to_string()])
    );
    assert_eq!(body_of(&store, &Location::new("odd", "a")).await, b"a");
    assert_eq!(body_of(&store, &Location::new("odd", "a/b")).await, b"a/b");
    // empty keys are refused before any request; copies stay within one bucket
    let requests = server.requests();
    let empty = Location::new("odd", "");
    assert!(matches!(
        store.head(&empty).await,
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        store
            .put(
                &empty,
                BytesBlob::shared(b"x".to_vec()),
                PutOptions::default()
            )
            .await,
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        store.delete(&empty).await,
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(server.requests(), requests, "nothing sent for an empty key");
    let across = store
        .copy(&Location::new("odd", "a"), &Location::new("other", "p/.."))
        .await;
    assert!(
        matches!(across, Err(Error::Unsupported { .. })),
        "{across:?}"
    );
    let from_missing = store
        .copy(&Location::new("odd", "none//"), &Location::new("odd", "c"))
        .await
        .unwrap_err();
    assert_eq!(from_missing.to_string(), "s3://odd/none// not found");
}

/// One of each odd key among ordinary ones: every listing, at every level and in pages of
/// two, names exactly the keys stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bucket_of_every_odd_key_lists_completely() {
    let server = S3TestServer::start_in_memory().await;
    let store = S3Storage::new(server.config()).unwrap();
    let memory = server.memory().unwrap();
    memory.create_bucket_raw("hostile");
    let ordinary = [
        "p/ordinary.zip",
        "p/b/reference.bin",
        "p/b/x.delta",
        "z",
        "a/c",
    ];
    for key in odd_keys().iter().map(String::as_str).chain(ordinary) {
        memory.put_raw("hostile", key, key.as_bytes().to_vec(), [("k", "v")]);
    }
    let keys = memory.keys("hostile");
    // everything, in pages of two and all at once
    assert_eq!(
        list_paged(&store, "hostile", "", None, 2).await,
        (keys.clone(), vec![])
    );
    let all = dg_ports::ObjectStorageExt::list_all(&store, "hostile", "")
        .await
        .unwrap();
    let listed: Vec<&str> = all.iter().map(|o| o.location.key.as_str()).collect();
    assert_eq!(listed, keys);
    let by_key: std::collections::BTreeMap<&str, u64> = all
        .iter()
        .map(|o| (o.location.key.as_str(), o.size))
        .collect();
    for key in &keys {
        assert_eq!(
            by_key[key.as_str()],
            key.len() as u64,
            "the size of {key:?}"
        );
    }
    // every level, down every common prefix (`/`, `//`, `p/a//`, `a/b/`…)
    let mut levels = vec![String::new()];
    let mut seen = 0;
    while let Some(prefix) = levels.pop() {
        let listed = list_paged(&store, "hostile", &prefix, Some("/"), 2).await;
        assert_eq!(listed, level(&keys, &prefix), "the level {prefix:?}");
        let whole = list_paged(&store, "hostile", &prefix, Some("/"), 1000).await;
        assert_eq!(whole, listed, "one page or many, {prefix:?}");
        levels.extend(listed.1);
        seen += 1;
    }
    assert!(seen >= 10, "{seen} levels");
    // prefixes that are odd themselves
    for prefix in ["p/tab\t", "p/%", "p/<", "/", "p/.", "p/..", " "] {
        let expected: Vec<String> = keys
            .iter()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        assert!(!expected.is_empty(), "{prefix:?}");
        assert_eq!(
            list_paged(&store, "hostile", prefix, None, 2).await.0,
            expected,
            "{prefix:?}"
        );
    }
    // `a//b`: S3 answers common prefix `a/`, then `a//` one level down, then the key
    memory.put_raw("level", "a//b", b"x".to_vec(), Metadata::new());
    assert_eq!(
        list_paged(&store, "level", "", Some("/"), 1000).await,
        (vec![], vec!["a/".to_string()])
    );
    assert_eq!(
        list_paged(&store, "level", "a/", Some("/"), 1000).await,
        (vec![], vec!["a//".to_string()])
    );
    assert_eq!(
        list_paged(&store, "level", "a//", Some("/"), 1000).await,
        (vec!["a//b".to_string()], vec![])
    );
    // a missing bucket is named
    let missing = store
        .list(&ListRequest {
            bucket: "nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing.to_string(), "bucket nope not found");
}

/// Keys with one leading or trailing `/` (`/lead`, `dir/`, `/`) are kept exactly: never
/// written as, read from, listed as or deleted through the key without the slash (which is
/// what object_store's `Path::parse` would address).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slash_edged_keys_are_kept_exactly_or_refused() {
    let server = S3TestServer::start_in_memory().await;
    let store = S3Storage::new(server.config()).unwrap();
    store.create_bucket("edge").await.unwrap();
    let memory = server.memory().unwrap();
    let mut wrong = Vec::new();
    let edged: Vec<String> = odd_keys()
        .into_iter()
        .filter(|k| k.starts_with('/') || k.ends_with('/'))
        .collect();
    assert!(edged.len() >= 5, "{edged:?}");
    for key in edged {
        let at = Location::new("edge", key.clone());
        let put = store
            .put(&at, BytesBlob::shared(b"x".to_vec()), PutOptions::default())
            .await;
        let stored = memory.keys("edge");
        if put.is_err() || stored != std::slice::from_ref(&key) {
            wrong.push(format!("put {key:?} ({put:?}) stored {stored:?}"));
        }
        for k in stored {
            memory.delete_raw("edge", &k);
        }
        memory.put_raw("edge", &key, b"y".to_vec(), Metadata::new());
        match list_keys(&store, "edge", "").await {
            Ok(keys) if keys == std::slice::from_ref(&key) => {}
            other => wrong.push(format!("stored {key:?} listed as {other:?}")),
        }
        match store.get(&at).await {
            Ok(got) => {
                let chunks: Vec<bytes::Bytes> = got.body.try_collect().await.unwrap_or_default();
                if chunks.concat() != b"y" {
                    wrong.push(format!(
                        "get {key:?} read {} other bytes",
                        chunks.concat().len()
                    ));
                }
            }
            Err(e) => wrong.push(format!("get {key:?}: {e}")),
        }
        memory.delete_raw("edge", &key);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // the neighbours without the slash are never touched
    for (edged, plain) in [("/lead", "lead"), ("dir/", "dir"), ("/both/", "both")] {
        memory.put_raw("edge", plain, b"plain".to_vec(), Metadata::new());
        let at = Location::new("edge", edged);
        store
            .put(
                &at,
                BytesBlob::shared(b"edged".to_vec()),
                PutOptions::default(),
            )
            .await
            .unwrap();
        assert_eq!(body_of(&store, &at).await, b"edged");
        assert_eq!(store.head(&at).await.unwrap().size, 5);
        assert_eq!(&memory.get_raw("edge", plain).unwrap().body[..], b"plain");
        store.delete(&at).await.unwrap();
        assert_eq!(memory.keys("edge"), [plain]);
        assert!(store.head(&at).await.unwrap_err().is_not_found());
        memory.delete_raw("edge", plain);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn creates_race_and_exactly_one_wins() {
    let server = S3TestServer::start_in_memory().await;
    let store = Arc::new(S3Storage::new(server.config()).unwrap());
    store.create_bucket("race").await.unwrap();
    // an ordinary key (through object_store) and odd ones (through dg's own requests)
    for key in [
        "r0/reference.bin",
        "r1//reference.bin",
        "/r2/../reference.bin/",
    ] {
        let at = Location::new("race", key);
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let store = store.clone();
                let at = at.clone();
                tokio::spawn(async move {
                    let mut options = PutOptions {
                        mode: PutMode::Create,
                        ..Default::default()
                    };
                    options.metadata.insert("writer".into(), i.to_string());
                    store
                        .put(
                            &at,
                            BytesBlob::shared(format!("writer {i}").into_bytes()),
                            options,
                        )
                        .await
                        .map(|()| i)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(i) => winners.push(i),
                Err(Error::AlreadyExists { .. }) => {}
                Err(e) => panic!("a racing create failed with {e}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "exactly one of 16 creates wins: {winners:?}"
        );
        let stored = server.memory().unwrap().get_raw("race", &at.key).unwrap();
        assert_eq!(stored.body, format!("writer {}", winners[0]).into_bytes());
        assert_eq!(stored.metadata.get("writer"), Some(&winners[0].to_string()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_multipart_upload_over_64_mib_comes_back_whole() {
    let server = S3TestServer::start_in_memory().await;
    let config = server.config();
    assert_eq!(
        config.multipart_threshold,
        64 << 20,
        "the adapter's default"
    );
    let store = S3Storage::new(config).unwrap();
    store.create_bucket("big").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let len: usize = 70 << 20;
    let data: Vec<u8> = (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let path = dir.path().join("big.bin");
    std::fs::write(&path, &data).unwrap();
    let mut options = PutOptions::default();
    options
        .metadata
        .insert("dg-file-sha256".into(), "abc".into());
    let at = Location::new("big", "a/big.bin");
    store
        .put(&at, FileBlob::open(&path).unwrap(), options)
        .await
        .unwrap();
    let memory = server.memory().unwrap();
    assert_eq!(memory.uploads_in_progress(), 0, "the upload was completed");
    let stored = memory.get_raw("big", "a/big.bin").unwrap();
    let parts = len.div_ceil(16 << 20);
    assert!(
        stored.etag.ends_with(&format!("-{parts}")),
        "a multipart ETag: {}",
        stored.etag
    );
    let info = store.head(&at).await.unwrap();
    assert_eq!(info.size, len as u64);
    assert_eq!(
        info.metadata.get("dg-file-sha256").map(String::as_str),
        Some("abc"),
        "multipart keeps metadata"
    );
    assert_eq!(
        info.etag.as_deref(),
        Some(format!("\"{}\"", stored.etag).as_str())
    );
    assert!(body_of(&store, &at).await == data, "the bytes come back");
    let tail = store.get_from(&at, len as u64 - 10).await.unwrap();
    let chunks: Vec<bytes::Bytes> = tail.body.try_collect().await.unwrap();
    assert_eq!(chunks.concat(), &data[len - 10..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_apply_to_the_memory_server() {
    let server = S3TestServer::start_in_memory().await;
    let store = S3Storage::new(server.config()).unwrap();
    store.create_bucket("flt").await.unwrap();
    let at = Location::new("flt", "k");
    store
        .put(
            &at,
            BytesBlob::shared(vec![7u8; 100_000]),
            PutOptions::default(),
        )
        .await
        .unwrap();
    server.set_faults(ServerFaults {
        slowdown: 1.0,
        ..Default::default()
    });
    let err = store.head(&at).await.unwrap_err();
    assert!(err.is_retryable(), "SlowDown is retryable: {err}");
    assert!(server.slowed_down() >= 1);
    server.set_faults(ServerFaults {
        cut_bodies: 1.0,
        ..Default::default()
    });
    let got = store.get(&at).await.unwrap();
    let read: Result<Vec<bytes::Bytes>, _> = got.body.try_collect().await;
    assert!(read.is_err(), "the body is cut off");
    assert_eq!(server.bodies_cut(), 1);
    server.set_faults(ServerFaults::default());
    assert_eq!(body_of(&store, &at).await, vec![7u8; 100_000]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_multipart_upload_of_an_odd_key_over_64_mib_comes_back_whole() {
    let server = S3TestServer::start_in_memory().await;
    let store = S3Storage::new(server.config()).unwrap();
    store.create_bucket("big").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let len: usize = 70 << 20;
    let data: Vec<u8> = (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let path = dir.path().join("big.bin");
    std::fs::write(&path, &data).unwrap();
    let mut options = PutOptions::default();
    options
        .metadata
        .insert("dg-file-sha256".into(), "abc".into());
    let key = "/big//../x\t<&>.bin/";
    let at = Location::new("big", key);
    store
        .put(&at, FileBlob::open(&path).unwrap(), options)
        .await
        .unwrap();
    let memory = server.memory().unwrap();
    assert_eq!(memory.uploads_in_progress(), 0, "the upload was completed");
    assert_eq!(memory.keys("big"), [key]);
    let stored = memory.get_raw("big", key).unwrap();
    assert!(
        stored
            .etag
            .ends_with(&format!("-{}", len.div_ceil(16 << 20))),
        "a multipart ETag: {}",
        stored.etag
    );
    assert_eq!(
        stored.metadata.get("dg-file-sha256").map(String::as_str),
        Some("abc")
    );
    let info = store.head(&at).await.unwrap();
    assert_eq!(info.size, len as u64);
    assert_eq!(
        info.metadata.get("dg-file-sha256").map(String::as_str),
        Some("abc"),
        "multipart keeps metadata"
    );
    assert!(body_of(&store, &at).await == data, "the bytes come back");
    let tail = store.get_from(&at, len as u64 - 10).await.unwrap();
    assert_eq!(collect(tail).await, &data[len - 10..]);
    assert_eq!(
        dg_ports::ObjectStorageExt::list_all(&store, "big", "/big/")
            .await
            .unwrap()[0]
            .size,
        len as u64
    );
}

/// Short delays so that tests do not wait; enough attempts that a 30% throttle never wins.
fn patient() -> RetryPolicy {
    RetryPolicy {
        base_delay: std::time::Duration::from_millis(2),
        max_delay: std::time::Duration::from_millis(20),
        ..RetryPolicy::attempts(12)
    }
}

/// dg's own requests fail the way object_store's do: throttling and cut bodies are
/// retryable, so a `RetryingStorage` carries every operation through; parts of a multipart
/// upload are repeated on their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn own_requests_fail_transiently_and_retries_carry_them_through() {
    let server = S3TestServer::start_in_memory().await;
    let s3 = S3Storage::new(S3Config {
        multipart_threshold: 5 << 20,
        part_size: 5 << 20,
        max_attempts: 12,
        ..server.config()
    })
    .unwrap();
    s3.create_bucket("flt").await.unwrap();
    let at = Location::new("flt", "f//k/..");
    let data = vec![7u8; 100_000];
    s3.put(&at, BytesBlob::shared(data.clone()), PutOptions::default())
        .await
        .unwrap();

    server.set_faults(ServerFaults {
        slowdown: 1.0,
        ..Default::default()
    });
    let to = at.with_key("f/copy/.");
    let listing = ListRequest {
        bucket: "flt".into(),
        ..Default::default()
    };
    for e in [
        s3.head(&at).await.unwrap_err(),
        s3.get(&at).await.unwrap_err(),
        s3.get_from(&at, 10).await.unwrap_err(),
        s3.put(&at, BytesBlob::shared(b"y".to_vec()), PutOptions::default())
            .await
            .unwrap_err(),
        s3.list(&listing).await.unwrap_err(),
        s3.delete(&at).await.unwrap_err(),
        s3.copy(&at, &to).await.unwrap_err(),
    ] {
        assert!(e.is_retryable(), "503 SlowDown is transient: {e}");
        assert!(e.to_string().contains("503"), "{e}");
    }
    assert_eq!(server.slowed_down(), 7, "nothing repeated on its own");

    server.set_faults(ServerFaults {
        cut_bodies: 1.0,
        ..Default::default()
    });
    let got = s3.get(&at).await.unwrap();
    let read: Result<Vec<bytes::Bytes>, _> = got.body.try_collect().await;
    let cut = read.unwrap_err();
    assert!(cut.is_retryable(), "a cut body is transient: {cut}");
    assert_eq!(server.bodies_cut(), 1);

    // through retries, on a server that throttles and cuts bodies
    server.set_faults(ServerFaults {
        slowdown: 0.3,
        cut_bodies: 0.3,
        seed: 11,
    });
    let backoff = Backoff::new(patient(), RetryCounter::new());
    let store = RetryingStorage::with_backoff(Arc::new(s3), backoff.clone());
    let big: Vec<u8> = (0..(17u32 << 20)).map(|i| (i % 253) as u8).collect();
    let keys = [
        "f/a//b",
        "f/..",
        "/f/lead",
        "f/nl\nx/",
        "f/big/../multipart",
    ];
    for key in keys {
        let at = Location::new("flt", key);
        let body = if key.ends_with("multipart") {
            big.clone()
        } else {
            format!("{key:?} ").repeat(5000).into_bytes()
        };
        let mut options = PutOptions::default();
        options.metadata.insert("m".into(), "1".into());
        store
            .put(&at, BytesBlob::shared(body.clone()), options)
            .await
            .unwrap_or_else(|e| panic!("put {key:?}: {e}"));
        assert_eq!(
            store.head(&at).await.unwrap().metadata.get("m").unwrap(),
            "1"
        );
        let got = store.get(&at).await.unwrap();
        let chunks: Vec<bytes::Bytes> = got.body.try_collect().await.unwrap();
        assert!(chunks.concat() == body, "{key:?} reads back whole");
    }
    let listed = dg_ports::ObjectStorageExt::list_all(&store, "flt", "")
        .await
        .unwrap();
    let mut expected: Vec<&str> = keys.iter().copied().chain(["f//k/.."]).collect();
    expected.sort();
    let listed: Vec<&str> = listed.iter().map(|o| o.location.key.as_str()).collect();
    assert_eq!(listed, expected);
    for key in keys {
        store.delete(&Location::new("flt", key)).await.unwrap();
    }
    assert!(server.slowed_down() > 7 && server.bodies_cut() > 1);
    assert!(backoff.counter().get() > 0, "retries were made");
    server.set_faults(ServerFaults::default());
    assert_eq!(server.memory().unwrap().keys("flt"), ["f//k/.."]);
}
