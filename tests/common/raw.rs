//! A raw TCP upstream that answers each connection with a scripted byte
//! sequence: for HTTP that hyper would refuse to produce (bad framing,
//! resets, stalls, invalid headers).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What the raw upstream does after reading a request head.
#[derive(Clone, Debug)]
pub enum Script {
    /// Writes these bytes, then closes the connection.
    Reply(Vec<u8>),
    /// Writes these bytes, then keeps the connection open without writing.
    ReplyThenStall(Vec<u8>),
    /// Reads the request and never answers.
    Silent,
    /// Closes at once without reading.
    Close,
}

/// A running raw upstream; dropping it stops it.
pub struct RawUpstream {
    pub addr: SocketAddr,
    /// Every request head received, in order (text up to the blank line).
    pub heads: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl RawUpstream {
    /// Starts answering every connection with `script`.
    pub async fn start(script: Script) -> RawUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let script = script.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    if let Script::Close = script {
                        return;
                    }
                    let head = read_head(&mut stream).await;
                    seen.lock().expect("lock").push(head);
                    match script {
                        Script::Reply(bytes) => {
                            let _ = stream.write_all(&bytes).await;
                            let _ = stream.shutdown().await;
                        }
                        Script::ReplyThenStall(bytes) => {
                            let _ = stream.write_all(&bytes).await;
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                        Script::Silent => tokio::time::sleep(Duration::from_secs(3600)).await,
                        Script::Close => {}
                    }
                });
            }
        });
        RawUpstream { addr, heads, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Heads received so far.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().expect("lock").clone()
    }

    /// The last head received, parsed.
    pub fn last_head(&self) -> super::wire::Head {
        let heads = self.heads.lock().expect("lock");
        super::wire::Head::parse(heads.last().expect("a request upstream"))
    }
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads up to the end of the request head (or EOF).
async fn read_head(stream: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && !buf.starts_with(b"PRI * HTTP/2.0") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Sends raw bytes to `addr` and reads everything until the peer closes
/// (or `wait` passes with nothing more).
pub async fn exchange(addr: SocketAddr, request: &[u8], wait: Duration) -> Vec<u8> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut out = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match tokio::time::timeout(wait, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&chunk[..n]),
        }
    }
    out
}
