//! The upstream image service: one pooled keep-alive client (HTTP/1.1, or
//! HTTP/2 when configured; TLS for `https://`), the URI rewrite onto the
//! upstream's base path, and the response timeout.

pub mod headers;
mod tls;

use std::time::Duration;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::body::ProxyBody;
use crate::config::UpstreamConfig;
use crate::config::units::format_duration;
use crate::error::ProxyError;

/// TCP keepalive on upstream sockets, so dead peers are noticed.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// A handle on the upstream; cheap to share behind an `Arc`.
pub struct Upstream {
    client: Client<HttpsConnector<HttpConnector>, ProxyBody>,
    scheme: Scheme,
    authority: Authority,
    base_path: String,
    response_timeout: Duration,
    idle_timeout: Duration,
}

impl Upstream {
    /// Builds the client; fails only on a bad TLS setup.
    pub fn new(config: &UpstreamConfig) -> Result<Upstream, String> {
        let scheme = config.origin.scheme().cloned().unwrap_or(Scheme::HTTP);
        let authority = config
            .origin
            .authority()
            .cloned()
            .ok_or_else(|| "upstream URL has no host".to_owned())?;
        let connector = connector(config, scheme == Scheme::HTTPS)?;
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new());
        // Plain-text HTTP/2 has no ALPN to negotiate it: prior knowledge.
        if config.http2 && scheme == Scheme::HTTP {
            builder.http2_only(true);
        }
        Ok(Upstream {
            client: builder.build(connector),
            scheme,
            authority,
            base_path: config.base_path.clone(),
            response_timeout: config.response_timeout,
            idle_timeout: config.idle_timeout,
        })
    }

    /// The upstream URI for a client path (listen prefix already removed):
    /// the upstream's base path, then the path and query verbatim.
    pub fn uri(&self, path: &str, query: Option<&str>) -> Result<Uri, ProxyError> {
        let mut target = String::with_capacity(self.base_path.len() + path.len() + 64);
        target.push_str(&self.base_path);
        target.push_str(path);
        if let Some(query) = query {
            target.push('?');
            target.push_str(query);
        }
        let path_and_query = PathAndQuery::try_from(target)
            .map_err(|_| ProxyError::BadRequest("the request target is not a valid path".into()))?;
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| ProxyError::BadRequest("the request target is not a valid path".into()))
    }

    /// Sends a request and waits for the response headers, at most the
    /// response timeout.
    pub async fn send(
        &self,
        request: Request<ProxyBody>,
    ) -> Result<Response<Incoming>, ProxyError> {
        let sent = tokio::time::timeout(self.response_timeout, self.client.request(request));
        match sent.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(err)) => Err(classify(&err)),
            Err(_) => Err(ProxyError::GatewayTimeout(format_duration(
                self.response_timeout,
            ))),
        }
    }

    /// How long a body stream in either direction may stall.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// How long the upstream has to send response headers.
    pub fn response_timeout(&self) -> Duration {
        self.response_timeout
    }
}

fn connector(
    config: &UpstreamConfig,
    https: bool,
) -> Result<HttpsConnector<HttpConnector>, String> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(config.connect_timeout));
    http.set_keepalive(Some(TCP_KEEPALIVE));
    // Loading trust roots costs a scan of the system store: only for https.
    let tls = if https {
        tls::client_config(config.ca_file.as_deref())?
    } else {
        tls::client_config_without_roots()?
    };
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    let connector = if config.http2 {
        builder.enable_http1().enable_http2().wrap_connector(http)
    } else {
        builder.enable_http1().wrap_connector(http)
    };
    Ok(connector)
}

/// Maps a client error to the proxy's error: never echoes headers, so a
/// token cannot leak through an error message.
fn classify(err: &hyper_util::client::legacy::Error) -> ProxyError {
    let mut detail = String::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    if err.is_connect() {
        ProxyError::BadGateway(format!("cannot connect to the upstream: {detail}"))
    } else {
        ProxyError::BadGateway(format!("the upstream broke the exchange: {detail}"))
    }
}
