//! What a reload applies and what it names as not applied: every key is
//! placed on exactly one side of [`Config::split`], the side its declared
//! reload class says, and named by its own `section.key` when it alone
//! changes.

use std::collections::BTreeSet;

use super::keys::Class;
use super::reader::Reader;
use super::*;

/// A value other than the default for every key. A key missing here
/// fails [`every_key_changed_alone_is_named_on_one_side`].
const ALTERNATES: &[(&str, &str)] = &[
    ("server.listen", r#""127.0.0.1:8081""#),
    ("server.path_prefix", r#""/image""#),
    ("server.max_connections", "7"),
    ("server.header_read_timeout", r#""3s""#),
    ("server.idle_timeout", r#""3s""#),
    ("server.write_timeout", r#""3s""#),
    ("server.max_header_bytes", r#""16KiB""#),
    ("server.shutdown_grace", r#""3s""#),
    // Not the CPU count `0` stands for on any machine this runs on.
    ("server.workers", "1000"),
    (
        "server.tls_cert_file",
        concat!("\"", env!("CARGO_MANIFEST_DIR"), "/README.md\""),
    ),
    (
        "server.tls_key_file",
        concat!("\"", env!("CARGO_MANIFEST_DIR"), "/Cargo.lock\""),
    ),
    (
        "server.tls_client_ca_file",
        concat!("\"", env!("CARGO_MANIFEST_DIR"), "/Cargo.lock\""),
    ),
    ("server.tls_client_identity", "true"),
    ("server.tls_handshake_timeout", r#""3s""#),
    ("server.tls_reload_interval", r#""3s""#),
    ("upstream.url", r#""http://127.0.0.1:9293/image""#),
    (
        "upstream.ca_file",
        concat!("\"", env!("CARGO_MANIFEST_DIR"), "/Cargo.toml\""),
    ),
    ("upstream.http2", "true"),
    ("upstream.connect_timeout", r#""3s""#),
    ("upstream.response_timeout", r#""3s""#),
    ("upstream.idle_timeout", r#""3s""#),
    ("upstream.pool_idle_timeout", r#""3s""#),
    ("upstream.pool_max_idle_per_host", "3"),
    ("upstream.max_in_flight", "3"),
    ("upstream.breaker_failures", "3"),
    ("upstream.breaker_cooldown", r#""3s""#),
    ("upstream.breaker_window", r#""3s""#),
    ("upstream.breaker_min_principals", "3"),
    ("cache.ttl", r#""3s""#),
    ("cache.transient_ttl", r#""3s""#),
    ("cache.stale_if_error", r#""3s""#),
    ("cache.stale_while_revalidate", r#""3s""#),
    ("cache.max_bytes", r#""512MiB""#),
    ("cache.max_object_bytes", r#""2MiB""#),
    ("cache.identity_headers", r#"["x-auth-token"]"#),
    ("cache.underscore_headers", r#""fold""#),
    ("cache.job_hold", r#""3s""#),
    ("transform.mode", r#""typed""#),
    ("transform.strip_prefix", r#""_x""#),
    ("transform.strip_fields", r#"["a"]"#),
    ("transform.keep_fields", r#"["b"]"#),
    ("transform.max_list_bytes", r#""1MiB""#),
    ("log.format", r#""json""#),
    ("log.filter", r#""debug""#),
    ("admin.listen", r#""127.0.0.1:9091""#),
    ("admin.token", r#""t0ken""#),
    (
        "admin.tls_cert_file",
        concat!("\"", env!("CARGO_MANIFEST_DIR"), "/README.md\""),
    ),
    (
        "admin.tls_key_file",
        concat!("\"", env!("CARGO_MANIFEST_DIR"), "/Cargo.lock\""),
    ),
    // BASE runs a cluster (seeded from its url): single is the other mode.
    ("redis.mode", r#""single""#),
    ("redis.url", r#""rediss://127.0.0.1:6380""#),
    ("redis.nodes", r#"["rediss://127.0.0.1:7000"]"#),
    ("redis.username", r#""imgcache""#),
    (
        "redis.password_file",
        concat!("\"", env!("CARGO_MANIFEST_DIR"), "/Cargo.toml\""),
    ),
    ("redis.password_env", r#""IMGCACHE_TEST_REDIS_PASSWORD""#),
    (
        "redis.tls_ca_file",
        concat!("\"", env!("CARGO_MANIFEST_DIR"), "/Cargo.lock\""),
    ),
    ("redis.key_secret", r#""k""#),
    ("redis.timeout", r#""3s""#),
    ("redis.lock_ttl", r#""9s""#),
    ("redis.poll_interval", r#""3s""#),
    ("redis.key_prefix", r#""p""#),
    ("signing.clock_skew", r#""3m""#),
    ("signing.max_body_bytes", r#""3KiB""#),
    ("signing.credentials", r#"[{ ak = "AK3", sk = "s3" }]"#),
    ("identity.keystone_url", r#""http://127.0.0.1:5001/v3""#),
    ("identity.validation_ttl", r#""3s""#),
    ("identity.timeout", r#""3s""#),
    ("identity.share", r#""project""#),
    ("identity.service_token", r#""service-t0ken""#),
    ("identity.max_concurrent_validations", "3"),
];

/// What SIGHUP applies (README "Configuration" says the same).
const APPLIED_ON_RELOAD: &[&str] = &[
    "cache.ttl",
    "cache.transient_ttl",
    "cache.stale_if_error",
    "cache.stale_while_revalidate",
    "cache.max_object_bytes",
    "cache.identity_headers",
    "cache.underscore_headers",
    "cache.job_hold",
    "transform.mode",
    "transform.strip_prefix",
    "transform.strip_fields",
    "transform.keep_fields",
    "transform.max_list_bytes",
];

/// The base every test config starts from: defaults, with the Redis tier
/// (cluster mode, so both its mode and its seed list can change alone),
/// token validation and TLS on both listeners on so their keys count
/// (the config checks only that TLS files are files).
const BASE: &str = concat!(
    "[redis]\nmode = \"cluster\"\nurl = \"rediss://127.0.0.1:6379\"\n",
    "[identity]\nkeystone_url = \"http://127.0.0.1:5000/v3\"\n",
    "[server]\ntls_cert_file = \"",
    env!("CARGO_MANIFEST_DIR"),
    "/Cargo.toml\"\ntls_client_ca_file = \"",
    env!("CARGO_MANIFEST_DIR"),
    "/Cargo.toml\"\n[admin]\ntls_cert_file = \"",
    env!("CARGO_MANIFEST_DIR"),
    "/Cargo.toml\"\n",
);

fn config_from(file: toml::Table) -> Config {
    // The variable `redis.password_env`'s alternate names.
    let env = vec![("IMGCACHE_TEST_REDIS_PASSWORD".to_owned(), "pw".to_owned())];
    let sources = Sources {
        file,
        ..Sources::default()
    }
    .with_env(env);
    Config::from_sources(&sources).unwrap_or_else(|problems| panic!("{problems:#?}"))
}

/// [`BASE`] with one key set to `value` (a TOML value).
fn with(key: keys::Key, value: &str) -> Config {
    let mut file: toml::Table = BASE.parse().expect("base");
    let value: toml::Table = format!("v = {value}").parse().expect("TOML value");
    let section = file
        .entry(key.section())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let Some(section) = section.as_table_mut() else {
        unreachable!("sections are tables");
    };
    section.insert(key.name().to_owned(), value["v"].clone());
    config_from(file)
}

/// What a reload from `running` to `file` would apply and not apply.
fn diffs(running: &Config, file: &Config) -> (Vec<&'static str>, Vec<&'static str>) {
    let applied = running.as_read.0.diff(&file.as_read.0, Class::Reload);
    let not_applied = running.fixed().diff(&file.fixed());
    (applied, not_applied)
}

/// `fixed` with `base`'s settings as read: only the built values left to
/// compare.
fn built(fixed: Fixed, base: &Fixed) -> Fixed {
    Fixed {
        as_read: base.as_read.clone(),
        ..fixed
    }
}

/// The key table and the reader agree: every declared key is read, and
/// no name is declared twice. (Read and compared are generated from the
/// same table, so neither can miss a key; this holds the list to the
/// reader's own record, which decides what counts as a typo.)
#[test]
fn every_key_is_read_and_listed_once() {
    let sources = Sources::default();
    let mut r = Reader::new(&sources);
    Config::read(&mut r);
    let listed: Vec<keys::Key> = all_keys().collect();
    let unique: BTreeSet<keys::Key> = listed.iter().copied().collect();
    assert_eq!(unique.len(), listed.len(), "a key listed twice");
    assert_eq!(r.keys_read(), &unique);
    let classed: Vec<keys::Key> = settings::classes().map(|(key, _)| key).collect();
    assert_eq!(classed, listed);
}

/// Each key changed on its own is named by its own name, on exactly one
/// side, the one its declared class says: applied by a reload, or
/// reported as not applied. And the class tells the truth: the built
/// value it changes is on that side of [`Config::split`] (a key declared
/// `Reload` that changes a `Fixed` value, or `Restart` that changes a
/// `Reloadable` one, fails), and it changes one at all (a key nobody
/// builds from fails). A key without a value here fails too.
#[test]
fn every_key_changed_alone_is_named_on_one_side() {
    let base = config_from(BASE.parse().expect("base"));
    let mut applied_on_reload = Vec::new();
    for (key, class) in settings::classes() {
        let Some((_, value)) = ALTERNATES.iter().find(|(name, _)| *name == key.path()) else {
            panic!("no alternate value for {key} in ALTERNATES");
        };
        let changed = with(key, value);
        let (applied, not_applied) = diffs(&base, &changed);
        let reloadable_changed = base.reloadable() != changed.reloadable();
        let fixed_changed = base.fixed() != built(changed.fixed(), &base.fixed());
        match (class, applied.as_slice(), not_applied.as_slice()) {
            (Class::Reload, [name], []) if *name == key.path() => {
                assert!(reloadable_changed && !fixed_changed, "{key} is not Reload");
                applied_on_reload.push(*name);
            }
            (Class::Restart, [], [name]) if *name == key.path() => {
                assert!(fixed_changed && !reloadable_changed, "{key} is not Restart");
            }
            _ => panic!("{key}: applied {applied:?}, not applied {not_applied:?}"),
        }
    }
    assert_eq!(applied_on_reload, APPLIED_ON_RELOAD);
    assert_eq!(
        ALTERNATES.len(),
        all_keys().count(),
        "a stale ALTERNATES entry"
    );
}

/// The same config twice: nothing to apply, nothing to report.
#[test]
fn an_unchanged_file_changes_nothing() {
    let config = with(redis::key::key_secret, r#""k""#);
    assert_eq!(diffs(&config, &config.clone()), (vec![], vec![]));
    assert_eq!(config.fixed(), config.clone().split().0);
    assert_eq!(config.reloadable(), config.clone().split().1);
}

/// Several changes at once are all named, in file order, restart-only
/// ones apart from applied ones.
#[test]
fn several_changes_are_all_named() {
    let running = config_from(
        "[redis]\nurl = \"redis://127.0.0.1:6379\"\n\
         [identity]\nkeystone_url = \"http://127.0.0.1:5000/v3\"\n"
            .parse()
            .expect("base"),
    );
    let file = config_from(
        "[server]\nworkers = 1000\n[cache]\nttl = \"1m\"\nmax_bytes = \"1GiB\"\n\
         [redis]\nurl = \"redis://127.0.0.1:6379\"\ntimeout = \"1s\"\n\
         [identity]\nkeystone_url = \"http://127.0.0.1:5000/v3\"\n"
            .parse()
            .expect("file"),
    );
    let (applied, not_applied) = diffs(&running, &file);
    assert_eq!(applied, ["cache.ttl"]);
    assert_eq!(
        not_applied,
        ["server.workers", "cache.max_bytes", "redis.timeout"]
    );
}

/// Turning the Redis tier on or off names `redis.url` and each key set
/// away from its default; with the tier off in both, `[redis]` keys
/// change nothing.
#[test]
fn the_redis_tier_on_and_off() {
    let off = Config::defaults();
    let on = config_from(
        "[redis]\nurl = \"redis://:pw@127.0.0.1:6379\"\nkey_secret = \"s\"\n"
            .parse()
            .expect("file"),
    );
    let named = ["redis.url", "redis.key_secret"];
    assert_eq!(off.fixed().diff(&on.fixed()), named);
    assert_eq!(on.fixed().diff(&off.fixed()), named);
    let still_off = config_from("[redis]\ntimeout = \"1s\"\n".parse().expect("file"));
    assert_eq!(off.fixed().diff(&still_off.fixed()), Vec::<&str>::new());
}

/// Secrets are named, never shown: a changed token, Redis password or
/// key secret comes out as its key name alone.
#[test]
fn secrets_are_named_not_shown() {
    let running = config_from(
        "[admin]\ntoken = \"old-token\"\n[redis]\nurl = \"redis://:old-pw@h:6379\"\n\
         key_secret = \"old-secret\"\n"
            .parse()
            .expect("file"),
    );
    let file = config_from(
        "[admin]\ntoken = \"new-token\"\n[redis]\nurl = \"redis://:new-pw@h:6379\"\n\
         key_secret = \"new-secret\"\n"
            .parse()
            .expect("file"),
    );
    let named = running.fixed().diff(&file.fixed());
    assert_eq!(named, ["admin.token", "redis.url", "redis.key_secret"]);
    let shown = format!("{named:?} {:?}", file.fixed());
    for secret in ["new-token", "new-pw", "new-secret"] {
        assert!(!shown.contains(secret), "{secret} shown: {shown}");
    }
}

/// A key's name, section, name within it and environment variable all
/// come from its one `section.key` spelling.
#[test]
fn key_names() {
    let key = cache::key::max_bytes;
    assert_eq!(
        (key.path(), key.section(), key.name()),
        ("cache.max_bytes", "cache", "max_bytes")
    );
    assert_eq!(key.env_name(), "IMGCACHE_CACHE_MAX_BYTES");
    assert_eq!(key.to_string(), "cache.max_bytes");
}
