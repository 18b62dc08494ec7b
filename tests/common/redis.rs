//! A real `redis-server` on a loopback port, owned by the test: started,
//! killed and restarted (same port) at will.

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running redis-server; killed on drop.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

/// Whether redis-server can be run here. In CI (`CI` set) its absence is
/// a failure; elsewhere the caller skips with a message.
pub fn available() -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "redis-server is not installed (apt-get install redis-server); .ci/run installs it"
        );
        eprintln!("SKIPPED: redis-server is not installed (apt-get install redis-server)");
    }
    found
}

impl RedisServer {
    /// Starts one on a free port and waits until it answers.
    pub async fn start() -> RedisServer {
        let port = StdListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut server = RedisServer { port, child: None };
        server.restart().await;
        server
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL: no goodbye to clients).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub async fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        for _ in 0..500 {
            if self.ping().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    async fn ping(&self) -> bool {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return false;
        };
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").await.is_ok()
            && stream.read_exact(&mut reply).await.is_ok()
            && &reply == b"+PONG\r\n"
    }

    /// Runs a redis-cli command against it; returns stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The Redis a test uses: the one `.ci/run` started
/// (`IMGCACHE_TEST_REDIS_URL`), under a key prefix of the test's own, or
/// one the test starts itself. The one way tests get a Redis they do not
/// kill (tests that kill theirs use [`RedisServer`]).
pub struct TestRedis {
    pub url: String,
    pub prefix: String,
    _own: Option<RedisServer>,
}

impl TestRedis {
    /// The Redis for this test; `None` (the caller skips) when there is
    /// no `IMGCACHE_TEST_REDIS_URL` and redis-server cannot be run here.
    pub async fn acquire() -> Option<TestRedis> {
        if let Ok(url) = std::env::var("IMGCACHE_TEST_REDIS_URL") {
            return Some(TestRedis::at(url, None));
        }
        if !available() {
            return None;
        }
        let server = RedisServer::start().await;
        Some(TestRedis::at(server.url(), Some(server)))
    }

    /// `server`, which the test owns (and may kill).
    pub fn owned(server: &RedisServer) -> TestRedis {
        TestRedis::at(server.url(), None)
    }

    fn at(url: String, own: Option<RedisServer>) -> TestRedis {
        TestRedis {
            url,
            prefix: format!("imgcache:test:{}", uuid::Uuid::new_v4().simple()),
            _own: own,
        }
    }

    /// The same Redis under a new key prefix: a fleet that shares
    /// nothing with the ones before it.
    pub fn another_prefix(&self) -> TestRedis {
        TestRedis::at(self.url.clone(), None)
    }

    /// The proxy's `[redis]` for it: short timeouts, fast lock polls.
    pub fn config(&self) -> imgcache::config::RedisConfig {
        imgcache::config::RedisConfig {
            url: self.url.clone(),
            key_secret: Some("fleet-secret".into()),
            timeout: Duration::from_millis(200),
            lock_ttl: Duration::from_secs(3),
            poll_interval: Duration::from_millis(10),
            key_prefix: self.prefix.clone(),
        }
    }

    /// redis-cli against it.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = std::process::Command::new("redis-cli")
            .args(["-u", &self.url])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}
