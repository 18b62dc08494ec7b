//! Identity through every spelling a WSGI Glance reads (`_` for `-`, any
//! case, keystonemiddleware's and oslo.context's aliases, repeated lines
//! joined, empty values): a leak matrix over real sockets. Each run fills
//! the cache as one identity, then sends every probe, and holds each
//! answer against what the sample (which reads headers as uWSGI hands
//! them to Glance) says to the same request sent directly.

mod common;

use std::net::SocketAddr;

use common::redis::TestRedis;
use common::wire::{Conn, Wire};
use common::*;
use glance_sample::SampleService;
use imgcache::config::UnderscoreHeaders;

type Line = (String, String);

/// Who fills the cache before the probes (the first: nobody), as
/// [`PROBES`].
const FILLS: &str = "
    no fill               | 401 401 |
    owner token           | 200 200 | X-Auth-Token: $A
    admin token           | 200 200 | X-Auth-Token: $ADMIN
    owner trusted         | 200 200 | $T | X-Project-Id: project-a
    owner X_Auth_Token    | 200 401 | X_Auth_Token: $A
    owner X_Project_Id    | 200 401 | $T | X_Project_Id: project-a
    owner X-Storage-Token | 200 200 | X-Storage-Token: $A
    owner X-Tenant        | 200 200 | $T | X-Tenant: project-a
    admin X-Role          | 200 200 | $T | X-Project-Id: project-b | X-Role: admin
";

/// The probes, in the order sent (earlier ones fill for later ones). One
/// a line: `name | S D | Header: value | …`: S is the sample's status for
/// the request as sent, D for it without its `_` lines (both checked).
/// `$A` is the owner's token (project-a), `$B` another project's, `$ADMIN`
/// an admin's; `$T` is `X-Identity-Status: Confirmed` (trusted headers).
const PROBES: &str = "
    X_Auth_Token owner            | 200 401 | X_Auth_Token: $A
    x_AUTH_token owner            | 200 401 | x_AUTH_token: $A
    X_Auth_Token other            | 404 401 | X_Auth_Token: $B
    X_Auth_Token admin            | 200 401 | X_Auth_Token: $ADMIN
    X-AUTH-TOKEN owner            | 200 200 | X-AUTH-TOKEN: $A
    x-auth-token other            | 404 404 | x-auth-token: $B
    X_Project_Id owner            | 200 401 | $T | X_Project_Id: project-a
    X_Project_Id other            | 404 401 | $T | X_Project_Id: project-b
    X_Identity_Status             | 200 401 | X_Identity_Status: Confirmed | X-Project-Id: project-a
    X_Roles admin                 | 200 404 | $T | X-Project-Id: project-b | X_Roles: admin
    X-Storage-Token owner         | 200 200 | X-Storage-Token: $A
    X-Storage-Token other         | 404 404 | X-Storage-Token: $B
    X_Storage_Token owner         | 200 401 | X_Storage_Token: $A
    X-Tenant owner                | 200 200 | $T | X-Tenant: project-a
    X-Tenant other                | 404 404 | $T | X-Tenant: project-b
    X-Tenant-Id other             | 404 404 | $T | X-Tenant-Id: project-b
    X-Role admin                  | 200 200 | $T | X-Project-Id: project-b | X-Role: admin
    trusted other                 | 404 404 | $T | X-Project-Id: project-b
    X-User other                  | 404 404 | $T | X-Project-Id: project-b | X-User: alice
    token other, storage owner    | 404 404 | X-Auth-Token: $B | X-Storage-Token: $A
    two token lines               | 401 401 | X-Auth-Token: $A | X-Auth-Token: $B
    two project lines             | 404 404 | $T | X-Project-Id: project-a | X-Project-Id: project-a
    dash other, _ owner           | 401 404 | X-Auth-Token: $B | X_Auth_Token: $A
    _ owner, dash other           | 401 404 | X_Auth_Token: $A | X-Auth-Token: $B
    dash owner, _ other           | 401 200 | X-Auth-Token: $A | X_Auth_Token: $B
    trusted dash other, _ owner   | 404 404 | $T | X-Project-Id: project-b | X_Project_Id: project-a
    trusted dash owner, _ other   | 404 200 | $T | X-Project-Id: project-a | X_Project_Id: project-b
    empty token                   | 401 401 | X-Auth-Token:
    empty token, storage owner    | 401 401 | X-Auth-Token: | X-Storage-Token: $A
    owner, empty _ token          | 401 200 | X-Auth-Token: $A | X_Auth_Token:
    empty project, X-Tenant owner | 401 401 | $T | X-Project-Id: | X-Tenant: project-a
    empty X-Roles, X-Role admin   | 404 404 | $T | X-Project-Id: project-b | X-Roles: | X-Role: admin
    no identity                   | 401 401 |
    status only                   | 401 401 | $T
