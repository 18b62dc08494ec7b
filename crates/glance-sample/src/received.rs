//! What an upload or a stage delivered: the body hashed and counted chunk
//! by chunk, never buffered whole, and kept only when small. It lives
//! apart from `files` (which receives it) because the staging area in
//! `backends`, part of the shared state, holds it until an import takes
//! it: the state must not depend on the route handlers.

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use sha2::{Digest, Sha256};

use super::pattern;

/// Uploads up to this size are kept and served back by downloads; larger
/// ones are only hashed and counted (downloads then serve the pattern).
pub const KEEP_UPLOAD_MAX: usize = 1024 * 1024;

/// What an upload or a stage delivered.
pub struct Received {
    /// How many bytes arrived.
    pub bytes: u64,
    /// SHA-256 of the data, lower-case hex.
    pub sha256_hex: String,
    /// The data itself, when it fit under [`KEEP_UPLOAD_MAX`].
    pub kept: Option<Bytes>,
}

/// Hashes and counts the body chunk by chunk; None if it broke off.
pub async fn receive(mut body: Incoming) -> Option<Received> {
    let mut hasher = Sha256::new();
    let mut bytes: u64 = 0;
    let mut kept = Some(BytesMut::new());
    while let Some(frame) = body.frame().await {
        let Ok(chunk) = frame.ok()?.into_data() else {
            continue;
        };
        hasher.update(&chunk);
        bytes += chunk.len() as u64;
        kept = kept
            .filter(|k| k.len() + chunk.len() <= KEEP_UPLOAD_MAX)
            .map(|mut k| {
                k.extend_from_slice(&chunk);
                k
            });
    }
    let sha256_hex = pattern::hex(&hasher.finalize());
    Some(Received {
        bytes,
        sha256_hex,
        kept: kept.map(BytesMut::freeze),
    })
}
