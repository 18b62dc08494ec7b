//! Wiring for the binary: bind the listeners, build the proxy, serve the
//! admin API, reload on SIGHUP, run until SIGTERM/SIGINT; and `--demo`.

use std::net::SocketAddr;
use std::process::ExitCode;

use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::admin::Admin;
use crate::config::{Config, Sources, cli, parse_upstream_url};
use crate::proxy::Proxy;
use crate::sample::{EXAMPLE_IMAGE_ID, PRIVATE_IMAGE_ID, SampleHandle, SampleService};
use crate::workers::{self, Workers};

/// Runs the proxy until SIGTERM/SIGINT; with `demo`, first starts the
/// embedded sample image service and points the upstream at it.
pub async fn run(mut config: Config, sources: Sources, demo: bool) -> ExitCode {
    let sample = if demo {
        match start_demo_upstream(&mut config).await {
            Ok(sample) => Some(sample),
            Err(err) => return fail(&format!("cannot start the sample image service: {err}")),
        }
    } else {
        None
    };
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
    let listen = listeners
        .first()
        .and_then(|l| l.local_addr().ok())
        .unwrap_or(config.server.listen);
    let admin = local_addr(&admin_listener, config.admin.listen);
    tracing::info!(%listen, %admin, workers, upstream = %config.upstream.origin, "imgcache listening");
    if let Some(sample) = &sample {
        print_demo_help(listen, admin, sample.control_addr);
    }
    let (stop_admin, admin_stopped) = watch::channel(false);
    let admin_api = Admin::new(proxy.clone(), config.admin.token.as_deref());
    let admin_task = tokio::spawn(admin_api.serve(admin_listener, until_true(admin_stopped)));
    tokio::spawn(reload_on_sighup(proxy.clone(), sources));
    let serving = match Workers::spawn(listeners, &proxy, &config.server) {
        Ok(serving) => serving,
        Err(err) => return fail(&format!("cannot start worker threads: {err}")),
    };
    shutdown_signal().await;
    proxy.start_draining();
    serving.stop_and_join().await;
    let _ = stop_admin.send(true);
    let _ = admin_task.await;
    ExitCode::SUCCESS
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

/// The demo's upstream: the sample image service with its control
/// endpoints (`/_sample/…`: counts, latency, faults) on a port of their
/// own, so nothing sent through the proxy can reach them.
async fn start_demo_upstream(config: &mut Config) -> std::io::Result<SampleHandle> {
    let sample = SampleService::demo().start_split().await?;
    if let Ok((origin, base_path)) = parse_upstream_url(&sample.url()) {
        config.upstream.origin = origin;
        config.upstream.base_path = base_path;
    }
    Ok(sample)
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
/// logged and the running config kept.
async fn reload_on_sighup(proxy: Proxy, mut sources: Sources) {
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::error!("cannot install the SIGHUP handler; reloads are off");
        return;
    };
    while hup.recv().await.is_some() {
        match cli::reload(&sources) {
            Ok((config, reloaded)) => {
                let report = proxy.reload(&config).await;
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

fn print_demo_help(listen: SocketAddr, admin: SocketAddr, sample_control: SocketAddr) {
    let base = format!("http://{listen}");
    let token = "-H 'X-Auth-Token: alice:project-a:member'";
    println!(
        "\nimgcache demo: the proxy on {base}, in front of an embedded sample image service.\n\
         Try (the first read is a miss, the second a hit; watch Cache-Status):\n\n\
         \x20 curl -si {token} {base}/v2/images/{EXAMPLE_IMAGE_ID}\n\
         \x20 curl -si {token} {base}/v2/images/{EXAMPLE_IMAGE_ID}\n\
         \x20 curl -si {token} {base}/v2/images/{PRIVATE_IMAGE_ID}   # project-a's private image\n\
         \x20 curl -si -H 'X-Auth-Token: bob:project-b:member' {base}/v2/images/{PRIVATE_IMAGE_ID}   # 404 for another project\n\
         \x20 curl -si {base}/v2/images/{EXAMPLE_IMAGE_ID}   # 401 without a token\n\
         \x20 curl -si -X PATCH -H 'X-Auth-Token: admin:admin:admin' \\\n\
         \x20      -H 'Content-Type: application/openstack-images-v2.1-json-patch' \\\n\
         \x20      --data '[{{\"op\": \"replace\", \"path\": \"/__os_version\", \"value\": \"CentOS 7.9 64bit\"}}]' \\\n\
         \x20      {base}/v2/images/{EXAMPLE_IMAGE_ID}\n\
         \x20 curl -s {token} '{base}/v2/images?limit=3'\n\
         \x20 curl -s http://{admin}/cache/stats\n\
         \x20 curl -s http://{admin}/metrics\n\n\
         The sample image service's own controls (not reachable through the proxy):\n\n\
         \x20 curl -s http://{sample_control}/_sample/stats   # requests that reached the upstream\n\
         \x20 curl -s -X POST 'http://{sample_control}/_sample/latency?ms=200'\n\
         \x20 curl -s -X POST 'http://{sample_control}/_sample/fault?kind=fail_next&remaining=1&status=503'\n\n\
         Stop with Ctrl-C.\n"
    );
}
