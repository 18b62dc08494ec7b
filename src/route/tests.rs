use super::*;

const ID: &str = "bc6bed6e-ba3a-4447-afcc-449174a3eb52";

fn read(id: &str) -> Route {
    Route::ImageRead(ImageId::new(id))
}

fn write(ids: &[&str]) -> Route {
    Route::ImageWrite(Write {
        ids: ids.iter().map(|id| ImageId::new(id)).collect(),
        body: None,
        asynchronous: false,
    })
}

/// The table of reads and non-reads for GET and HEAD.
#[test]
fn reads() {
    let get = Method::GET;
    let spec_path = format!("/v2/images/{ID}");
    let cases: &[(&str, Option<&str>, Route)] = &[
        ("/v2/images/abc", None, read("abc")),
        (&spec_path, None, read(ID)),
        ("/v2.1/images/abc", None, read("abc")),
        ("/v2.16/images/abc", None, read("abc")),
        ("/v2/images/ABC-def", None, read("ABC-def")),
        ("/v2/images/b%63", None, read("bc")),
        ("/v2/%69mages/abc", None, read("abc")),
        ("/v2/images/abc", Some("x=1"), Route::Other),
        ("/v2/images/abc", Some(""), Route::Other),
        ("/v2/images", None, Route::ImageList),
        ("/v2/images", Some("limit=2&marker=x"), Route::ImageList),
        ("/v2.1/images", Some("name=a"), Route::ImageList),
        ("/v2/images/abc/members", Some("x=1"), Route::Other),
        ("/v2/images/", None, Route::Other),
        ("/v2/images/abc/", None, Route::Other),
        ("/v2/images/abc/file", None, Route::Other),
        ("/v2/images/../x", None, Route::Other),
        ("/v2/images/..", None, Route::Other),
        ("/v2/images/.", None, Route::Other),
        ("/v2/images/%2e%2e", None, Route::Other),
        ("/v2/x/../images/abc", None, Route::Other),
        ("/v2/./images/abc", None, Route::Other),
        ("/v2/images/a%2Fb", None, Route::Other),
        ("//v2/images/abc", None, Route::Other),
        ("/v2//images/abc", None, Route::Other),
        ("/v3/images/abc", None, Route::Other),
        ("/v2./images/abc", None, Route::Other),
        ("/v2.x/images/abc", None, Route::Other),
        ("/v21/images/abc", None, Route::Other),
        ("/v2/schemas/image", None, Route::Other),
        ("/v2/images/%ff", None, Route::Other),
        ("*", None, Route::Other),
        ("", None, Route::Other),
    ];
    for (path, query, expected) in cases {
        assert_eq!(
            &classify(&get, path, *query),
            expected,
            "GET {path} ?{query:?}"
        );
    }
    assert_eq!(
        classify(&Method::HEAD, "/v2/images/abc", None),
        Route::Other
    );
}

/// The table of Glance writes (docs/design.md, README "Invalidation"), on every alias.
#[test]
fn writes() {
    let cases: &[(Method, &str, Route)] = &[
        (Method::PATCH, "/v2/images/abc", write(&["abc"])),
        (Method::DELETE, "/v2/images/abc", write(&["abc"])),
        (Method::PUT, "/v2/images/abc/tags/gold", write(&["abc"])),
        (Method::DELETE, "/v2/images/abc/tags/gold", write(&["abc"])),
        (Method::PUT, "/v2/images/abc/file", write(&["abc"])),
        (Method::PUT, "/v2/images/abc/stage", write(&["abc"])),
        (Method::POST, "/v2/images/abc/import", write(&["abc"])),
        (
            Method::POST,
            "/v2/images/abc/actions/deactivate",
            write(&["abc"]),
        ),
        (
            Method::POST,
            "/v2/images/abc/actions/reactivate",
            write(&["abc"]),
        ),
        (Method::POST, "/v2/images/abc/locations", write(&["abc"])),
        (Method::POST, "/v2/images/abc/members", write(&["abc"])),
        (Method::PUT, "/v2/images/abc/members/p1", write(&["abc"])),
        (Method::DELETE, "/v2/images/abc/members/p1", write(&["abc"])),
        (Method::DELETE, "/v2/stores/fs/abc", write(&["abc"])),
        (Method::PATCH, "/v2.9/images/abc", write(&["abc"])),
        (Method::PATCH, "/v2/images/ABC", write(&["ABC"])),
        (Method::PATCH, "/v2/images/abc/", write(&["abc"])),
        (Method::POST, "/v2/images", Route::Other),
        (Method::POST, "/v2/tasks", Route::Other),
        (Method::DELETE, "/v2/stores/fs", Route::Other),
        (Method::PUT, "/v3/images/abc", Route::Other),
    ];
    for (method, path, expected) in cases {
        assert_eq!(&classify(method, path, None), expected, "{method} {path}");
    }
}

