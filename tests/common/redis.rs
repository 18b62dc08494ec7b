//! A real `redis-server` on a loopback port, owned by the test: started,
//! killed and restarted (same port) at will; and a real Redis Cluster of
//! six of them (three masters, three replicas) on loopback, owned alike.

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running redis-server; killed on drop.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    /// More `redis-server` arguments (ACL users, …).
    extra: Vec<String>,
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
        RedisServer::start_with(&[]).await
    }

    /// Starts one with more `redis-server` arguments.
    pub async fn start_with(extra: &[&str]) -> RedisServer {
        let port = StdListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut server = RedisServer {
            port,
            child: None,
            extra: extra.iter().map(|a| (*a).to_owned()).collect(),
        };
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
            .args(&self.extra)
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
        // Any answer will do: one asking for a login is up too.
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").await.is_ok()
            && stream.read_exact(&mut reply).await.is_ok()
            && (&reply == b"+PONG\r\n" || reply.starts_with(b"-NOAUTH"))
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

/// Free loopback ports, `n` of them (bound together so none repeats).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<StdListener> = (0..n)
        .map(|_| StdListener::bind("127.0.0.1:0").expect("free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("address").port())
        .collect()
}

/// A Redis Cluster on loopback: six `redis-server`s (`cluster-enabled
/// yes`), joined by `redis-cli --cluster create … --cluster-replicas 1`.
/// Every node is killed on drop; one node can be killed alone (a master,
/// to make its replica take over).
pub struct RedisCluster {
    pub ports: Vec<u16>,
    nodes: Vec<Option<Child>>,
    dir: std::path::PathBuf,
}

impl RedisCluster {
    /// Starts six nodes, creates the cluster and waits until every slot
    /// is served and every node agrees (`cluster_state:ok`).
    pub async fn start() -> RedisCluster {
        let ports = free_ports(6);
        let dir = std::env::temp_dir().join(format!(
            "imgcache-test-cluster-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("cluster dir");
        let mut cluster = RedisCluster {
            nodes: ports.iter().map(|_| None).collect(),
            ports,
            dir,
        };
        for n in 0..cluster.ports.len() {
            cluster.start_node(n).await;
        }
        let addresses: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli --cluster create");
        assert!(created.success(), "redis-cli --cluster create failed");
        cluster.wait_ok().await;
        cluster
    }

    /// Starts node `n` on its port (again, after a kill: it finds its
    /// cluster from its nodes file, with no data).
    async fn start_node(&mut self, n: usize) {
        let port = self.ports[n].to_string();
        let nodes_file = format!("nodes-{port}.conf");
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &nodes_file,
            ])
            .args(["--cluster-node-timeout", "1000"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.nodes[n] = Some(child);
        let server = RedisServer {
            port: self.ports[n],
            child: None,
            extra: Vec::new(),
        };
        for _ in 0..500 {
            if server.ping().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("cluster node did not start on port {port}");
    }

    /// Waits until every live node says `cluster_state:ok` and sees the
    /// same three masters serving all 16384 slots.
    pub async fn wait_ok(&self) {
        for _ in 0..600 {
            let all_ok = self
                .live_ports()
                .iter()
                .all(|port| cli_at(*port, &["cluster", "info"]).contains("cluster_state:ok"));
            if all_ok {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the cluster did not reach cluster_state:ok");
    }

    fn live_ports(&self) -> Vec<u16> {
        self.ports
            .iter()
            .zip(&self.nodes)
            .filter(|(_, child)| child.is_some())
            .map(|(port, _)| *port)
            .collect()
    }

    /// The seed URLs a proxy gets (all six).
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    /// The port of the master serving `key`'s slot.
    pub fn master_of(&self, key: &str) -> u16 {
        let live = self.live_ports();
        let slot = cli_at(live[0], &["cluster", "keyslot", key]);
        let slot: u64 = slot.trim().parse().expect("a slot");
        let shards = cli_at(live[0], &["cluster", "slots"]);
        // `cluster slots` lines: start, end, master ip, master port, id, …
        let lines: Vec<&str> = shards.lines().map(str::trim).collect();
        let mut at = 0;
        while at + 3 < lines.len() {
            let (start, end) = (lines[at].parse::<u64>(), lines[at + 1].parse::<u64>());
            if let (Ok(start), Ok(end)) = (start, end)
                && (start..=end).contains(&slot)
                && let Ok(port) = lines[at + 3].parse::<u16>()
            {
                return port;
            }
            at += 1;
        }
        panic!("no master for slot {slot} in {shards}");
    }

    /// Kills the node on `port` (SIGKILL).
    pub fn kill_port(&mut self, port: u16) {
        if let Some(n) = self.ports.iter().position(|p| *p == port)
            && let Some(mut child) = self.nodes[n].take()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills every node.
    pub fn kill(&mut self) {
        for port in self.ports.clone() {
            self.kill_port(port);
        }
    }

    /// Starts every dead node again (empty; the cluster from the nodes
    /// files) and waits until the cluster is whole.
    pub async fn restart(&mut self) {
        for n in 0..self.ports.len() {
            if self.nodes[n].is_none() {
                self.start_node(n).await;
            }
        }
        self.wait_ok().await;
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// redis-cli against one node.
fn cli_at(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Which Redis a fleet test runs against.
#[derive(Clone, Copy, Debug)]
pub enum Topology {
    /// One server (`redis.mode = "single"`).
    Single,
    /// A six-node cluster (`redis.mode = "cluster"`).
    Cluster,
}

/// The Redis a test uses: the one `.ci/run` started
/// (`IMGCACHE_TEST_REDIS_URL`), under a key prefix of the test's own, or
/// one the test starts itself. The one way tests get a Redis they do not
/// kill (tests that kill theirs use [`RedisServer`]).
pub struct TestRedis {
    /// Single mode: the URL; cluster mode: empty.
    pub url: String,
    /// Cluster mode: the seed nodes; single mode: empty.
    pub nodes: Vec<String>,
    /// The ACL user and password the proxy logs in with, if any.
    pub login: Option<(String, String)>,
    pub prefix: String,
    _own: Option<Owned>,
}

/// What a test's Redis owns, killed when it is dropped.
enum Owned {
    Server(#[allow(dead_code)] RedisServer),
    Cluster(#[allow(dead_code)] RedisCluster),
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
        Some(TestRedis::at(server.url(), Some(Owned::Server(server))))
    }

    /// A Redis of `topology` for this test; `None` (the caller skips) as
    /// for [`TestRedis::acquire`]. A cluster is always the test's own.
    pub async fn of(topology: Topology) -> Option<TestRedis> {
        match topology {
            Topology::Single => TestRedis::acquire().await,
            Topology::Cluster => {
                if !available() {
                    return None;
                }
                Some(TestRedis::cluster_owned(RedisCluster::start().await))
            }
        }
    }

    /// `cluster`, owned by the returned value.
    fn cluster_owned(cluster: RedisCluster) -> TestRedis {
        let mut redis = TestRedis::clustered(&cluster);
        redis._own = Some(Owned::Cluster(cluster));
        redis
    }

    /// `cluster`, which the test owns (and may kill).
    pub fn clustered(cluster: &RedisCluster) -> TestRedis {
        let mut redis = TestRedis::at(String::new(), None);
        redis.nodes = cluster.urls();
        redis
    }

    /// `server`, which the test owns (and may kill).
    pub fn owned(server: &RedisServer) -> TestRedis {
        TestRedis::at(server.url(), None)
    }

    fn at(url: String, own: Option<Owned>) -> TestRedis {
        TestRedis {
            url,
            nodes: Vec::new(),
            login: None,
            prefix: format!("imgcache:test:{}", uuid::Uuid::new_v4().simple()),
            _own: own,
        }
    }

    /// The same Redis under a new key prefix: a fleet that shares
    /// nothing with the ones before it.
    pub fn another_prefix(&self) -> TestRedis {
        let mut other = TestRedis::at(self.url.clone(), None);
        other.nodes = self.nodes.clone();
        other
    }

    /// The proxy's `[redis]` for it: short timeouts, fast lock polls.
    pub fn config(&self) -> imgcache::config::RedisConfig {
        use imgcache::config::RedisMode;
        imgcache::config::RedisConfig {
            mode: if self.nodes.is_empty() {
                RedisMode::Single
            } else {
                RedisMode::Cluster
            },
            url: self.url.clone(),
            nodes: self.nodes.clone(),
            username: self.login.as_ref().map(|(user, _)| user.clone()),
            password: self.login.as_ref().map(|(_, password)| password.clone()),
            tls_ca_file: None,
            key_secret: Some("fleet-secret".into()),
            // A cluster's first call connects to six nodes; on a loaded
            // CI machine 200 ms is not always enough for it.
            timeout: if self.nodes.is_empty() {
                Duration::from_millis(200)
            } else {
                Duration::from_secs(1)
            },
            lock_ttl: Duration::from_secs(3),
            poll_interval: Duration::from_millis(10),
            key_prefix: self.prefix.clone(),
        }
    }

    /// Every key matching `pattern`, on every node.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .urls()
            .iter()
            .flat_map(|url| {
                run_cli(url, &["--scan", "--pattern", pattern])
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    fn urls(&self) -> Vec<String> {
        if self.nodes.is_empty() {
            vec![self.url.clone()]
        } else {
            self.nodes.clone()
        }
    }

    /// redis-cli against it (following cluster redirections).
    pub fn cli(&self, args: &[&str]) -> String {
        run_cli(&self.urls()[0], args)
    }
}

/// redis-cli at `url`, `-c`: a cluster node redirects it.
fn run_cli(url: &str, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-c", "-u", url])
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A Redis of either topology that the test owns and kills: the one
/// server or the whole cluster.
pub enum KillableRedis {
    Server(RedisServer),
    Cluster(RedisCluster),
}

impl KillableRedis {
    /// Starts one of `topology`; `None` (the caller skips) when
    /// redis-server cannot be run here.
    pub async fn start(topology: Topology) -> Option<KillableRedis> {
        if !available() {
            return None;
        }
        Some(match topology {
            Topology::Single => KillableRedis::Server(RedisServer::start().await),
            Topology::Cluster => KillableRedis::Cluster(RedisCluster::start().await),
        })
    }

    /// The test's view of it.
    pub fn test_redis(&self) -> TestRedis {
        match self {
            KillableRedis::Server(server) => TestRedis::owned(server),
            KillableRedis::Cluster(cluster) => TestRedis::clustered(cluster),
        }
    }

    /// Kills every process (SIGKILL).
    pub fn kill(&mut self) {
        match self {
            KillableRedis::Server(server) => server.kill(),
            KillableRedis::Cluster(cluster) => cluster.kill(),
        }
    }

    /// Starts it again, empty, on the same ports.
    pub async fn restart(&mut self) {
        match self {
            KillableRedis::Server(server) => server.restart().await,
            KillableRedis::Cluster(cluster) => cluster.restart().await,
        }
    }
}
