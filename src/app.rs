//! Wiring for the binary: bind the listeners, build the proxy, run until a
//! signal, and the `--demo` mode around it.

use std::process::ExitCode;

use tokio::net::TcpListener;

use crate::config::{Config, Sources, parse_upstream_url};
use crate::proxy::Proxy;
use crate::sample::{EXAMPLE_IMAGE_ID, PRIVATE_IMAGE_ID, SampleService};
use crate::server;

/// Runs the proxy until SIGTERM/SIGINT; with `demo`, first starts the
/// embedded sample image service and points the upstream at it.
pub async fn run(mut config: Config, _sources: Sources, demo: bool) -> ExitCode {
    let _sample = if demo {
        match SampleService::demo().start().await {
            Ok(handle) => {
                if let Ok((origin, base_path)) = parse_upstream_url(&handle.url()) {
                    config.upstream.origin = origin;
                    config.upstream.base_path = base_path;
                }
                Some(handle)
            }
            Err(err) => {
                eprintln!("imgcache: cannot start the sample image service: {err}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let listener = match TcpListener::bind(config.server.listen).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("imgcache: cannot listen on {}: {err}", config.server.listen);
            return ExitCode::FAILURE;
        }
    };
    let proxy = match Proxy::new(&config) {
        Ok(proxy) => proxy,
        Err(err) => {
            eprintln!("imgcache: {err}");
            return ExitCode::FAILURE;
        }
    };
    let listen = listener.local_addr().unwrap_or(config.server.listen);
    tracing::info!(%listen, upstream = %config.upstream.origin, "imgcache listening");
    if demo {
        print_demo_help(&listen.to_string());
    }
    server::run(listener, proxy, &config.server, shutdown_signal()).await;
    ExitCode::SUCCESS
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
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

fn print_demo_help(listen: &str) {
    let base = format!("http://{listen}");
    println!(
        "\nimgcache demo: the proxy on {base}, in front of an embedded sample image service.\n\
         Try (the first read is a miss, the second a hit; watch Cache-Status):\n\n\
         \x20 curl -si -H 'X-Auth-Token: alice:project-a:member' {base}/v2/images/{EXAMPLE_IMAGE_ID}\n\
         \x20 curl -si -H 'X-Auth-Token: alice:project-a:member' {base}/v2/images/{EXAMPLE_IMAGE_ID}\n\
         \x20 curl -si -H 'X-Auth-Token: alice:project-a:member' {base}/v2/images/{PRIVATE_IMAGE_ID}   # project-a's private image\n\
         \x20 curl -si -H 'X-Auth-Token: bob:project-b:member' {base}/v2/images/{PRIVATE_IMAGE_ID}     # 404 for another project\n\
         \x20 curl -si {base}/v2/images/{EXAMPLE_IMAGE_ID}                                              # 401 without a token\n\
         \x20 curl -si -X PATCH -H 'X-Auth-Token: admin:admin:admin' \\\n\
         \x20      -H 'Content-Type: application/openstack-images-v2.1-json-patch' \\\n\
         \x20      --data '[{{\"op\": \"replace\", \"path\": \"/__os_version\", \"value\": \"CentOS 7.9 64bit\"}}]' \\\n\
         \x20      {base}/v2/images/{EXAMPLE_IMAGE_ID}\n\
         \x20 curl -s -H 'X-Auth-Token: alice:project-a:member' '{base}/v2/images?limit=3'\n\n\
         Stop with Ctrl-C.\n"
    );
}
