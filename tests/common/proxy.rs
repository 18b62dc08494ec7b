//! The proxy under test, on 127.0.0.1:0: the test config, a builder for
//! what tests add to it (Keystone, signing keys, Redis, the admin API,
//! any other setting), and the handle of a running proxy.

use std::net::SocketAddr;
use std::time::Duration;

use imgcache::config::{Config, Credential, IdentityConfig, Share, parse_upstream_url};
use imgcache::proxy::Proxy;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::redis::TestRedis;

/// How long a token validation is trusted when a test adds Keystone.
pub const VALIDATION_TTL: Duration = Duration::from_secs(60);

/// The default config, on ephemeral ports, in front of `upstream`.
pub fn config_for(upstream: &str) -> Config {
    let mut config = Config::defaults();
    config.server.listen = "127.0.0.1:0".parse().expect("addr");
    config.admin.listen = "127.0.0.1:0".parse().expect("addr");
    config.server.shutdown_grace = Duration::from_secs(5);
    let (origin, base_path) = parse_upstream_url(upstream).expect("upstream url");
    config.upstream.origin = origin;
    config.upstream.base_path = base_path;
    config
}

/// Token validation at `keystone_url`, trusted for [`VALIDATION_TTL`].
pub fn identity(keystone_url: &str, share: Share) -> IdentityConfig {
    IdentityConfig {
        keystone_url: keystone_url.parse().expect("keystone url"),
        validation_ttl: VALIDATION_TTL,
        timeout: Duration::from_secs(2),
        share,
        service_token: None,
        // Far above what tests send at once: tests of the cap set it.
        max_concurrent_validations: 64,
    }
}

/// What a test wants of its proxy; [`TestProxy::start`] runs it.
///
/// ```ignore
/// let proxy = TestProxy::new(&sample.url())
///     .keystone(&keystone.url(), Share::User)
///     .admin()
///     .start()
///     .await;
/// ```
pub struct TestProxy {
    config: Config,
    /// `Some(token)`: start the admin API too (with that admin token).
    admin: Option<Option<String>>,
}

impl TestProxy {
    /// The test config in front of `upstream` (base path included).
    pub fn new(upstream: &str) -> TestProxy {
        TestProxy {
            config: config_for(upstream),
            admin: None,
        }
    }

    /// Validates tokens at `keystone_url` (see [`identity`]).
    pub fn keystone(mut self, keystone_url: &str, share: Share) -> TestProxy {
        self.config.identity = Some(identity(keystone_url, share));
        self
    }

    /// Changes the token validation [`TestProxy::keystone`] set up.
    pub fn with_identity(mut self, tweak: impl FnOnce(&mut IdentityConfig)) -> TestProxy {
        let identity = self.config.identity.as_mut();
        tweak(identity.expect("TestProxy::keystone() first"));
        self
    }

    /// Holds these access keys: verifies and re-signs SDK-signed requests.
    pub fn signing(mut self, keys: &[&Credential]) -> TestProxy {
        self.config.signing.credentials = keys.iter().map(|key| (*key).clone()).collect();
        self
    }

    /// Shares its cache through `redis` (under the test's key prefix).
    pub fn redis(mut self, redis: &TestRedis) -> TestProxy {
        self.config.redis = Some(redis.config());
        self
    }

    /// Starts the admin API too, without an admin token.
    pub fn admin(mut self) -> TestProxy {
        self.admin = Some(None);
        self
    }

    /// Starts the admin API too, requiring `token`.
    pub fn admin_token(mut self, token: &str) -> TestProxy {
        self.admin = Some(Some(token.to_owned()));
        self
    }

    /// Any other setting.
    pub fn with(mut self, tweak: impl FnOnce(&mut Config)) -> TestProxy {
        tweak(&mut self.config);
        self
    }

    /// The config it will start with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Starts it.
    pub async fn start(&self) -> ProxyHandle {
        let proxy = Proxy::new(&self.config).expect("proxy");
        let mut handle = start_proxy_over(self.config.clone(), proxy, None).await;
        if let Some(token) = &self.admin {
            handle.admin = Some(start_admin(&handle, token.as_deref()).await);
        }
        handle
    }

    /// Starts `n` instances of it (a fleet, when it has Redis).
    pub async fn start_many(&self, n: usize) -> Vec<ProxyHandle> {
        let mut instances = Vec::with_capacity(n);
        for _ in 0..n {
            instances.push(self.start().await);
        }
        instances
    }
}

/// A running proxy; dropping it stops the server task.
pub struct ProxyHandle {
    pub addr: SocketAddr,
    pub proxy: Proxy,
    /// The admin API's base URL, when the builder started it.
    admin: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ProxyHandle {
    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The admin API's base URL (`http://ADDR`).
    pub fn admin_url(&self) -> &str {
        self.admin
            .as_deref()
            .expect("the admin API was not started: TestProxy::admin()")
    }

    /// One series' value from the admin API's `/metrics` (0 when absent).
    pub async fn metric(&self, series: &str) -> f64 {
        super::metric_value(self.admin_url(), series).await
    }

    /// Stops accepting and drains (the test config's short grace).
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Starts the proxy in front of `upstream` with the default test config
/// (`TestProxy::new(upstream).start()`).
pub async fn start_proxy(upstream: &str) -> ProxyHandle {
    TestProxy::new(upstream).start().await
}

/// Starts `proxy` (made from `config`), over TLS when `tls` is given.
pub async fn start_proxy_over(
    config: Config,
    proxy: Proxy,
    tls: Option<imgcache::tls::Acceptor>,
) -> ProxyHandle {
    let listener = TcpListener::bind(config.server.listen).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    let serving = proxy.clone();
    let server_config = config.server.clone();
    let task = tokio::spawn(async move {
        imgcache::server::run_with(listener, serving, &server_config, tls, async {
            let _ = rx.await;
        })
        .await;
    });
    ProxyHandle {
        addr,
        proxy,
        admin: None,
        shutdown: Some(tx),
        task: Some(task),
    }
}

/// Starts the admin API for a running proxy on 127.0.0.1:0; returns its
/// base URL. It stops when the test's runtime ends.
async fn start_admin(proxy: &ProxyHandle, token: Option<&str>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let admin = imgcache::admin::Admin::new(proxy.proxy.operator(), token);
    tokio::spawn(admin.serve(listener, std::future::pending()));
    format!("http://{addr}")
}
