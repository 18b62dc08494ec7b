//! The core proxy over real sockets: everything that is not an image read
//! is forwarded unchanged (less hop-by-hop headers), and the proxy's own
//! errors are clear responses.

mod common;

use std::time::Duration;

use common::raw::{RawUpstream, Script, exchange};
use common::*;
use http::Method;

/// Writes, lists and downloads go through with method, path, query,
/// headers and body intact, and the upstream's status, headers and body
/// come back unchanged.
#[tokio::test]
async fn methods_bodies_queries_and_headers_pass_through() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    let patch = br#"[{"op": "replace", "path": "/__os_version", "value": "CentOS 7.9 64bit"}]"#;
    let headers = [
        ("x-auth-token", TOKEN_ADMIN),
        (
            "content-type",
            "application/openstack-images-v2.1-json-patch",
        ),
        ("x-custom", "kept"),
    ];
    let url = proxy.url(&format!("/v2/images/{EXAMPLE_IMAGE_ID}"));
    let reply = send(Method::PATCH, &url, &headers, patch).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["__os_version"], "CentOS 7.9 64bit");
    assert_eq!(
        sample.control.last_request_body().as_deref(),
        Some(&patch[..])
    );
    let seen = sample.control.last_request_headers().expect("headers");
    assert_eq!(seen["x-custom"], "kept");
    assert_eq!(seen["x-auth-token"], TOKEN_ADMIN);

    let list = get(
        &proxy.url("/v2/images?limit=2"),
        &[("x-auth-token", TOKEN_A)],
    )
    .await;
    let direct = get(
        &format!("{}/v2/images?limit=2", sample.url()),
        &[("x-auth-token", TOKEN_A)],
    )
    .await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json()["images"], direct.json()["images"]);
    assert_eq!(list.json()["next"], direct.json()["next"]);
    assert_eq!(sample.control.requests("GET", "/v2/images"), 2);

    let tag_url = proxy.url(&format!("/v2/images/{EXAMPLE_IMAGE_ID}/tags/gold"));
    let put = send(Method::PUT, &tag_url, &[("x-auth-token", TOKEN_ADMIN)], b"").await;
    assert_eq!(put.status, 204);
    let delete = send(
        Method::DELETE,
        &tag_url,
        &[("x-auth-token", TOKEN_ADMIN)],
        b"",
    )
    .await;
    assert_eq!(delete.status, 204);
    let member = br#"{"member": "project-c"}"#;
    let members_url = proxy.url(&format!("/v2/images/{SHARED_IMAGE_ID}/members"));
    let post = send(
        Method::POST,
        &members_url,
        &[
            ("x-auth-token", TOKEN_ADMIN),
            ("content-type", "application/json"),
        ],
        member,
    )
    .await;
    assert_eq!(post.status, 200, "{:?}", post.body);
    assert_eq!(
        sample.control.last_request_body().as_deref(),
        Some(&member[..])
    );
}

/// An upload is streamed through and arrives byte for byte.
#[tokio::test]
async fn upload_arrives_intact() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let url = proxy.url(&format!("/v2/images/{QUEUED_IMAGE_ID}/file"));
    let headers = [
        ("x-auth-token", TOKEN_ADMIN),
        ("content-type", "application/octet-stream"),
    ];
    let reply = send(Method::PUT, &url, &headers, &data).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    let upload = sample.control.last_upload().expect("upload seen");
    assert_eq!(upload.bytes, data.len() as u64);
    use sha2::Digest;
    let expected: String = sha2::Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(upload.sha256_hex, expected);
}

/// Hop-by-hop request headers (and those named in Connection) are not
/// forwarded; forwarding headers are added; Host is the upstream's.
#[tokio::test]
async fn hop_by_hop_request_headers_are_dropped() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    let headers = [
        ("x-auth-token", TOKEN_A),
        ("connection", "keep-alive, x-hop"),
        ("x-hop", "secret-hop"),
        ("keep-alive", "timeout=5"),
        ("proxy-authorization", "Basic cHJveHk6cHc="),
        ("te", "trailers"),
        ("x-forwarded-for", "198.51.100.9"),
        ("x-end-to-end", "yes"),
    ];
    let reply = get(&proxy.url("/v2/images?limit=1"), &headers).await;
    assert_eq!(reply.status, 200);
    let seen = sample.control.last_request_headers().expect("headers");
    for dropped in [
        "x-hop",
        "keep-alive",
        "proxy-authorization",
        "te",
        "connection",
    ] {
        assert!(seen.get(dropped).is_none(), "{dropped} was forwarded");
    }
    assert_eq!(seen["x-end-to-end"], "yes");
    assert_eq!(seen["x-forwarded-for"], "198.51.100.9, 127.0.0.1");
    assert_eq!(seen["x-forwarded-proto"], "http");
    assert_eq!(seen["via"], "1.1 imgcache");
    assert_eq!(seen["host"], sample.addr.to_string());
}

