//! Huawei Cloud's AK/SK request signature, `SDK-HMAC-SHA256`, computed
//! exactly as huaweicloudsdkcore `signer/signer.py` (`Signer`) does, so a
//! request its SDKs signed can be verified here and a verified one signed
//! again for the upstream's host.
//!
//! ```text
//! canonical request = METHOD \n canonical URI \n canonical query \n
//!                     signed headers `name:value` each + \n \n
//!                     signed header names joined by `;` \n payload hash
//! string to sign    = SDK-HMAC-SHA256 \n X-Sdk-Date \n hex(SHA-256(canonical request))
//! signature         = hex(HMAC-SHA256(SK, string to sign))
//! ```
//!
//! Pure functions: no clock, no credentials store, no I/O.

use std::borrow::Cow;
use std::fmt::Write as _;

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

/// The `Authorization` scheme.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";

/// The header with the signing time, `%Y%m%dT%H%M%SZ`.
pub const DATE_HEADER: &str = "x-sdk-date";

/// A client-declared payload hash (`UNSIGNED-PAYLOAD` for non-JSON
/// bodies), used instead of hashing the body.
pub const CONTENT_SHA256_HEADER: &str = "x-sdk-content-sha256";

/// SHA-256 of the empty body, the payload hash of every bodiless request.
pub const EMPTY_PAYLOAD_HASH: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Python's `urllib.parse.quote(s, safe='~')`: everything but ASCII
/// letters, digits and `_.-~` is percent-encoded (upper-case hex).
const QUOTE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~');

/// The parts of an `SDK-HMAC-SHA256` `Authorization` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization<'a> {
    /// The access key (AK).
    pub access: &'a str,
    /// The signed header names, lower-case, in the order given.
    pub signed_headers: Vec<&'a str>,
    /// Lower-case hex HMAC.
    pub signature: &'a str,
}

/// Why an `Authorization` value is not a well-formed `SDK-HMAC-SHA256` one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("the Authorization scheme is not SDK-HMAC-SHA256")]
    Scheme,
    #[error("the Authorization value lacks Access, SignedHeaders or Signature")]
    MissingPart,
    #[error("SignedHeaders is empty or not lower-case")]
    SignedHeaders,
}

impl<'a> Authorization<'a> {
    /// Parses `SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex`.
    pub fn parse(value: &'a str) -> Result<Authorization<'a>, Malformed> {
        let rest = value
            .strip_prefix(ALGORITHM)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or(Malformed::Scheme)?;
        let (mut access, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let Some((name, value)) = part.trim().split_once('=') else {
                return Err(Malformed::MissingPart);
            };
            let slot = match name {
                "Access" => &mut access,
                "SignedHeaders" => &mut signed,
                "Signature" => &mut signature,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(Malformed::MissingPart);
            }
        }
        let (Some(access), Some(signed), Some(signature)) = (access, signed, signature) else {
            return Err(Malformed::MissingPart);
        };
        if access.is_empty() || signature.is_empty() {
            return Err(Malformed::MissingPart);
        }
        let signed_headers: Vec<&str> = signed.split(';').collect();
        let lower_case = signed_headers
            .iter()
            .all(|h| !h.is_empty() && !h.bytes().any(|b| b.is_ascii_uppercase()));
        if !lower_case {
            return Err(Malformed::SignedHeaders);
        }
        Ok(Authorization {
            access,
            signed_headers,
            signature,
        })
    }

    /// Whether `host` is among the signed headers (then the request only
    /// verifies with the `Host` the client sent).
    pub fn signs_host(&self) -> bool {
        self.signed_headers.contains(&"host")
    }
}

/// What a signature covers, taken from a request (or from the request
/// about to be sent upstream).
pub struct Signed<'a> {
    /// The method, as sent (upper-cased for the canonical request).
    pub method: &'a str,
    /// The path as it goes on the wire (still percent-encoded).
    pub path: &'a str,
    /// The query as it goes on the wire, without `?`.
    pub query: Option<&'a str>,
    /// The signed header names, lower-case, and each one's value.
    pub headers: Vec<(&'a str, &'a str)>,
    /// [`payload_hash`] of the body.
    pub payload_hash: &'a str,
    /// `X-Sdk-Date`.
    pub date: &'a str,
}