/// IMS's own writes: paths, ids in the body, asynchronous jobs.
#[test]
fn ims_writes() {
    let asynchronous = |ids: &[&str]| match write(ids) {
        Route::ImageWrite(w) => Route::ImageWrite(Write {
            asynchronous: true,
            ..w
        }),
        other => other,
    };
    let in_body = |body: BodyIds, asynchronous: bool| {
        Route::ImageWrite(Write {
            ids: Vec::new(),
            body: Some(body),
            asynchronous,
        })
    };
    let cases: &[(Method, &str, Route)] = &[
        (Method::PATCH, "/v2/cloudimages/abc", write(&["abc"])),
        (
            Method::PUT,
            "/v1/cloudimages/abc/upload",
            asynchronous(&["abc"]),
        ),
        (
            Method::POST,
            "/v1/cloudimages/members",
            in_body(BodyIds::ImagesArray, true),
        ),
        (
            Method::PUT,
            "/v1/cloudimages/members",
            in_body(BodyIds::ImagesArray, true),
        ),
        (
            Method::DELETE,
            "/v1/cloudimages/members",
            in_body(BodyIds::ImagesArray, true),
        ),
        (
            Method::PUT,
            "/v1/cloudimages/tags",
            in_body(BodyIds::ImageIdField, false),
        ),
        (Method::DELETE, "/v1.1/images/abc", write(&["abc"])),
        (Method::POST, "/v2/p1/images/abc/tags", write(&["abc"])),
        (
            Method::POST,
            "/v2/p1/images/abc/tags/action",
            write(&["abc"]),
        ),
        (Method::DELETE, "/v2/p1/images/abc/tags/k", write(&["abc"])),
        (
            Method::DELETE,
            "/v1/p1/cloudimages/abc/tags/delete",
            write(&["abc"]),
        ),
        // Not writes of an existing image: new images, exports, reads.
        (Method::POST, "/v2/cloudimages/action", Route::Other),
        (Method::POST, "/v1/cloudimages/abc/file", Route::Other),
        (Method::POST, "/v1/cloudimages/abc/copy", Route::Other),
        (Method::GET, "/v1/cloudimages/members", Route::Other),
        (Method::PUT, "/v2/cloudimages/abc", Route::Other),
        (Method::DELETE, "/v1.1/images", Route::Other),
    ];
    for (method, path, expected) in cases {
        assert_eq!(&classify(method, path, None), expected, "{method} {path}");
    }
}

/// Job polls are recognised on both of IMS's job paths, nothing else.
#[test]
fn job_polls() {
    let poll = |path| classify(&Method::GET, path, None);
    assert_eq!(poll("/v1/p1/jobs/j-1"), Route::JobPoll("j-1".into()));
    assert_eq!(
        poll("/v1/cloudimages/job/j-1"),
        Route::JobPoll("j-1".into())
    );
    assert_eq!(poll("/v1/p1/jobs/j-1/x"), Route::Other);
    assert_eq!(poll("/v2/p1/jobs/j-1"), Route::Other);
    assert_eq!(
        classify(&Method::DELETE, "/v1/p1/jobs/j-1", None),
        Route::Other
    );
}

