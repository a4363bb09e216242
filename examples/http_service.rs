//! dg behind an HTTP handler: a small artifact service (hyper) that stores uploads as deltas and
//! serves downloads rebuilt and checked.
//!
//! ```sh
//! cargo run -p dg-cli --example http_service             # starts, tries itself, stops
//! cargo run -p dg-cli --example http_service -- --serve  # keeps serving; then:
//! curl -T app-1.0.zip http://127.0.0.1:PORT/releases/app/app-1.0.zip
//! curl http://127.0.0.1:PORT/releases/app/app-1.0.zip -o back.zip
//! curl -X DELETE http://127.0.0.1:PORT/releases/app/app-1.0.zip
//! ```
//!
//! `PUT /BUCKET/KEY` stores the body and answers with how it was stored (JSON); `GET` streams
//! the file once dg has rebuilt it and checked its SHA-256; `HEAD` gives its size; `DELETE`
//! removes it. The store is a temporary local directory (no network beyond 127.0.0.1).

use std::convert::Infallible;
use std::io::Read;

use bytes::Bytes;
use dg::{Client, Error};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;
type Body = BoxBody<Bytes, std::io::Error>;

fn main() -> Result<()> {
    let serve = std::env::args().any(|a| a == "--serve");
    tokio::runtime::Runtime::new()?.block_on(run(serve))
}

async fn run(serve: bool) -> Result<()> {
    let store = tempfile::tempdir()?;
    let client = Client::builder().local_dir(store.path()).build()?;
    client.create_bucket("releases").await?;

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!("serving a dg store on http://{addr}/BUCKET/KEY");
    let server = tokio::spawn(accept(listener, client));
    if serve {
        server.await?;
        return Ok(());
    }
    try_it(&addr.to_string()).await?;
    server.abort();
    Ok(())
}

/// Serves every connection.
async fn accept(listener: TcpListener, client: Client) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        let client = client.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(client.clone(), req));
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(socket), service)
                .await;
        });
    }
}

/// One request: the path is `/BUCKET/KEY`.
async fn handle(client: Client, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().trim_start_matches('/').to_string();
    let Some((bucket, key)) = path
        .split_once('/')
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
    else {
        return Ok(text(StatusCode::BAD_REQUEST, "use /BUCKET/KEY\n"));
    };
    let answer = match *req.method() {
        Method::PUT => put(&client, bucket, key, req.into_body()).await,
        Method::GET => get(&client, bucket, key).await,
        Method::HEAD => client.head_object(bucket, key).await.map(|head| {
            let mut r = Response::new(empty());
            r.headers_mut()
                .insert(hyper::header::CONTENT_LENGTH, head.size.into());
            r
        }),
        Method::DELETE => client
            .delete_object(bucket, key)
            .await
            .map(|_| text(StatusCode::NO_CONTENT, "")),
        _ => {
            return Ok(text(
                StatusCode::METHOD_NOT_ALLOWED,
                "PUT, GET, HEAD or DELETE\n",
            ))
        }
    };
    Ok(answer.unwrap_or_else(|e| {
        let status = match e {
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::InvalidInput(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        text(status, &format!("{e}\n"))
    }))
}

async fn put(
    client: &Client,
    bucket: &str,
    key: &str,
    body: Incoming,
) -> dg::Result<Response<Body>> {
    let bytes = body
        .collect()
        .await
        .map_err(|e| Error::io("reading the request body", std::io::Error::other(e)))?
        .to_bytes();
    let stored = client.put_object(bucket, key, bytes).await?;
    let json = format!(
        "{{\"key\":\"{}\",\"original_size\":{},\"stored_size\":{},\"is_delta\":{},\"savings\":{:.4}}}\n",
        stored.key, stored.original_size, stored.stored_size, stored.is_delta, stored.savings
    );
    Ok(text(StatusCode::CREATED, &json))
}

/// The file, verified, streamed in 64 KiB frames from where dg staged it.
async fn get(client: &Client, bucket: &str, key: &str) -> dg::Result<Response<Body>> {
    let object = client.get_object(bucket, key).await?;
    let size = object.len();
    let mut reader = object.reader()?;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let _keep = object; // the staged file lives until it is sent
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if tx
                        .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                        .is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    let frames = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk.map(Frame::data), rx))
    });
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(frames)));
    r.headers_mut()
        .insert(hyper::header::CONTENT_LENGTH, size.into());
    Ok(r)
}

fn empty() -> Body {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed()
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(body.to_string()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r
}

/// A client's session against the service: two versions up, the second back, a delete.
async fn try_it(addr: &str) -> Result<()> {
    let v1: Vec<u8> = (0..300_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect();
    let mut v2 = v1.clone();
    v2[500_000..500_012].copy_from_slice(b"version two!");

    let (status, body) = request(addr, "PUT", "/releases/app/app-1.0.zip", &v1).await?;
    println!(
        "PUT app-1.0.zip -> {status} {}",
        String::from_utf8_lossy(&body).trim()
    );
    assert_eq!(status, 201);
    let (status, body) = request(addr, "PUT", "/releases/app/app-1.1.zip", &v2).await?;
    println!(
        "PUT app-1.1.zip -> {status} {}",
        String::from_utf8_lossy(&body).trim()
    );
    assert!(String::from_utf8_lossy(&body).contains("\"is_delta\":true"));

    let (status, body) = request(addr, "GET", "/releases/app/app-1.1.zip", &[]).await?;
    println!("GET app-1.1.zip -> {status}, {} bytes", body.len());
    assert_eq!((status, body == v2), (200, true));

    let (status, _) = request(addr, "DELETE", "/releases/app/app-1.0.zip", &[]).await?;
    let (gone, _) = request(addr, "GET", "/releases/app/app-1.0.zip", &[]).await?;
    println!("DELETE app-1.0.zip -> {status}; GET it again -> {gone}");
    assert_eq!((status, gone), (204, 404));
    Ok(())
}

/// A bare HTTP/1.1 request (what `curl` would send); returns the status and the body.
async fn request(addr: &str, method: &str, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr).await?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no HTTP header")?;
    let header = String::from_utf8_lossy(&response[..split]).to_string();
    let status = header
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    let mut body = response[split + 4..].to_vec();
    if header
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body)?;
    }
    Ok((status, body))
}

/// Undoes HTTP/1.1 chunked transfer encoding.
fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunk")?;
        let size = usize::from_str_radix(std::str::from_utf8(&data[..line_end])?.trim(), 16)?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(data.get(..size).ok_or("short chunk")?);
        data = data.get(size + 2..).ok_or("short chunk")?;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_to_the_end() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(super::run(false)).unwrap();
    }
}
