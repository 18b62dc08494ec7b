use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::*;

fn sources(file: &str, env: &[(&str, &str)]) -> Sources {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Sources {
        file: file.parse().expect("test TOML"),
        file_name: Some(PathBuf::from("test.toml")),
        ..Sources::default()
    }
    .with_env(env)
}

/// The documented defaults are valid on their own.
#[test]
fn defaults_are_valid() {
    let config = Config::from_sources(&Sources::default()).expect("defaults");
    assert_eq!(config.server.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(config.cache.ttl, DEFAULT_TTL);
    assert_eq!(
        config.cache.identity_headers.names().len(),
        DEFAULT_IDENTITY_HEADERS.len()
    );
    assert_eq!(config.transform.mode, Mode::Passthrough);
    assert!(config.admin.token.is_none());
}

/// The shipped config/imgcache.toml parses, and says exactly the defaults.
#[test]
fn shipped_file_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/imgcache.toml");
    let text = std::fs::read_to_string(path).expect("config/imgcache.toml");
    let config = Config::from_sources(&sources(&text, &[])).expect("shipped file");
    let defaults = Config::defaults();
    assert_eq!(format!("{config:?}"), format!("{defaults:?}"));
}

/// File values apply; env overrides the file; flags override env.
#[test]
fn layering() {
    let mut s = sources(
        "[cache]\nttl = \"2m\"\n[upstream]\nurl = \"https://ims.example.com/image/\"\n",
        &[
            ("IMGCACHE_CACHE_TTL", "30s"),
            ("IMGCACHE_SERVER_LISTEN", "127.0.0.1:1"),
        ],
    );
    s.flags = BTreeMap::from([(
        ("server".to_owned(), "listen".to_owned()),
        "127.0.0.1:2".to_owned(),
    )]);
    let config = Config::from_sources(&s).expect("valid");
    assert_eq!(config.cache.ttl, Duration::from_secs(30));
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:2");
    assert_eq!(
        config.upstream.origin.to_string(),
        "https://ims.example.com/"
    );
    assert_eq!(config.upstream.base_path, "/image");
}

/// Env lists are comma-separated; sizes and booleans parse from text.
#[test]
fn env_types() {
    let s = sources(
        "",
        &[
            (
                "IMGCACHE_CACHE_IDENTITY_HEADERS",
                "X-Auth-Token, X-Project-Id",
            ),
            ("IMGCACHE_CACHE_MAX_BYTES", "64MiB"),
            ("IMGCACHE_UPSTREAM_HTTP2", "true"),
            ("IMGCACHE_TRANSFORM_MODE", "typed"),
        ],
    );
    let config = Config::from_sources(&s).expect("valid");
    let names: Vec<&str> = config
        .cache
        .identity_headers
        .names()
        .iter()
        .map(|h| h.as_str())
        .collect();
    assert_eq!(names, ["x-auth-token", "x-project-id"]);
    assert_eq!(config.cache_max_bytes, 64 << 20);
    assert!(config.upstream.http2);
    assert_eq!(config.transform.mode, Mode::Typed);
}

/// Kubernetes service-link variables are not settings and not typos.
#[test]
fn kubernetes_service_links_are_ignored() {
    let s = sources(
        "",
        &[
            ("IMGCACHE_ADMIN_SERVICE_HOST", "10.0.0.1"),
            ("IMGCACHE_ADMIN_PORT", "tcp://10.0.0.1:9090"),
            ("IMGCACHE_ADMIN_PORT_9090_TCP_ADDR", "10.0.0.1"),
            ("IMGCACHE_ADMIN_TOKEN", "t0ken\n"),
        ],
    );
    let config = Config::from_sources(&s).expect("valid");
    assert_eq!(config.admin.token.as_deref(), Some("t0ken"), "trimmed");
}

