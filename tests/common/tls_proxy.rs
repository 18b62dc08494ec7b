//! A proxy serving TLS in front of the sample, and HTTP/1.1 and HTTP/2
//! clients on one TLS connection, for the TLS listener tests.

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use imgcache::config::{CertFiles, Config, ServerTls};
use imgcache::metrics::Snapshot;
use imgcache::proxy::Proxy;
use imgcache::tls::Acceptor;
use tokio_rustls::TlsConnector;

use super::pki::{self, Ca, Issued};
use super::*;

pub const H1: &[&[u8]] = &[b"http/1.1"];
pub const H2: &[&[u8]] = &[b"h2"];

/// A proxy serving TLS with `server` (and requiring certificates from
/// `client_ca` when given), in front of the sample.
pub struct TlsProxy {
    pub handle: ProxyHandle,
    pub acceptor: Acceptor,
    pub sample: glance_sample::SampleHandle,
}

impl TlsProxy {
    pub async fn start(server: &Issued, client_ca: Option<&Ca>, client_identity: bool) -> TlsProxy {
        TlsProxy::start_with(server, client_ca, client_identity, |_| {}).await
    }

    pub async fn start_with(
        server: &Issued,
        client_ca: Option<&Ca>,
        client_identity: bool,
        tune: impl FnOnce(&mut Config),
    ) -> TlsProxy {
        let sample = start_sample().await;
        let mut config = config_for(&sample.url());
        config.server.tls = Some(ServerTls {
            cert: CertFiles {
                cert_file: server.cert_file.clone(),
                key_file: Some(server.key_file.clone()),
            },
            client_ca_file: client_ca.map(Ca::file),
            client_identity,
        });
        tune(&mut config);
        let proxy = Proxy::new(&config).expect("proxy");
        let acceptor = Acceptor::for_server(&config, proxy.metrics_handle())
            .expect("certificate loads")
            .expect("TLS on");
        let handle = start_proxy_over(config, proxy, Some(acceptor.clone())).await;
        TlsProxy {
            handle,
            acceptor,
            sample,
        }
    }

    /// The `X-Forwarded-Proto` of the latest request the upstream saw.
    pub fn forwarded_proto(&self) -> String {
        let headers = self
            .sample
            .control
            .last_request_headers()
            .expect("a request");
        headers["x-forwarded-proto"]
            .to_str()
            .expect("text")
            .to_owned()
    }

    pub async fn metric(&self, series: &str) -> f64 {
        let text = self
            .handle
            .proxy
            .metrics()
            .encode(&Snapshot::default())
            .expect("metrics");
        sample_value(&text, series)
    }
}

/// An HTTP/1.1 or HTTP/2 client on one TLS connection.
pub enum Client {
    H1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

impl Client {
    /// Connects with `connector`, speaking what ALPN chose.
    pub async fn open(connector: &TlsConnector, addr: std::net::SocketAddr) -> (Client, String) {
        let tls = pki::connect(connector, addr).await.expect("handshake");
        let serial = pki::served_serial(&tls);
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let io = TokioIo::new(tls);
        let client = if h2 {
            let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .expect("h2");
            tokio::spawn(conn);
            Client::H2(send)
        } else {
            let (send, conn) = hyper::client::conn::http1::handshake(io).await.expect("h1");
            tokio::spawn(conn);
            Client::H1(send)
        };
        (client, serial)
    }

    /// `GET path` as `token`: status, version, what the cache did.
    pub async fn get(
        &mut self,
        path: &str,
        token: &str,
    ) -> (u16, http::Version, Option<CacheOutcome>) {
        // HTTP/1.1 in origin form, as curl and requests send it; HTTP/2
        // needs the scheme and authority.
        let uri = match self {
            Client::H1(_) => path.to_owned(),
            Client::H2(_) => format!("https://127.0.0.1{path}"),
        };
        let request = Request::get(uri)
            .header("host", "127.0.0.1")
            .header("x-auth-token", token)
            .body(Empty::new())
            .expect("request");
        let sent = match self {
            Client::H1(send) => send.send_request(request).await,
            Client::H2(send) => send.send_request(request).await,
        };
        let response = tokio::time::timeout(HANG_GUARD, async { sent })
            .await
            .expect("no hang")
            .expect("response");
        let (parts, body) = response.into_parts();
        body.collect().await.expect("body");
        let outcome = outcome_of(parts.headers.get("cache-status").map(|v| v.as_bytes()));
        (parts.status.as_u16(), parts.version, outcome)
    }
}
