//! The shared Redis tier with a real redis-server and two or three
//! instances on loopback: shared fills, cross-instance coalescing and
//! invalidation, Redis failures, identity isolation. Every scenario runs
//! twice: against one server (`single::…`) and against a six-node Redis
//! Cluster (`cluster::…`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::redis::{KillableRedis, RedisServer, TestRedis, Topology, available};
use common::*;
use http::Method;

/// Each scenario as a test against one server and against a cluster.
macro_rules! on_each_topology {
    ($($name:ident),* $(,)?) => {
        mod single {
            use super::*;
            $(
                #[doc = concat!("[`super::", stringify!($name), "`] against one redis-server.")]
                #[tokio::test]
                async fn $name() {
                    super::$name(Topology::Single).await;
                }
            )*
        }
        mod cluster {
            use super::*;
            $(
                #[doc = concat!("[`super::", stringify!($name), "`] against a Redis Cluster.")]
                #[tokio::test]
                async fn $name() {
                    super::$name(Topology::Cluster).await;
                }
            )*
        }
    };
}

on_each_topology!(
    a_fill_on_one_instance_is_a_hit_on_another,
    a_cold_herd_over_three_instances_asks_once,
    a_write_on_one_instance_reaches_the_others,
    a_purge_on_one_instance_empties_all,
    redis_failure_degrades_to_local_and_recovers,
    identity_isolation_across_instances,
    garbage_in_redis_is_ignored,
);

/// `n` instances in front of `upstream`, sharing `redis`, each with its
/// admin API.
async fn fleet_of(n: usize, upstream: &str, redis: &TestRedis) -> Vec<Arc<ProxyHandle>> {
    let fleet = TestProxy::new(upstream)
        .redis(redis)
        .admin()
        .start_many(n)
        .await;
    fleet.into_iter().map(Arc::new).collect()
}

/// Whether `instance` answers `id` from Redis; its own memory is emptied
/// after each try, so the next try asks Redis again.
async fn shared_hit(instance: Arc<ProxyHandle>, id: &str) -> bool {
    let reply = get_image(&instance, id).await;
    instance.proxy.cache().store.invalidate_all().await;
    matches!(reply.outcome(), Some(CacheOutcome::SharedHit { .. }))
}

/// A fill on instance 1 is a hit on instance 2: the upstream is asked once.
async fn a_fill_on_one_instance_is_a_hit_on_another(topology: Topology) {
    let Some(redis) = TestRedis::of(topology).await else {
        return;
    };
    let sample = start_sample().await;
    let fleet = fleet_of(2, &sample.url(), &redis).await;
    let first = get_image(&fleet[0], EXAMPLE_IMAGE_ID).await;
    assert_eq!(first.outcome(), STORED);
    let second = get_image(&fleet[1], EXAMPLE_IMAGE_ID).await;
    assert!(
        matches!(second.outcome(), Some(CacheOutcome::SharedHit { .. })),
        "{:?}",
        second.outcome()
    );
    assert_eq!(second.body, first.body);
    let third = get_image(&fleet[1], EXAMPLE_IMAGE_ID).await;
    assert!(is_hit(third.outcome()));
    assert!(
        !matches!(third.outcome(), Some(CacheOutcome::SharedHit { .. })),
        "now in instance 2's memory"
    );
    assert_eq!(
        sample
            .control
            .requests("GET", &image_path(EXAMPLE_IMAGE_ID)),
        1
    );
}

/// 100 concurrent cold requests spread over 3 instances: one upstream
/// request.
async fn a_cold_herd_over_three_instances_asks_once(topology: Topology) {
    let Some(redis) = TestRedis::of(topology).await else {
        return;
    };
    let sample = start_sample().await;
    sample.control.set_latency(Duration::from_millis(200));
    let fleet = fleet_of(3, &sample.url(), &redis).await;
    let mut tasks = Vec::new();
    for n in 0..100 {
        let instance = fleet[n % 3].clone();
        tasks.push(tokio::spawn(async move {
            get_image(&instance, EXAMPLE_IMAGE_ID).await
        }));
    }
    let mut bodies = Vec::new();
    for task in tasks {
        let reply = task.await.expect("task");
        assert_eq!(reply.status, 200);
        bodies.push(reply.body);
    }
    assert!(bodies.iter().all(|b| *b == bodies[0]));
    assert_eq!(
        sample
            .control
            .requests("GET", &image_path(EXAMPLE_IMAGE_ID)),
        1
    );
}