";

/// A request's identity lines, in wire order, names spelled as sent, and
/// what the sample answers to it directly.
struct Case {
    name: String,
    lines: Vec<Line>,
    /// The sample's answer to the request as sent.
    as_sent: Wire,
    /// The sample's answer to it without its `_` lines.
    dropped: Wire,
}

impl Case {
    /// Its `_` lines only narrow what its `-` lines allow: the upstream
    /// refuses it as sent and serves it without them. A proxy that drops
    /// them (nginx's default, as DESIGN says) serves what the upstream
    /// serves without them, so in drop mode the answer to the request as
    /// sent is not the reference for a 200: the one without them is.
    fn narrows(&self) -> bool {
        self.as_sent.status != 200 && self.dropped.status == 200
    }
}

/// Reads a [`FILLS`] or [`PROBES`] table and asks the sample at `sample`
/// each row directly, checking the statuses the row states.
async fn cases(sample: SocketAddr, table: &str) -> Vec<Case> {
    let expand = |value: &str| {
        let value = value.replace("$ADMIN", TOKEN_ADMIN);
        value.replace("$A", TOKEN_A).replace("$B", TOKEN_B)
    };
    let line = |cell: &str| {
        let cell = cell.replace("$T", "X-Identity-Status: Confirmed");
        let (name, value) = cell.split_once(':').expect("`Name: value`");
        (name.trim().to_owned(), expand(value.trim()))
    };
    let mut cases = Vec::new();
    for row in table.lines().map(str::trim).filter(|row| !row.is_empty()) {
        let mut cells = row.split('|').map(str::trim);
        let (name, statuses) = (cells.next().expect("name"), cells.next().expect("S D"));
        let lines: Vec<Line> = cells.filter(|cell| !cell.is_empty()).map(line).collect();
        let kept: Vec<Line> = lines
            .iter()
            .filter(|(n, _)| !n.contains('_'))
            .cloned()
            .collect();
        let as_sent = send_raw(sample, &lines, Via::FreshConnection).await;
        let dropped = send_raw(sample, &kept, Via::FreshConnection).await;
        let seen = format!("{} {}", as_sent.status, dropped.status);
        assert_eq!(seen, statuses, "the sample's own answers to {name:?}");
        let name = name.to_owned();
        cases.push(Case {
            name,
            lines,
            as_sent,
            dropped,
        });
    }
    cases
}