/// Hop-by-hop response headers from the upstream do not reach the client;
/// end-to-end ones do.
#[tokio::test]
async fn hop_by_hop_response_headers_are_dropped() {
    let upstream = RawUpstream::start(Script::Reply(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: x-private\r\nX-Private: 1\r\n\
          Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nX-Public: 2\r\n\r\nok"
            .to_vec(),
    ))
    .await;
    let proxy = start_proxy(&upstream.url()).await;
    let reply = get(&proxy.url("/v2/schemas/image"), &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(&reply.body[..], b"ok");
    assert_eq!(reply.header("x-public"), "2");
    for dropped in ["x-private", "keep-alive", "proxy-authenticate"] {
        assert!(
            reply.headers.get(dropped).is_none(),
            "{dropped} reached the client"
        );
    }
}

/// An over-long X-Openstack-Request-Id is not forwarded; a normal one is.
#[tokio::test]
async fn long_request_ids_are_not_forwarded() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    let long = format!("req-{}", "x".repeat(80));
    get(
        &proxy.url("/v2/images"),
        &[("x-auth-token", TOKEN_A), ("x-openstack-request-id", &long)],
    )
    .await;
    let seen = sample.control.last_request_headers().expect("headers");
    assert!(seen.get("x-openstack-request-id").is_none());
    let short = "req-6f1b2f1e-0000-4000-8000-000000000001";
    get(
        &proxy.url("/v2/images"),
        &[("x-auth-token", TOKEN_A), ("x-openstack-request-id", short)],
    )
    .await;
    let seen = sample.control.last_request_headers().expect("headers");
    assert_eq!(seen["x-openstack-request-id"], short);
}

/// The listen-side prefix is removed and the upstream's base path added.
#[tokio::test]
async fn prefixes_and_base_paths() {
    let upstream = RawUpstream::start(Script::Reply(
        b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n".to_vec(),
    ))
    .await;
    let proxy = TestProxy::new(&format!("{}/image", upstream.url()))
        .with(|config| config.server.path_prefix = "/glance".into())
        .start()
        .await;
    let reply = get(&proxy.url("/glance/v2/images?limit=5&marker=a%20b"), &[]).await;
    assert_eq!(reply.status, 204);
    let heads = upstream.heads();
    assert!(
        heads[0].starts_with("GET /image/v2/images?limit=5&marker=a%20b HTTP/1.1\r\n"),
        "{}",
        heads[0]
    );
    let outside = get(&proxy.url("/v2/images"), &[]).await;
    assert_eq!(outside.status, 404);
    assert_eq!(outside.json()["error"]["code"], 404);
    assert_eq!(
        upstream.heads().len(),
        1,
        "outside the prefix is never forwarded"
    );
}

/// Nothing listening upstream: 502 with the JSON error body.
#[tokio::test]
async fn upstream_down_is_502() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let proxy = start_proxy(&format!("http://127.0.0.1:{port}")).await;
    let reply = get(&proxy.url("/v2/images"), &[]).await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.header("content-type"), "application/json");
    let body = reply.json();
    assert_eq!(body["error"]["code"], 502);
    assert_eq!(body["error"]["title"], "Bad Gateway");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("connect")
    );
}

/// An upstream whose accept queue is full never completes the TCP
/// handshake: the connect timeout gives 502, not a hang.
#[tokio::test]
async fn connect_timeout_is_502() {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let addr = socket.local_addr().expect("addr");
    let _listener = socket.listen(0).expect("listen");
    // Fill the accept queue so that further SYNs are dropped.
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            fillers.push(s);
        }
    }
    let proxy = TestProxy::new(&format!("http://{addr}"))
        .with(|config| config.upstream.connect_timeout = Duration::from_millis(300))
        .start()
        .await;
    let reply = get(&proxy.url("/v2/images"), &[]).await;
    assert_eq!(reply.status, 502);
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(message.contains("connect"), "{message}");
}

/// An upstream that never answers: 504 after the response timeout.
#[tokio::test]
async fn silent_upstream_is_504() {
    let upstream = RawUpstream::start(Script::Silent).await;
    let proxy = TestProxy::new(&upstream.url())
        .with(|config| config.upstream.response_timeout = Duration::from_millis(300))
        .start()
        .await;
    let reply = get(&proxy.url("/v2/images"), &[]).await;
    assert_eq!(reply.status, 504);
    assert_eq!(reply.json()["error"]["title"], "Gateway Timeout");
}