/// A PATCH through instance 1: the next GET on instance 2 sees the new
/// body (its local entry was dropped by the fleet message, Redis's too).
async fn a_write_on_one_instance_reaches_the_others(topology: Topology) {
    let Some(redis) = TestRedis::of(topology).await else {
        return;
    };
    let sample = start_sample().await;
    let fleet = fleet_of(2, &sample.url(), &redis).await;
    for instance in &fleet {
        get_image(instance, EXAMPLE_IMAGE_ID).await;
        assert!(is_hit(
            get_image(instance, EXAMPLE_IMAGE_ID).await.outcome()
        ));
    }
    for round in 0..10 {
        let value = format!("round {round}");
        let patch =
            format!(r#"[{{"op": "replace", "path": "/__os_version", "value": "{value}"}}]"#);
        let headers = [
            ("x-auth-token", TOKEN_ADMIN),
            (
                "content-type",
                "application/openstack-images-v2.1-json-patch",
            ),
        ];
        let url = fleet[0].url(&image_path(EXAMPLE_IMAGE_ID));
        assert_eq!(
            send(Method::PATCH, &url, &headers, patch.as_bytes())
                .await
                .status,
            200
        );
        let other = fleet[1].clone();
        eventually("instance 2 sees the new body", || {
            let (other, value) = (other.clone(), value.clone());
            async move {
                get_image(&other, EXAMPLE_IMAGE_ID).await.json()["__os_version"] == value.as_str()
            }
        })
        .await;
    }
}

/// A purge on one instance empties every instance and Redis.
async fn a_purge_on_one_instance_empties_all(topology: Topology) {
    let Some(redis) = TestRedis::of(topology).await else {
        return;
    };
    let sample = start_sample().await;
    let fleet = fleet_of(3, &sample.url(), &redis).await;
    for instance in &fleet {
        get_image(instance, EXAMPLE_IMAGE_ID).await;
        get_image(instance, PRIVATE_IMAGE_ID).await;
    }
    let admin = fleet[0].admin_url();
    let purge = send(Method::DELETE, &format!("{admin}/cache"), &[], b"").await;
    assert_eq!(purge.status, 200);
    for instance in &fleet {
        let instance = instance.clone();
        eventually("every local cache is empty", || {
            let instance = instance.clone();
            async move { instance.proxy.cache().store.entry_count() == 0 }
        })
        .await;
    }
    let before = sample.control.total_requests();
    let after = get_image(&fleet[2], EXAMPLE_IMAGE_ID).await;
    assert_eq!(after.outcome(), STORED, "Redis no longer has it");
    assert_eq!(sample.control.total_requests(), before + 1);
}

/// Redis killed mid-run: every instance keeps answering correctly from
/// its own cache and the upstream; when Redis returns, each picks it up
/// again and drops its local cache once (it may have missed messages).
async fn redis_failure_degrades_to_local_and_recovers(topology: Topology) {
    // This one kills its Redis: always its own.
    let Some(mut redis) = KillableRedis::start(topology).await else {
        return;
    };
    let sample = start_sample().await;
    let fleet = fleet_of(2, &sample.url(), &redis.test_redis()).await;
    get_image(&fleet[0], EXAMPLE_IMAGE_ID).await;
    redis.kill();
    for instance in &fleet {
        for id in [EXAMPLE_IMAGE_ID, PRIVATE_IMAGE_ID] {
            let reply = get_image(instance, id).await;
            assert_eq!(reply.status, 200);
            assert_eq!(reply.json()["id"], id);
        }
    }
    let admin = fleet[1].admin_url();
    let ready = get(&format!("{admin}/readyz"), &[]).await;
    assert_eq!(
        ready.status, 200,
        "Redis trouble does not make the proxy unready"
    );
    assert!(
        ready.json()["redis"]
            .as_str()
            .unwrap_or("")
            .starts_with("down")
    );
    assert!(
        is_hit(get_image(&fleet[0], PRIVATE_IMAGE_ID).await.outcome()),
        "L1 still works"
    );

    redis.restart().await;
    for instance in &fleet {
        let instance = instance.clone();
        eventually("the local cache is dropped on resubscribe", || {
            let instance = instance.clone();
            async move { instance.proxy.cache().store.entry_count() == 0 }
        })
        .await;
    }
    get_image(&fleet[0], EXAMPLE_IMAGE_ID).await;
    let shared = fleet[1].clone();
    eventually("instance 2 uses Redis again", || {
        shared_hit(shared.clone(), EXAMPLE_IMAGE_ID)
    })
    .await;
}

/// Identity isolation holds across instances exactly as within one, and
/// nothing in Redis reveals a token or an image id.
async fn identity_isolation_across_instances(topology: Topology) {
    let Some(redis) = TestRedis::of(topology).await else {
        return;
    };
    let sample = start_sample().await;
    let fleet = fleet_of(2, &sample.url(), &redis).await;
    let url = |n: usize| fleet[n].url(&image_path(PRIVATE_IMAGE_ID));
    let a = get(&url(0), &[("x-auth-token", TOKEN_A)]).await;
    assert_eq!(a.status, 200);
    let b = get(&url(1), &[("x-auth-token", TOKEN_B)]).await;
    assert_eq!(b.status, 404);
    assert_eq!(get(&url(1), &[]).await.status, 401);
    let roles = get(&url(1), &[("x-auth-token", TOKEN_A), ("x-roles", "admin")]).await;
    assert!(
        !matches!(roles.outcome(), Some(CacheOutcome::SharedHit { .. })),
        "another identity"
    );
    let same = get(&url(1), &[("x-auth-token", TOKEN_A)]).await;
    assert!(matches!(
        same.outcome(),
        Some(CacheOutcome::SharedHit { .. })
    ));
    let pattern = format!("{}:*", redis.prefix);
    let keys = redis.keys(&pattern).join("\n");
    assert!(!keys.is_empty());
    for secret in ["alice", "project-a", PRIVATE_IMAGE_ID] {
        assert!(!keys.contains(secret), "{secret} in {keys}");
    }
}

/// Garbage in Redis is a miss, never an error or a wrong body.
async fn garbage_in_redis_is_ignored(topology: Topology) {
    let Some(redis) = TestRedis::of(topology).await else {
        return;
    };
    let sample = start_sample().await;
    let fleet = fleet_of(2, &sample.url(), &redis).await;
    get_image(&fleet[0], EXAMPLE_IMAGE_ID).await;
    // The fill shares its entry after answering: wait until it is there.
    let scan = || redis.keys(&format!("{}:*:img", redis.prefix));
    eventually("the fill is in Redis", || async { !scan().is_empty() }).await;
    let key = scan().first().expect("the image's hash").to_owned();
    let fields = redis.cli(&["HKEYS", &key]);
    let field = fields.lines().next().expect("a field").to_owned();
    redis.cli(&["HSET", &key, &field, "not an entry"]);
    let reply = get_image(&fleet[1], EXAMPLE_IMAGE_ID).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["id"], EXAMPLE_IMAGE_ID);
    assert_eq!(reply.outcome(), STORED);
}

