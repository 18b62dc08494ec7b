//! Wiring for the binary: bind the listeners, build the proxy, serve the
//! admin API, reload on SIGHUP, run until SIGTERM/SIGINT; with `--demo`,
//! in front of the sample image service ([`crate::demo`]).

use std::net::SocketAddr;
use std::process::ExitCode;

use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

use crate::admin::Admin;
use crate::config::cli::{Cli, Loaded};
use crate::config::{Config, Sources, cli};
use crate::demo::Demo;
use crate::proxy::Proxy;
use crate::tls::{self, Acceptor};
use crate::workers::{self, Workers};

/// Loads the config for start-up (and `--check-config`): the settings'
/// problems and the certificate files' (which config does not parse) in
/// one list, so an operator sees every problem at once (exit 64).
pub fn load(
    cli: &Cli,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(Config, Sources), Vec<String>> {
    let Loaded {
        config,
        sources,
        mut problems,
    } = cli.load(env);
    problems.extend(tls::check(&config));
    if problems.is_empty() {
        Ok((config, sources))
    } else {
        Err(problems)
    }
}

/// What to warn about an admin API anyone beyond this host can reach
/// without a token (purges, stats and reloads for the asking).
fn admin_exposure(admin: &crate::config::AdminConfig) -> Option<&'static str> {
    let open = admin.token.is_none() && !admin.listen.ip().is_loopback();
    open.then_some(
        "the admin API listens beyond loopback without admin.token: anyone who can reach it can purge the cache; set admin.token or listen on 127.0.0.1",
    )
}

/// Runs the proxy until SIGTERM/SIGINT; with `demo`, first starts the
/// embedded sample image service and points the upstream at it (a build
/// without the `demo` feature fails here; `main` refuses `--demo` before).
pub async fn run(mut config: Config, sources: Sources, demo: bool) -> ExitCode {
    let demo = if demo {
        match Demo::start(&mut config).await {
            Ok(demo) => Some(demo),
            Err(err) => return fail(&format!("cannot start the sample image service: {err}")),
        }
    } else {
        None
    };
    if let Some(warning) = admin_exposure(&config.admin) {
        tracing::warn!(listen = %config.admin.listen, "{warning}");
    }
    let workers = config.server.workers;
    let listeners = match workers::bind(config.server.listen, workers) {
        Ok(listeners) => listeners,
        Err(err) => return fail(&format!("cannot listen on {}: {err}", config.server.listen)),
    };
    let admin_listener = match bind(config.admin.listen).await {
        Ok(listener) => listener,
        Err(err) => return fail(&err),
    };
    let proxy = match Proxy::new(&config) {
        Ok(proxy) => proxy,
        Err(err) => return fail(&err),
    };
    let (tls, admin_tls) = match acceptors(&config, &proxy) {
        Ok(acceptors) => acceptors,
        Err(err) => return fail(&err),
    };
    let acceptors: Vec<Acceptor> = tls.iter().chain(&admin_tls).cloned().collect();
    let listen = listeners
        .first()
        .and_then(|l| l.local_addr().ok())
        .unwrap_or(config.server.listen);
    let admin = local_addr(&admin_listener, config.admin.listen);
    // Before "listening" is logged: from then on a SIGHUP reloads (its
    // default action would end the process).
    let hup = signal(SignalKind::hangup());
    let (scheme, admin_scheme) = (scheme(tls.is_some()), scheme(admin_tls.is_some()));
    tracing::info!(%listen, %admin, scheme, admin_scheme, workers, upstream = %config.upstream.origin, "imgcache listening");
    if let Some(demo) = &demo {
        demo.print_help(listen, admin);
    }
    tokio::spawn(check_upstream(
        config.upstream.origin.clone(),
        config.upstream.connect_timeout,
    ));
    let (stop_admin, admin_stopped) = watch::channel(false);
    let admin_api = Admin::new(proxy.operator(), config.admin.token.as_deref());
    let admin_task =
        tokio::spawn(admin_api.serve_with(admin_listener, admin_tls, until_true(admin_stopped)));
    tokio::spawn(tls::watch_files(
        acceptors.clone(),
        config.server.tls_reload_interval,
    ));
    tokio::spawn(reload_on_sighup(proxy.clone(), sources, acceptors, hup));
    let serving = match Workers::spawn(listeners, &proxy, &config.server, tls) {
        Ok(serving) => serving,
        Err(err) => return fail(&format!("cannot start worker threads: {err}")),
    };
    shutdown_signal().await;
    proxy.operator().start_draining();
    serving.stop_and_join().await;
    let _ = stop_admin.send(true);
    let _ = admin_task.await;
    ExitCode::SUCCESS
}

