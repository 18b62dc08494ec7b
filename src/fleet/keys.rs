//! Names of everything the fleet keeps in Redis. Image ids and identities
//! only ever appear as digests: HMAC-SHA256 under `redis.key_secret` when
//! set (so no guessed token can be tested against what Redis holds), else
//! plain SHA-256.
//!
//! Every key of one image carries the same hash tag, `{<image digest>}`
//! (the digest covers the key prefix and the image id), so its entry hash,
//! generation counter and fill locks live in one Redis Cluster hash slot:
//! each script touches keys of one slot only. The fleet epoch is the one
//! global key, and no script that touches an image reads it (see
//! `Fleet::lookup`).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::cache::key::Identity;
use crate::config::TransformConfig;
use crate::route::ImageId;

/// Hex digits kept of each digest (128 bits).
const DIGEST_HEX: usize = 32;

/// Derives key names.
pub struct Keys {
    prefix: String,
    secret: Option<Vec<u8>>,
}

impl Keys {
    /// Keys under `prefix`, keyed by `secret` when there is one.
    pub fn new(prefix: &str, secret: Option<&str>) -> Keys {
        Keys {
            prefix: prefix.trim_end_matches(':').to_owned(),
            secret: secret.map(|s| s.as_bytes().to_vec()),
        }
    }

    /// A digest over length-framed parts (no two part lists collide).
    fn digest(&self, parts: &[&[u8]]) -> String {
        let framed = |update: &mut dyn FnMut(&[u8])| {
            for part in parts {
                update(&(part.len() as u64).to_be_bytes());
                update(part);
            }
        };
        let bytes: Vec<u8> = match &self.secret {
            Some(secret) => {
                let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
                    Ok(mac) => mac,
                    // HMAC takes keys of any length; this cannot happen.
                    Err(_) => return String::new(),
                };
                framed(&mut |b| mac.update(b));
                mac.finalize().into_bytes().to_vec()
            }
            None => {
                let mut hasher = Sha256::new();
                framed(&mut |b| hasher.update(b));
                hasher.finalize().to_vec()
            }
        };
        let mut hex = String::with_capacity(DIGEST_HEX);
        for byte in &bytes[..DIGEST_HEX / 2] {
            hex.push_str(&format!("{byte:02x}"));
        }
        hex
    }

    /// The hash tag of every key of one image: the same slot for all.
    fn image_tag(&self, id: &ImageId) -> String {
        let digest = self.digest(&[b"image", self.prefix.as_bytes(), id.as_str().as_bytes()]);
        format!("{{{digest}}}")
    }

    /// The hash holding every identity's entry of one image.
    pub fn image(&self, id: &ImageId) -> String {
        format!("{}:{}:img", self.prefix, self.image_tag(id))
    }

    /// The image's generation counter (bumped by every write).
    pub fn generation(&self, id: &ImageId) -> String {
        format!("{}:{}:gen", self.prefix, self.image_tag(id))
    }

    /// The fleet-wide epoch (bumped by purge-all).
    pub fn epoch(&self) -> String {
        format!("{}:epoch", self.prefix)
    }

    /// The field of one identity's entry, for one transform variant:
    /// instances with different transform settings never share bodies.
    pub fn field(&self, identity: &Identity, transform: &TransformConfig) -> String {
        let variant = format!("{transform:?}");
        self.digest(&[b"identity", identity.as_bytes(), variant.as_bytes()])
    }

    /// The fill lock of one image and identity.
    pub fn lock(&self, id: &ImageId, field: &str) -> String {
        format!("{}:{}:lock:{field}", self.prefix, self.image_tag(id))
    }

    /// The pub/sub channel for invalidations.
    pub fn channel(&self) -> String {
        format!("{}:invalidate", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderName, HeaderValue};

    fn identity(token: &str) -> Identity {
        let mut headers = HeaderMap::new();
        headers.insert("x-auth-token", HeaderValue::from_str(token).expect("value"));
        let names =
            crate::cache::key::IdentityHeaders::new(vec![HeaderName::from_static("x-auth-token")])
                .expect("short");
        Identity::of(&headers, &names)
    }

    /// Key names carry neither the image id nor anything of the token,
    /// and a secret changes every name.
    #[test]
    fn names_reveal_nothing() {
        let transform = crate::config::Config::defaults().transform;
        let plain = Keys::new("imgcache:v1", None);
        let keyed = Keys::new("imgcache:v1", Some("s3cret"));
        let id = ImageId::new("bc6bed6e-ba3a-4447-afcc-449174a3eb52");
        let who = identity("alice-token");
        for keys in [&plain, &keyed] {
            let names = [
                keys.image(&id),
                keys.field(&who, &transform),
                keys.lock(&id, "f"),
            ];
            for name in names {
                assert!(
                    !name.contains("bc6bed6e") && !name.contains("alice"),
                    "{name}"
                );
            }
        }
        assert_ne!(plain.image(&id), keyed.image(&id));
        assert_ne!(plain.field(&who, &transform), keyed.field(&who, &transform));
        assert_ne!(
            keyed.field(&who, &transform),
            keyed.field(&identity("bob"), &transform)
        );
        assert!(keyed.image(&id).starts_with("imgcache:v1:{"));
    }

    /// The entry hash, the generation and the locks of one image share a
    /// hash tag (one cluster slot); other images and other prefixes get
    /// other tags.
    #[test]
    fn one_image_one_slot() {
        let keys = Keys::new("imgcache:v1", Some("s"));
        let id = ImageId::new("bc6bed6e-ba3a-4447-afcc-449174a3eb52");
        let tag = |key: String| {
            let open = key.find('{').expect("a tag");
            let close = open + key[open..].find('}').expect("closed");
            key[open..=close].to_owned()
        };
        let image = tag(keys.image(&id));
        assert_eq!(image.len(), 2 + DIGEST_HEX);
        assert_eq!(tag(keys.generation(&id)), image);
        assert_eq!(tag(keys.lock(&id, "f")), image);
        assert_ne!(tag(keys.image(&ImageId::new("other"))), image);
        assert_ne!(tag(Keys::new("p2", Some("s")).image(&id)), image);
        assert!(!keys.epoch().contains('{'), "the epoch is global");
    }

    /// Different transform settings give different fields.
    #[test]
    fn variants_do_not_share() {
        let keys = Keys::new("p", None);
        let mut transform = crate::config::Config::defaults().transform;
        let who = identity("t");
        let passthrough = keys.field(&who, &transform);
        transform.mode = crate::transform::Mode::Typed;
        assert_ne!(passthrough, keys.field(&who, &transform));
    }
}