/// Ids in a body: the expected field, strings only; anything else is
/// unreadable (`None`), never a guess.
#[test]
fn ids_in_bodies() {
    let ids = |v: Option<Vec<ImageId>>| {
        v.map(|ids| {
            ids.iter()
                .map(|i| i.as_str().to_owned())
                .collect::<Vec<_>>()
        })
    };
    let images = BodyIds::ImagesArray;
    assert_eq!(
        ids(images.read(br#"{"images": ["a", "b"], "projects": ["p"]}"#)),
        Some(vec!["a".to_owned(), "b".to_owned()])
    );
    assert_eq!(ids(images.read(br#"{"images": ["a", 7]}"#)), None);
    assert_eq!(ids(images.read(br#"{"images": "a"}"#)), None);
    assert_eq!(ids(images.read(br#"{"projects": ["p"]}"#)), None);
    assert_eq!(ids(images.read(b"not json")), None);
    let field = BodyIds::ImageIdField;
    assert_eq!(
        ids(field.read(br#"{"image_id": "a", "tag": "k.v"}"#)),
        Some(vec!["a".to_owned()])
    );
    assert_eq!(ids(field.read(br#"{"image_id": ""}"#)), None);
}

/// Only Glance's writes invalidate: any other method on an image path,
/// and a write method on a path it does not change, is forwarded as is.
#[test]
fn other_methods_are_not_writes() {
    let method = |m: &str| Method::from_bytes(m.as_bytes()).expect("method");
    let cases = [
        ("OPTIONS", "/v2/images/abc"),
        ("FOO", "/v2/images/abc"),
        ("patch", "/v2/images/abc"),
        ("delete", "/v2/images/abc"),
        ("get", "/v2/images/abc"),
        ("TRACE", "/v2/images/abc"),
        ("POST", "/v2/images/abc"),
        ("PUT", "/v2/images/abc"),
        ("PATCH", "/v2/images/abc/tags/gold"),
        ("POST", "/v2/images/abc/file"),
        ("GET", "/v2/images/abc/members"),
        ("POST", "/v2/images/abc/actions/explode"),
        ("DELETE", "/v2/images/abc/locations"),
        ("PATCH", "/v2/stores/fs/abc"),
        ("OPTIONS", "/v2/images/abc/members/p1"),
    ];
    for (m, path) in cases {
        assert_eq!(classify(&method(m), path, None), Route::Other, "{m} {path}");
    }
}

/// Dot segments in a write invalidate both what a normalising upstream
/// and what a literal upstream would touch.
#[test]
fn writes_with_dot_segments_cover_both_readings() {
    assert_eq!(
        classify(&Method::PATCH, "/v2/images/abc/../xyz", None),
        write(&["xyz"])
    );
    assert_eq!(
        classify(&Method::PUT, "/v2/images/abc/tags/../file", None),
        write(&["abc"])
    );
    assert_eq!(
        classify(&Method::DELETE, "/v2/x/../images/abc", None),
        write(&["abc"])
    );
    assert_eq!(
        classify(&Method::PATCH, "/v2/images/%2e%2e/abc", None),
        Route::Other
    );
}

/// The listen prefix must match whole segments.
#[test]
fn prefixes() {
    assert_eq!(
        strip_prefix("/image/v2/images/a", "/image"),
        Some("/v2/images/a")
    );
    assert_eq!(strip_prefix("/image", "/image"), Some(""));
    assert_eq!(strip_prefix("/images/v2", "/image"), None);
    assert_eq!(strip_prefix("/other", "/image"), None);
    assert_eq!(strip_prefix("/v2/images/a", ""), Some("/v2/images/a"));
}