/// `GET` of the private image with these lines.
fn request(lines: &[Line]) -> Vec<u8> {
    let mut head = format!("GET /v2/images/{PRIVATE_IMAGE_ID} HTTP/1.1\r\nHost: imgcache.test\r\n");
    for (name, value) in lines {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// How a probe reaches the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    /// A fresh connection: the hit path sees the probe first.
    FreshConnection,
    /// A kept-alive connection on which hyper already answered a request
    /// (a `/versions` read went first).
    KeptAlive,
    /// Filled on one instance, probed on another sharing Redis.
    Fleet,
}

async fn send_raw(addr: SocketAddr, lines: &[Line], via: Via) -> Wire {
    let mut conn = Conn::open(addr).await;
    if via == Via::KeptAlive {
        let warm = b"GET /versions HTTP/1.1\r\nHost: imgcache.test\r\n\r\n";
        assert_eq!(conn.round_trip(warm).await.status, 200, "the warm-up read");
    }
    conn.round_trip(&request(lines)).await
}

/// The properties one proxied answer must have; what it breaks, if any.
fn judge(policy: UnderscoreHeaders, case: &Case, got: &Wire) -> Vec<String> {
    let drop = policy == UnderscoreHeaders::Drop;
    let mut broken = Vec::new();
    let allowed = if drop && case.narrows() {
        &case.dropped
    } else {
        &case.as_sent
    };
    if got.status == 200 && (allowed.status != 200 || allowed.body != got.body) {
        let (served, says) = (got.outcome(), allowed.status);
        broken.push(format!(
            "LEAK: 200 ({served:?}) where the upstream says {says}"
        ));
    }
    let expected = if drop { &case.dropped } else { &case.as_sent };
    if got.status != expected.status {
        let (status, served, says) = (got.status, got.outcome(), expected.status);
        broken.push(format!(
            "status {status} ({served:?}), the upstream's {says}"
        ));
    }
    broken
}

/// What one run saw, beyond the broken properties.
#[derive(Default)]
struct Seen {
    broken: Vec<String>,
    /// `_` lines the proxies counted (under the policy's action).
    underscored: f64,
    /// Hits the hit path answered.
    hit_path_hits: f64,
}

/// Runs every fill, each in front of fresh proxies, then every probe.
async fn run_matrix(policy: UnderscoreHeaders, via: Via, redis: Option<&TestRedis>) -> Seen {
    let sample = start_sample().await;
    let fills = cases(sample.addr, FILLS).await;
    let probes = cases(sample.addr, PROBES).await;
    let mut seen = Seen::default();
    for fill in &fills {
        let mut proxy = TestProxy::new(&sample.url())
            .with(|config| config.cache.underscore_headers = policy)
            .admin();
        if let Some(redis) = redis {
            // Each fill's fleet shares nothing with the fills before it.
            proxy = proxy.redis(&redis.another_prefix());
        }
        run_fill(&proxy, via, fill, &probes, &mut seen).await;
    }
    seen
}

/// One fill, then the probes: on one proxy, or (fleet) the fill on one
/// instance and the probes on another.
async fn run_fill(proxy: &TestProxy, via: Via, fill: &Case, probes: &[Case], seen: &mut Seen) {
    let policy = proxy.config().cache.underscore_headers;
    let filler = proxy.start().await;
    let other = match via {
        Via::Fleet => Some(proxy.start().await),
        _ => None,
    };
    let prober = other.as_ref().unwrap_or(&filler);
    let filled = send_raw(filler.addr, &fill.lines, via).await;
    let mut sent = vec![(fill, filled)];
    if via == Via::Fleet && sent[0].1.outcome() == STORED {
        // The fleet path is taken: the fill's own identity finds it in Redis.
        let shared = send_raw(prober.addr, &fill.lines, via).await;
        if !matches!(shared.outcome(), Some(CacheOutcome::SharedHit { .. })) {
            let what = shared.outcome();
            seen.broken
                .push(format!("fill {:?} not shared: {what:?}", fill.name));
        }
        sent.push((fill, shared));
    }
    for probe in probes {
        sent.push((probe, send_raw(prober.addr, &probe.lines, via).await));
    }
    for (case, got) in &sent {
        for what in judge(policy, case, got) {
            let context = format!("[{via:?} {policy:?}, fill {:?}]", fill.name);
            seen.broken
                .push(format!("{context} {:?}: {what}", case.name));
        }
    }
    let label = action(policy);
    let series = format!("imgcache_request_headers_underscored_total{{action=\"{label}\"}}");
    seen.underscored += prober.metric(&series).await;
    seen.hit_path_hits += prober.metric(HIT_PATH_RESPONSES).await;
}

fn action(policy: UnderscoreHeaders) -> &'static str {
    match policy {
        UnderscoreHeaders::Drop => "dropped",
        UnderscoreHeaders::Fold => "folded",
    }
}

