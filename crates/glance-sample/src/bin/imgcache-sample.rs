//! `imgcache-sample [--listen 127.0.0.1:0] [--images N] [--latency-ms N]`:
//! the sample image service as its own process (for the load benchmark).
//! Prints `listening on http://ADDR` as its first line, then serves until
//! SIGTERM or SIGINT.

use std::io::Write;
use std::time::Duration;

use glance_sample::SampleService;
use tokio::signal::unix::{SignalKind, signal};

const USAGE: &str = "usage: imgcache-sample [--listen ADDR] [--images N] [--latency-ms N]";

/// (listen address, generated images, latency in ms) from the command line.
fn parse_args() -> Result<(String, usize, u64), String> {
    let (mut listen, mut images, mut latency_ms) = ("127.0.0.1:0".to_owned(), 0, 0);
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let value = argv.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |_| format!("{flag}: not a number: {value}");
        match flag.as_str() {
            "--listen" => listen = value.clone(),
            "--images" => images = value.parse().map_err(bad)?,
            "--latency-ms" => latency_ms = value.parse().map_err(bad)?,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    Ok((listen, images, latency_ms))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (listen, images, latency_ms) = parse_args().unwrap_or_else(|err| {
        eprintln!("imgcache-sample: {err}\n{USAGE}");
        std::process::exit(64); // EX_USAGE, as imgcache itself
    });
    let service = SampleService::with_generated(images);
    service
        .control()
        .set_latency(Duration::from_millis(latency_ms));
    let handle = service.serve(tokio::net::TcpListener::bind(&listen).await?);
    // Scripts read the port from this first line: flush it at once.
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", handle.url())?;
    stdout.flush()?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = term.recv() => {}
    }
    handle.shutdown().await;
    Ok(())
}
