//! The HTTP side of `dg serve`: accepts connections (plain or TLS), answers the operations
//! endpoints (`/_/health`, `/_/metrics`), passes everything else to the S3 service, logs and
//! counts each exchange, and on SIGTERM or Ctrl-C stops accepting and lets the requests in
//! flight finish.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use s3s::service::S3Service;
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

use super::metrics::Metrics;

/// A TLS acceptor for the PEM certificate chain and key.
pub fn tls_acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read the certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot read the certificate {}", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{} holds no PEM certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read the private key {}", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS set-up")?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("the TLS certificate and key do not go together")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Resolves on SIGTERM or Ctrl-C.
async fn stop_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn text(status: u16, body: String, content_type: &str) -> Response<s3s::Body> {
    let mut res = Response::new(s3s::Body::from(body));
    *res.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        res.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    res
}

/// One exchange: the operations endpoints, else the S3 service; logged and counted.
async fn handle(
    req: Request<Incoming>,
    s3: S3Service,
    metrics: Arc<Metrics>,
) -> Result<Response<s3s::Body>, s3s::HttpError> {
    let started = Instant::now();
    let _in_flight = metrics.start();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let response = match (method.as_str(), path.as_str()) {
        ("GET" | "HEAD", "/_/health") => Ok(text(200, "ok\n".into(), "text/plain")),
        ("GET", "/_/metrics") => Ok(text(200, metrics.render(), "text/plain; version=0.0.4")),
        _ => hyper::service::Service::call(&s3, req).await,
    };
    let status = response.as_ref().map_or(500, |r| r.status().as_u16());
    metrics.http(method.as_str(), status);
    info!(
        "{method} {path} {status} {:.1}ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    response
}

/// Serves `s3` on `listen` until SIGTERM or Ctrl-C, then waits up to `grace` for the requests
/// in flight.
pub async fn serve(
    listen: &str,
    s3: S3Service,
    metrics: Arc<Metrics>,
    tls: Option<TlsAcceptor>,
    grace: Duration,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    // The one line a script waits for (stderr, whatever the log level).
    eprintln!("dg serve: listening on {scheme}://{addr}");
    let http = ConnBuilder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = socket.set_nodelay(true);
        let (s3, metrics) = (s3.clone(), metrics.clone());
        let service =
            hyper::service::service_fn(move |req| handle(req, s3.clone(), metrics.clone()));
        match &tls {
            None => {
                let conn = http
                    .serve_connection(TokioIo::new(socket), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let http = http.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(socket));
                    let stream = match handshake.await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            info!("TLS handshake with {peer} failed: {e}");
                            return;
                        }
                        Err(_) => {
                            info!("TLS handshake with {peer} timed out");
                            return;
                        }
                    };
                    let conn = http
                        .serve_connection(TokioIo::new(stream), service)
                        .into_owned();
                    let _ = watcher.watch(conn).await;
                });
            }
        }
    }
    drop(listener);
    eprintln!("dg serve: stopping; finishing the requests in flight");
    tokio::select! {
        () = graceful.shutdown() => eprintln!("dg serve: stopped"),
        () = tokio::time::sleep(grace) => eprintln!("dg serve: stopped after {}s with requests still open", grace.as_secs()),
    }
    Ok(())
}