impl Signed<'_> {
    /// The canonical request (a string only tests and debugging read).
    pub fn canonical_request(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str(&self.method.to_ascii_uppercase());
        out.push('\n');
        out.push_str(&canonical_uri(self.path));
        out.push('\n');
        out.push_str(&canonical_query(self.query.unwrap_or("")));
        out.push('\n');
        for (name, value) in &self.headers {
            out.push_str(name);
            out.push(':');
            out.push_str(value.trim());
            out.push('\n');
        }
        out.push('\n');
        let mut first = true;
        for (name, _) in &self.headers {
            if !first {
                out.push(';');
            }
            first = false;
            out.push_str(name);
        }
        out.push('\n');
        out.push_str(self.payload_hash);
        out
    }

    /// `SDK-HMAC-SHA256 \n date \n hex(SHA-256(canonical request))`.
    pub fn string_to_sign(&self) -> String {
        let digest = Sha256::digest(self.canonical_request().as_bytes());
        format!("{ALGORITHM}\n{}\n{}", self.date, hex(&digest))
    }

    /// The signature with `secret`, lower-case hex.
    pub fn sign(&self, secret: &[u8]) -> Option<String> {
        Some(hex(&self.mac(secret)?.finalize().into_bytes()))
    }

    /// Whether `signature` (hex) is this request's signature with
    /// `secret`; compared in constant time.
    pub fn verify(&self, secret: &[u8], signature: &str) -> bool {
        let (Some(claimed), Some(mac)) = (unhex(signature), self.mac(secret)) else {
            return false;
        };
        mac.verify_slice(&claimed).is_ok()
    }

    /// The `Authorization` value for `access` and `signature`.
    pub fn authorization(&self, access: &str, signature: &str) -> String {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| *name).collect();
        format!(
            "{ALGORITHM} Access={access}, SignedHeaders={}, Signature={signature}",
            names.join(";")
        )
    }

    /// The keyed MAC over the string to sign (`None` never happens: HMAC
    /// takes a key of any length).
    fn mac(&self, secret: &[u8]) -> Option<Hmac<Sha256>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
        mac.update(self.string_to_sign().as_bytes());
        Some(mac)
    }
}

/// The payload hash the SDK signs: the hash of the empty body for a
/// bodiless request, else `X-Sdk-Content-Sha256` if sent, else the
/// body's SHA-256 (`None`: the body is needed).
pub fn payload_hash<'a>(has_body: bool, content_sha256: Option<&'a str>) -> Option<Cow<'a, str>> {
    if !has_body {
        return Some(Cow::Borrowed(EMPTY_PAYLOAD_HASH));
    }
    content_sha256.map(Cow::Borrowed)
}

/// The body's SHA-256, lower-case hex (an empty body hashes to
/// [`EMPTY_PAYLOAD_HASH`]).
pub fn body_hash(body: &[u8]) -> String {
    hex(&Sha256::digest(body))
}

/// `unquote(path).split('/')`, each part `quote(part, safe='~')`, joined
/// by `/`, with a `/` at the end.
pub fn canonical_uri(path: &str) -> String {
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    let mut out = String::with_capacity(path.len() + 1);
    for (i, segment) in decoded.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.extend(utf8_percent_encode(segment, QUOTE));
    }
    if !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// The query's `key=value` pairs, decoded, sorted by key then value, each
/// part `quote(…, safe='~')`, joined by `&`. A key without `=` has the
/// empty value; `+` is a literal `+` (the SDK never sends it for a space).
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode_str(key).decode_utf8_lossy(),
                percent_decode_str(value).decode_utf8_lossy(),
            )
        })
        .collect();
    // Python sorts (key, value) tuples by code point; UTF-8 byte order is
    // the same order.
    pairs.sort();
    let mut out = String::with_capacity(query.len() + 8);
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.extend(utf8_percent_encode(key, QUOTE));
        out.push('=');
        out.extend(utf8_percent_encode(value, QUOTE));
    }
    out
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Hex (either case) to bytes; `None` for anything else or an odd length.
fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16);
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8))
        .collect()
}

#[cfg(test)]
mod tests;