/// Every problem is reported in one go: bad types, bad values, unknown
/// keys and sections, unknown env variables, cross-field conflicts.
#[test]
fn all_problems_at_once() {
    let file = r#"
        [server]
        listen = "nowhere"
        max_connections = -1
        [cache]
        ttl = "5 minutes"
        max_bytes = "1KiB"
        max_object_bytes = "1MiB"
        identity_headers = ["x-auth-token", "bad header"]
        colour = "blue"
        [upstream]
        url = "ftp://ims"
        [transform]
        mode = "fancy"
        [log]
        format = "xml"
        [nonsense]
        a = 1
        [empty_nonsense]
    "#;
    let s = sources(
        file,
        &[
            ("IMGCACHE_CACHE_TTLL", "5s"),
            ("IMGCACHE_ADMIN_LISTEN", "127.0.0.1:8080"),
        ],
    );
    let problems = Config::from_sources(&s).expect_err("invalid");
    let all = problems.join("\n");
    for needle in [
        "server.listen",
        "server.max_connections",
        "cache.ttl",
        "bad header",
        "cache.colour",
        "upstream.url",
        "transform.mode",
        "log.format",
        "unknown section `[nonsense]` (nonsense.a)",
        "unknown section `[empty_nonsense]`",
        "IMGCACHE_CACHE_TTLL",
        "max_object_bytes is larger",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
    assert!(problems.len() >= 12, "{all}");
}

/// The listener and the admin API cannot share a port.
#[test]
fn admin_needs_its_own_port() {
    let s = sources("[admin]\nlisten = \"127.0.0.1:8080\"\n", &[]);
    let problems = Config::from_sources(&s).expect_err("conflict");
    assert!(problems[0].contains("own port"), "{problems:?}");
}

/// Upstream URLs: scheme, host and base path.
#[test]
fn upstream_urls() {
    let (origin, base) = parse_upstream_url("http://127.0.0.1:9292").expect("ok");
    assert_eq!(
        (origin.to_string().as_str(), base.as_str()),
        ("http://127.0.0.1:9292/", "")
    );
    let (_, base) = parse_upstream_url("https://h/image/").expect("ok");
    assert_eq!(base, "/image");
    assert!(parse_upstream_url("ims.example.com").is_err());
    assert!(parse_upstream_url("http://h/?x=1").is_err());
}

/// Service URLs with credentials are refused without echoing them, and a
/// port past 65535 is named: both used to be accepted (the credentials
/// then printed at start-up, the port failing at the first request).
#[test]
fn urls_without_credentials_or_impossible_ports() {
    for url in [
        "http://glance:s3cret@127.0.0.1:9292",
        "https://s3cret@ims.example.com/",
    ] {
        let err = parse_upstream_url(url).expect_err(url);
        assert!(err.contains("credentials"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }
    for url in ["http://127.0.0.1:99999", "http://h:0/", "http://h:x/"] {
        let err = parse_upstream_url(url).expect_err(url);
        assert!(err.contains("port"), "{err}");
    }
    assert!(parse_upstream_url("http://[::1]:9292/").is_ok());
    assert!(parse_upstream_url("http://[::1]/").is_ok());
    let s = sources(
        "[identity]\nkeystone_url = \"https://admin:s3cret@iam.example.com/v3\"\n",
        &[],
    );
    let problems = Config::from_sources(&s).expect_err("refused");
    assert!(
        problems.iter().any(|p| p.contains("identity.keystone_url")),
        "{problems:?}"
    );
    assert!(
        !problems.iter().any(|p| p.contains("s3cret")),
        "{problems:?}"
    );
}

/// A mistyped key, section or variable is named with what it most likely
/// meant; a variable a letter away from a setting is refused even when
/// its section is misspelt (it used to be ignored); other IMGCACHE_*
/// variables (scripts') are left alone.
#[test]
fn typos_get_a_hint() {
    let s = sources(
        "[cache]\nttll = \"1m\"\n[servr]\nlisten = \"127.0.0.1:1\"\n",
        &[
            ("IMGCACHE_SERVR_LISTEN", "127.0.0.1:2"),
            ("IMGCACHE_DEPLOY_COLOUR", "blue"),
        ],
    );
    let problems = Config::from_sources(&s).expect_err("typos");
    let all = problems.join("\n");
    assert!(
        all.contains("`cache.ttll` (did you mean `cache.ttl`?)"),
        "{all}"
    );
    assert!(
        all.contains("`[servr]` (servr.listen) (did you mean `[server]`?)"),
        "{all}"
    );
    assert!(
        all.contains("`IMGCACHE_SERVR_LISTEN` (did you mean `IMGCACHE_SERVER_LISTEN`?)"),
        "{all}"
    );
    assert!(!all.contains("IMGCACHE_DEPLOY_COLOUR"), "{all}");
}

/// A log filter tracing cannot read is a problem, from the file or from
/// `IMGCACHE_LOG` (which wins); it used to fall back to `info` silently.
#[test]
fn log_filters_are_checked() {
    let bad_file = sources("[log]\nfilter = \"imgcache=loud\"\n", &[]);
    let problems = Config::from_sources(&bad_file).expect_err("refused");
    assert!(
        problems.iter().any(|p| p.contains("log.filter")),
        "{problems:?}"
    );
    let bad_env = sources("", &[("IMGCACHE_LOG", "info,imgcache=loud")]);
    let problems = Config::from_sources(&bad_env).expect_err("refused");
    assert!(
        problems.iter().any(|p| p.contains("IMGCACHE_LOG")),
        "{problems:?}"
    );
    let env_wins = sources(
        "[log]\nfilter = \"imgcache=loud\"\n",
        &[("IMGCACHE_LOG", "debug")],
    );
    assert!(Config::from_sources(&env_wins).is_ok());
    let good = sources("[log]\nfilter = \"warn,imgcache::access=info\"\n", &[]);
    assert!(Config::from_sources(&good).is_ok());
}

/// The admin token never shows in Debug output (`--check-config` prints it).
#[test]
fn token_is_redacted() {
    let s = sources("[admin]\ntoken = \"s3cret-admin-token\"\n", &[]);
    let config = Config::from_sources(&s).expect("valid");
    assert_eq!(config.admin.token.as_deref(), Some("s3cret-admin-token"));
    assert!(!format!("{config:?}").contains("s3cret"));
}

/// `[[signing.credentials]]`: a secret inline, from an `IMGCACHE_…`
/// variable, or from a file (trailing newline dropped); none of them shows
/// in Debug output, and the variable is not taken for a typo.
#[test]
fn signing_credentials_from_three_places() {
    let dir = std::env::temp_dir().join(format!("imgcache-sk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("sk");
    std::fs::write(&file, "sk-from-file\n").expect("write");
    let text = format!(
        "[signing]\nclock_skew = \"5m\"\n\
         [[signing.credentials]]\nak = \"AK1\"\nsk = \"sk-inline\"\n\
         [[signing.credentials]]\nak = \"AK2\"\nsk_env = \"IMGCACHE_SK_TWO\"\n\
         [[signing.credentials]]\nak = \"AK3\"\nsk_file = \"{}\"\n",
        file.display()
    );
    let config = Config::from_sources(&sources(&text, &[("IMGCACHE_SK_TWO", "sk-from-env")]))
        .expect("valid");
    let pairs: Vec<(&str, &str)> = config
        .signing
        .credentials
        .iter()
        .map(|c| (c.ak.as_str(), c.sk.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("AK1", "sk-inline"),
            ("AK2", "sk-from-env"),
            ("AK3", "sk-from-file")
        ]
    );
    assert_eq!(config.signing.clock_skew, Duration::from_secs(300));
    let shown = format!("{config:?}");
    assert!(!shown.contains("sk-"), "{shown}");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// Every broken credential is reported at once, by position, without
/// quoting a secret.
#[test]
fn signing_problems_all_at_once() {
    let text = "[[signing.credentials]]\nak = \"AK1\"\nsk = \"a-secret\"\nsk_file = \"/x\"\n\
                [[signing.credentials]]\nak = \"\"\nsk = \"b-secret\"\n\
                [[signing.credentials]]\nak = \"AK3\"\nsk_env = \"IMGCACHE_NOT_SET\"\n\
                [[signing.credentials]]\nak = \"AK4\"\nsk_env = \"HOME\"\n\
                [[signing.credentials]]\nak = \"AK5\"\nsk_file = \"/nonexistent/imgcache-sk\"\n\
                [[signing.credentials]]\nak = \"AK1\"\nsk = \"c-secret\"\nsecret = \"x\"\n\
                [[signing.credentials]]\nak = \"AK7\"\nsk = \"d-secret\"\n\
                [[signing.credentials]]\nak = \"AK7\"\nsk = \"e-secret\"\n";
    let problems = Config::from_sources(&sources(text, &[])).expect_err("invalid");
    let all = problems.join("\n");
    for expected in [
        "signing.credentials[0] needs exactly one of sk, sk_env and sk_file",
        "signing.credentials[1].ak must be a non-empty access key",
        "signing.credentials[2].sk_env: `IMGCACHE_NOT_SET` is not set",
        "signing.credentials[3].sk_env must name an IMGCACHE_… variable",
        "signing.credentials[4].sk_file: cannot read /nonexistent/imgcache-sk",
        "signing.credentials[5]: unknown setting `secret`",
        "signing.credentials[7]: access key `AK7` is listed twice",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
    }
    assert!(!all.contains("-secret"), "{all}");
}

/// `[identity]` is off without a URL; a bad URL or share mode is a
/// problem; the service token never shows in Debug output.
#[test]
fn identity_section() {
    let off = Config::from_sources(&sources("[identity]\nshare = \"project\"\n", &[]));
    assert!(off.expect("valid").identity.is_none());
    let text = "[identity]\nkeystone_url = \"https://iam.example.com/v3/\"\n\
                share = \"project\"\nservice_token = \"svc-t0ken\"\n";
    let config = Config::from_sources(&sources(text, &[])).expect("valid");
    let identity = config.identity.as_ref().expect("on");
    assert_eq!(identity.keystone_url, "https://iam.example.com/v3");
    assert_eq!(identity.share, Share::Project);
    assert_eq!(identity.validation_ttl, DEFAULT_IDENTITY_VALIDATION_TTL);
    assert!(!format!("{config:?}").contains("svc-t0ken"));
    let bad = "[identity]\nkeystone_url = \"iam.example.com\"\nshare = \"everyone\"\n";
    let problems = Config::from_sources(&sources(bad, &[]))
        .expect_err("invalid")
        .join("\n");
    assert!(problems.contains("identity.keystone_url"), "{problems}");
    assert!(problems.contains("identity.share `everyone`"), "{problems}");
    let env = sources("", &[("IMGCACHE_SIGNING_CREDENTIALS", "AK:SK")]);
    let problems = Config::from_sources(&env).expect_err("invalid").join("\n");
    assert!(
        problems.contains("can only be set in the config file"),
        "{problems}"
    );
}

/// `[redis]` modes: single takes `url`, cluster seeds from `nodes` (and
/// `url`); every problem of the section is reported in one run, and no
/// password is shown.
#[test]
fn redis_modes() {
    let single =
        Config::from_sources(&sources("[redis]\nurl = \"redis://h:6379\"\n", &[])).expect("valid");
    let redis = single.redis.expect("on");
    assert_eq!(redis.mode, RedisMode::Single);
    assert_eq!(redis.urls(), ["redis://h:6379"]);
    let text = "[redis]\nmode = \"cluster\"\nnodes = [\"redis://a:7000\", \"redis://b:7001\"]\n";
    let cluster = Config::from_sources(&sources(text, &[])).expect("valid");
    let redis = cluster.redis.expect("on");
    assert_eq!(redis.mode, RedisMode::Cluster);
    assert_eq!(redis.urls(), ["redis://a:7000", "redis://b:7001"]);
    let env = sources(
        "",
        &[
            ("IMGCACHE_REDIS_MODE", "cluster"),
            ("IMGCACHE_REDIS_NODES", "redis://a:1,redis://b:2"),
        ],
    );
    assert_eq!(
        Config::from_sources(&env)
            .expect("valid")
            .redis
            .expect("on")
            .nodes
            .len(),
        2
    );
    let bad = "[redis]\nmode = \"ring\"\nurl = \"http://:pw@h\"\n\
               nodes = [\"redis://a:1\"]\n";
    let problems = Config::from_sources(&sources(bad, &[]))
        .expect_err("invalid")
        .join("\n");
    assert!(problems.contains("redis.mode `ring`"), "{problems}");
    assert!(problems.contains("redis.url must start"), "{problems}");
    assert!(problems.contains("redis.nodes is for"), "{problems}");
    assert!(!problems.contains("pw"), "{problems}");
    let mixed =
        "[redis]\nmode = \"cluster\"\nnodes = [\"redis://a:1\", \"rediss://b:2\", \"tcp://c\"]\n";
    let problems = Config::from_sources(&sources(mixed, &[]))
        .expect_err("invalid")
        .join("\n");
    assert!(problems.contains("redis.nodes[2] must start"), "{problems}");
    assert!(
        problems.contains("mix redis:// and rediss://"),
        "{problems}"
    );
}

/// The Redis password comes from a file or an `IMGCACHE_…` variable,
/// never both, never beside one in the URL; a CA file needs `rediss://`;
/// the password shows nowhere.
#[test]
fn redis_login() {
    let dir = std::env::temp_dir().join(format!("imgcache-redis-pw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("password");
    std::fs::write(&file, "fr0m-file\n").expect("write");
    let text = format!(
        "[redis]\nurl = \"redis://h:6379\"\nusername = \"imgcache\"\npassword_file = \"{}\"\n",
        file.display()
    );
    let config = Config::from_sources(&sources(&text, &[])).expect("valid");
    let redis = config.redis.as_ref().expect("on");
    assert_eq!(redis.password.as_deref(), Some("fr0m-file"));
    assert_eq!(redis.username.as_deref(), Some("imgcache"));
    assert!(!format!("{config:?}").contains("fr0m-file"));
    let env = sources(
        "[redis]\nurl = \"redis://h:6379\"\npassword_env = \"IMGCACHE_REDIS_PW\"\n",
        &[("IMGCACHE_REDIS_PW", "fr0m-env")],
    );
    let redis = Config::from_sources(&env)
        .expect("valid")
        .redis
        .expect("on");
    assert_eq!(redis.password.as_deref(), Some("fr0m-env"));
    let bad = format!(
        "[redis]\nurl = \"redis://:in-url@h:6379\"\npassword_file = \"{}\"\n\
         tls_ca_file = \"/nonexistent/ca.pem\"\n",
        file.display()
    );
    let problems = Config::from_sources(&sources(&bad, &[]))
        .expect_err("invalid")
        .join("\n");
    assert!(problems.contains("password in the URL"), "{problems}");
    assert!(problems.contains("not rediss://"), "{problems}");
    assert!(
        problems.contains("redis.tls_ca_file: cannot read"),
        "{problems}"
    );
    assert!(
        !problems.contains("in-url") && !problems.contains("fr0m"),
        "{problems}"
    );
    let both =
        "[redis]\nurl = \"redis://h\"\npassword_file = \"/x\"\npassword_env = \"IMGCACHE_X\"\n";
    let problems = Config::from_sources(&sources(both, &[]))
        .expect_err("invalid")
        .join("\n");
    assert!(problems.contains("name one"), "{problems}");
    let _ = std::fs::remove_dir_all(&dir);
}