/// A malformed upstream Content-Length (Glance sends `None` after a
/// rejected upload) is a 502, not a guess.
#[tokio::test]
async fn malformed_upstream_content_length_is_502() {
    let upstream = RawUpstream::start(Script::Reply(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: None\r\n\r\n"
            .to_vec(),
    ))
    .await;
    let proxy = start_proxy(&upstream.url()).await;
    let reply = get(&proxy.url("/v2/images/abc/file"), &[]).await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.json()["error"]["code"], 502);
}

/// The upstream closes mid-body (fixed length): the client's body is cut
/// off with an error, never a shorter body presented as complete.
#[tokio::test]
async fn upstream_closing_mid_body_aborts_the_client_body() {
    let upstream = RawUpstream::start(Script::Reply(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-part-of-it".to_vec(),
    ))
    .await;
    let proxy = start_proxy(&upstream.url()).await;
    let response = client()
        .get(proxy.url("/v2/images/abc/file").parse().expect("uri"))
        .await
        .expect("headers arrive");
    assert_eq!(response.status(), 200);
    use http_body_util::BodyExt;
    let body = tokio::time::timeout(HANG_GUARD, response.into_body().collect())
        .await
        .expect("no hang");
    assert!(body.is_err(), "a truncated body must not look complete");
}

/// Same for a chunked upstream body that stops without its last chunk.
#[tokio::test]
async fn upstream_closing_mid_chunked_body_aborts_the_client_body() {
    let upstream = RawUpstream::start(Script::Reply(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n".to_vec(),
    ))
    .await;
    let proxy = start_proxy(&upstream.url()).await;
    let raw = exchange(
        proxy.addr,
        b"GET /v2/images/abc/file HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("hello"), "{text}");
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "the last chunk must not be sent: {text:?}"
    );
}

/// Headers past server.max_header_bytes get 431 with the JSON body; far
/// past hyper's buffer they still get 431, never a dropped connection.
#[tokio::test]
async fn oversized_headers_are_431() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url())
        .with(|config| config.server.max_header_bytes = 8 * 1024)
        .start()
        .await;
    let big = "a".repeat(10 * 1024);
    let reply = get(&proxy.url("/v2/images"), &[("x-big", &big)]).await;
    assert_eq!(reply.status, 431);
    assert_eq!(reply.json()["error"]["code"], 431);
    assert_eq!(sample.control.total_requests(), 0);

    let huge = "b".repeat(300 * 1024);
    let request = format!("GET /v2/images HTTP/1.1\r\nHost: x\r\nX-Huge: {huge}\r\n\r\n");
    let raw = exchange(proxy.addr, request.as_bytes(), Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
}

/// Requests the proxy cannot forward get a 400 with a JSON body (or
/// hyper's own 400 for unparseable bytes), and the connection answers.
#[tokio::test]
async fn malformed_requests_are_400() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    let star = exchange(
        proxy.addr,
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    let text = String::from_utf8_lossy(&star);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("\"code\":400"), "{text}");
    let garbage = exchange(
        proxy.addr,
        b"GET /v2 HTTP/1.1\r\nBad Header\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert!(String::from_utf8_lossy(&garbage).starts_with("HTTP/1.1 400"));
    assert_eq!(sample.control.total_requests(), 0);
}

/// HTTP/2 clients (h2c, prior knowledge) are served on the same port.
#[tokio::test]
async fn h2c_clients_are_served() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    let url = proxy.url(&image_path(EXAMPLE_IMAGE_ID));
    let reply = h2c_get(&url, &[("x-auth-token", TOKEN_A)]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["id"], EXAMPLE_IMAGE_ID);
    let seen = sample.control.last_request_headers().expect("headers");
    assert_eq!(seen["via"], "2 imgcache");
}

/// With upstream.http2, the proxy speaks HTTP/2 (prior knowledge) to a
/// plain-http upstream.
#[tokio::test]
async fn http2_to_the_upstream_when_configured() {
    let raw = RawUpstream::start(Script::Silent).await;
    let proxy = TestProxy::new(&raw.url())
        .with(|config| {
            config.upstream.http2 = true;
            config.upstream.response_timeout = Duration::from_millis(300);
        })
        .start()
        .await;
    let _ = get(&proxy.url("/v2/images"), &[]).await;
    assert!(
        raw.heads()[0].starts_with("PRI * HTTP/2.0"),
        "{:?}",
        raw.heads()
    );

    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url())
        .with(|config| config.upstream.http2 = true)
        .start()
        .await;
    let reply = get(
        &proxy.url("/v2/images?limit=1"),
        &[("x-auth-token", TOKEN_A)],
    )
    .await;
    assert_eq!(reply.status, 200);
}