/// A Redis that admits only an ACL user: the proxies log in with
/// `redis.username` and the password (`redis.password_file` /
/// `password_env` in a config; here set directly) and share fills; the
/// URL holds no credentials.
#[tokio::test]
async fn an_acl_user_logs_in_with_its_password() {
    if !available() {
        return;
    }
    let server = RedisServer::start_with(&[
        "--user", "imgcache", "on", ">s3cret", "~*", "&*", "+@all", "--user", "default", "off",
    ])
    .await;
    let mut redis = TestRedis::owned(&server);
    redis.login = Some(("imgcache".into(), "s3cret".into()));
    let sample = start_sample().await;
    let fleet = fleet_of(2, &sample.url(), &redis).await;
    assert_eq!(
        get_image(&fleet[0], EXAMPLE_IMAGE_ID).await.outcome(),
        STORED
    );
    let shared = fleet[1].clone();
    eventually("instance 2 finds instance 1's fill in Redis", || {
        shared_hit(shared.clone(), EXAMPLE_IMAGE_ID)
    })
    .await;
    assert_eq!(fleet[1].proxy.operator().shared_tier(), Some("up"));
}

/// The master serving an image's keys dies (SIGKILL) while writes and
/// reads go on: every answer is the right image, a write is seen at once
/// by the instance it went through and soon by the other (no stale read
/// after a write), the replica is promoted, and the tier comes back by
/// itself.
///
/// Ignored: it fails about three runs in four (round 1: the reading
/// instance keeps its old copy for `cache.ttl`; or the tier is not back
/// within 20 s). The write's invalidation does not reach the other
/// instance while the image's master is dead; see docs/design.md
/// "Failover: open".
#[tokio::test]
#[ignore = "fails while one cluster master is dead: the write's message is lost (docs/design.md, Failover: open)"]
async fn a_cluster_master_failover_serves_no_wrong_or_stale_body() {
    let Some(KillableRedis::Cluster(mut cluster)) = KillableRedis::start(Topology::Cluster).await
    else {
        return;
    };
    let redis = TestRedis::clustered(&cluster);
    let sample = start_sample().await;
    let fleet = fleet_of(2, &sample.url(), &redis).await;
    get_image(&fleet[0], EXAMPLE_IMAGE_ID).await;
    let scan = || redis.keys(&format!("{}:*:img", redis.prefix));
    eventually("the fill is in Redis", || async { !scan().is_empty() }).await;
    let key = scan().first().expect("the image's hash").to_owned();
    cluster.kill_port(cluster.master_of(&key));
    for round in 0..6 {
        let value = format!("failover {round}");
        let (writer, reader) = (&fleet[round % 2], fleet[(round + 1) % 2].clone());
        let patch =
            format!(r#"[{{"op": "replace", "path": "/__os_version", "value": "{value}"}}]"#);
        let headers = [
            ("x-auth-token", TOKEN_ADMIN),
            (
                "content-type",
                "application/openstack-images-v2.1-json-patch",
            ),
        ];
        let url = writer.url(&image_path(EXAMPLE_IMAGE_ID));
        let written = send(Method::PATCH, &url, &headers, patch.as_bytes()).await;
        assert_eq!(written.status, 200);
        let own = get_image(writer, EXAMPLE_IMAGE_ID).await;
        assert_eq!(own.json()["id"], EXAMPLE_IMAGE_ID);
        assert_eq!(
            own.json()["__os_version"],
            value.as_str(),
            "stale after write"
        );
        let what = format!("round {round}: the other instance sees the write");
        eventually(&what, || {
            let (reader, value) = (reader.clone(), value.clone());
            async move {
                let reply = get_image(&reader, EXAMPLE_IMAGE_ID).await;
                assert_eq!(reply.json()["id"], EXAMPLE_IMAGE_ID, "a wrong body");
                reply.json()["__os_version"] == value.as_str()
            }
        })
        .await;
    }
    cluster.wait_ok().await;
    let shared = fleet[1].clone();
    get_image(&fleet[0], PRIVATE_IMAGE_ID).await;
    eventually("the tier is back: instance 2 hits Redis", || {
        let (shared, first) = (shared.clone(), fleet[0].clone());
        async move {
            get_image(&first, PRIVATE_IMAGE_ID).await;
            shared_hit(shared, PRIVATE_IMAGE_ID).await
        }
    })
    .await;
}
