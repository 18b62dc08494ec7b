//! Error bodies compared byte for byte with the Glance 33 fixtures.

use super::*;

const ZERO_ID: &str = "00000000-0000-0000-0000-000000000000";

fn text(bytes: Bytes) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

/// The HTML 404 is fixture 03's body, 181 bytes.
#[test]
fn html_404_matches_fixture_03() {
    let body = text(GlanceError::image_not_found(ZERO_ID).body(Flavor::Html));
    let expected = "<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  \
        <h1>404 Not Found</h1>\n  No image found with ID 00000000-0000-0000-0000-000000000000\
        <br /><br />\n\n\n\n </body>\n</html>";
    assert_eq!(body, expected);
    assert_eq!(body.len(), 181);
    assert_eq!(
        GlanceError::image_not_found("not-a-uuid")
            .body(Flavor::Html)
            .len(),
        155
    );
}

/// The JSON 404 is fixture 03c's body, 139 bytes.
#[test]
fn json_404_matches_fixture_03c() {
    let body = text(GlanceError::image_not_found(ZERO_ID).body(Flavor::Json));
    let expected = r#"{"message": "No image found with ID 00000000-0000-0000-0000-000000000000<br /><br />\n\n\n", "code": "404 Not Found", "title": "Not Found"}"#;
    assert_eq!(body, expected);
    assert_eq!(body.len(), 139);
}

/// The plain-text 404 is webob's plain template.
#[test]
fn plain_404_is_webob_plain() {
    let body = text(GlanceError::image_not_found("abc").body(Flavor::Plain));
    assert_eq!(body, "404 Not Found\n\nNo image found with ID abc\n\n   ");
}

/// The 415 is fixture 04b's body (350 bytes) with its Accept-Patch header.
#[test]
fn unsupported_patch_matches_fixture_04b() {
    let err = GlanceError::unsupported_patch_type("application/json");
    let body = text(err.body(Flavor::Html));
    let expected = "<html>\n <head>\n  <title>415 Unsupported Media Type</title>\n </head>\n \
        <body>\n  <h1>415 Unsupported Media Type</h1>\n  The request media type application/json \
        is not supported by this server.\n<br /><br />\nImage PATCH expects Content-Type one of: \
        application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch\
        \n </body>\n</html>";
    assert_eq!(body, expected);
    assert_eq!(body.len(), 350);
    let response = err.render_as(Flavor::Html);
    assert_eq!(
        response.headers()["accept-patch"],
        "application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch"
    );
}

/// The 401 is fixture 29: 358 bytes of HTML and no request id.
#[test]
fn unauthorized_matches_fixture_29() {
    let response = unauthorized();
    assert_eq!(response.headers()[CONTENT_LENGTH], "358");
    assert_eq!(response.headers()[CONTENT_TYPE], TEXT_HTML);
    assert!(response.headers().get(REQUEST_ID).is_none());
}

/// Accept negotiation follows webob's offers (HTML first, then JSON).
#[test]
fn negotiation() {
    let flavor = |v: &'static str| negotiate(Some(&HeaderValue::from_static(v)));
    assert_eq!(negotiate(None), Flavor::Plain);
    assert_eq!(flavor("*/*"), Flavor::Html);
    assert_eq!(flavor("application/json"), Flavor::Json);
    assert_eq!(flavor("text/html"), Flavor::Html);
    assert_eq!(flavor("text/plain"), Flavor::Plain);
    assert_eq!(flavor(""), Flavor::Plain);
    assert_eq!(flavor("application/json, text/html"), Flavor::Html);
    assert_eq!(flavor("application/json, text/html;q=0.5"), Flavor::Json);
    assert_eq!(flavor("application/*, */*;q=0.1"), Flavor::Json);
    assert_eq!(flavor("text/html;q=0, */*"), Flavor::Json);
    assert_eq!(flavor("garbage"), Flavor::Html);
}

/// HTML bodies escape the substituted text; JSON and plain ones do not.
#[test]
fn html_escapes_values() {
    let err = GlanceError::image_not_found("<a&b>");
    assert!(text(err.body(Flavor::Html)).contains("ID &lt;a&amp;b&gt;<br />"));
    assert!(text(err.body(Flavor::Json)).contains("ID <a&b><br />"));
}