/// One look at the upstream at start-up: readiness does not depend on it
/// (a proxy with a stale cache is still worth asking), so an upstream
/// down from the start says so here, as a WARN line.
async fn check_upstream(origin: http::Uri, timeout: std::time::Duration) {
    if let Err(err) = crate::upstream::reachable(&origin, timeout).await {
        tracing::warn!(
            kind = "upstream_unreachable",
            upstream = %origin,
            error = %err,
            "the upstream cannot be reached at start-up; image reads fail (or are served stale) until it can"
        );
    }
}

/// The TLS acceptors of the proxy's and the admin's listeners (`None`:
/// plain HTTP).
fn acceptors(
    config: &Config,
    proxy: &Proxy,
) -> Result<(Option<Acceptor>, Option<Acceptor>), String> {
    let server = Acceptor::for_server(config, proxy.metrics_handle())?;
    let admin = Acceptor::for_admin(config, proxy.metrics_handle())?;
    Ok((server, admin))
}

fn scheme(tls: bool) -> &'static str {
    if tls { "https" } else { "http" }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("imgcache: {message}");
    ExitCode::FAILURE
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|err| format!("cannot listen on {addr}: {err}"))
}

fn local_addr(listener: &TcpListener, configured: SocketAddr) -> SocketAddr {
    listener.local_addr().unwrap_or(configured)
}

async fn until_true(mut flag: watch::Receiver<bool>) {
    let _ = flag.wait_for(|stop| *stop).await;
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}

/// On SIGHUP, reads the config file again: a good file is applied (what
/// can change at run time), a bad one is rejected with every problem
/// logged and the running config kept. The TLS certificates are read
/// again too, on their own: a bad certificate keeps the running one and
/// does not stop a good config from applying.
async fn reload_on_sighup(
    proxy: Proxy,
    mut sources: Sources,
    acceptors: Vec<Acceptor>,
    hup: std::io::Result<Signal>,
) {
    let Ok(mut hup) = hup else {
        tracing::error!("cannot install the SIGHUP handler; reloads are off");
        return;
    };
    while hup.recv().await.is_some() {
        for acceptor in &acceptors {
            let acceptor = acceptor.clone();
            let _ = tokio::task::spawn_blocking(move || acceptor.reload(true)).await;
        }
        match cli::reload(&sources) {
            Ok((config, reloaded)) => {
                let report = proxy.operator().reload(&config).await;
                proxy.metrics().record_reload(true);
                tracing::info!(purged = report.purged, "config reloaded");
                for setting in report.not_applied {
                    tracing::warn!(%setting, "changed in the file, but only a restart applies it");
                }
                sources = reloaded;
            }
            Err(problems) => {
                proxy.metrics().record_reload(false);
                for problem in &problems {
                    tracing::error!(%problem, "config reload rejected");
                }
                tracing::error!(
                    count = problems.len(),
                    "config reload rejected; the running config is kept"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {

    /// An admin API beyond loopback without a token is warned about;
    /// on loopback, or with a token, it is not.
    #[test]
    fn an_open_admin_api_is_warned_about() {
        let mut admin = crate::config::Config::defaults().admin;
        assert!(admin_exposure(&admin).is_none(), "loopback by default");
        admin.listen = "0.0.0.0:9090".parse().expect("addr");
        assert!(admin_exposure(&admin).is_some_and(|w| w.contains("admin.token")));
        admin.token = Some("t".into());
        assert!(admin_exposure(&admin).is_none());
    }

    use super::*;

    /// A certificate file that is a file but not PEM passes the settings
    /// check and fails start-up's certificate check, in one list with the
    /// settings' own problems.
    #[test]
    fn certificate_and_setting_problems_come_together() {
        let dir = std::env::temp_dir().join(format!("imgcache-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("imgcache.toml");
        let not_pem = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let text = format!("[server]\ntls_cert_file = \"{not_pem}\"\n[cache]\nttl = \"soon\"\n");
        std::fs::write(&path, text).expect("write");
        let cli = Cli {
            config: Some(path),
            ..Cli::default()
        };
        let problems = load(&cli, []).expect_err("invalid");
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("cache.ttl"), "{problems:?}");
        assert!(
            problems[1].contains("Cargo.toml: no PEM certificate"),
            "{problems:?}"
        );
    }
}