/// No property broken, and the `_` lines were counted.
fn assert_clean(seen: &Seen, policy: UnderscoreHeaders) {
    let broken = &seen.broken;
    assert!(
        broken.is_empty(),
        "{} broken:\n{}",
        broken.len(),
        broken.join("\n")
    );
    assert!(
        seen.underscored > 0.0,
        "no `_` line counted as {}",
        action(policy)
    );
}

/// Drop mode, each probe on a fresh connection (the hit path sees it
/// first): no answer leaks, every status is the upstream's for the request
/// without its `_` lines, those lines are counted, and the hit path did
/// answer hits (the matrix reached it).
#[tokio::test]
async fn drop_mode_on_fresh_connections() {
    let seen = run_matrix(UnderscoreHeaders::Drop, Via::FreshConnection, None).await;
    assert_clean(&seen, UnderscoreHeaders::Drop);
    assert!(seen.hit_path_hits > 0.0, "the hit path answered nothing");
}

/// Drop mode, each probe on a connection hyper already owns: the full
/// path keeps identities apart as the hit path does.
#[tokio::test]
async fn drop_mode_on_kept_alive_connections() {
    let seen = run_matrix(UnderscoreHeaders::Drop, Via::KeptAlive, None).await;
    assert_clean(&seen, UnderscoreHeaders::Drop);
}

/// Drop mode across two instances sharing Redis: a fill on one is never
/// served to another identity on the other.
#[tokio::test]
async fn drop_mode_across_a_fleet() {
    let Some(redis) = TestRedis::acquire().await else {
        return;
    };
    let seen = run_matrix(UnderscoreHeaders::Drop, Via::Fleet, Some(&redis)).await;
    assert_clean(&seen, UnderscoreHeaders::Drop);
}

/// Fold mode, on fresh and on kept-alive connections: every status is the
/// upstream's for the request as sent (the proxy forwards and keys what a
/// WSGI server would read), and no answer leaks.
#[tokio::test]
async fn fold_mode_answers_as_the_upstream() {
    for via in [Via::FreshConnection, Via::KeptAlive] {
        let seen = run_matrix(UnderscoreHeaders::Fold, via, None).await;
        assert_clean(&seen, UnderscoreHeaders::Fold);
    }
}

/// The demo's sample keeps its control endpoints on a port of its own:
/// through a proxy in front of it `/_sample/stats` is Glance's 404 (and
/// a fault cannot be set), on the control address it answers.
#[tokio::test]
async fn sample_controls_are_not_reachable_through_the_proxy() {
    let sample = SampleService::demo()
        .start_split()
        .await
        .expect("sample starts");
    let proxy = start_proxy(&sample.url()).await;
    let token = [("x-auth-token", TOKEN_A)];
    let through = get(&proxy.url("/_sample/stats"), &token).await;
    assert_eq!(through.status, 404, "{through:?}");
    let fault = proxy.url("/_sample/fault?kind=down");
    let set = common::send(http::Method::POST, &fault, &token, b"").await;
    assert_eq!(set.status, 404, "{set:?}");
    assert_eq!(sample.control.fault(), Fault::None);
    let direct = get(&format!("{}/_sample/stats", sample.control_url()), &[]).await;
    assert_eq!(direct.status, 200);
    assert!(
        direct.json()["total"].as_u64().is_some_and(|n| n >= 2),
        "{direct:?}"
    );
    let image = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    assert_eq!(image.status, 200, "the API still answers through the proxy");
}
