//! Principal counters: signed requests by what their signature was
//! (`imgcache_signed_requests_total{result}`) and Keystone validation
//! calls by their answer (`imgcache_token_validations_total{result}`) and
//! how long they took
//! (`imgcache_keystone_validation_duration_seconds{result}`).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use super::signing::{SignatureCheck, Unverified};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// The `result` labels of signed requests, in [`signed_index`] order.
const SIGNED_RESULTS: [&str; 6] = [
    "verified",
    "malformed",
    "unknown_key",
    "clock_skew",
    "body_not_read",
    "bad_signature",
];

/// The answer of one validation call to Keystone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenValidation {
    Valid,
    Invalid,
    /// No usable answer (down, slow, refused by policy).
    Unavailable,
}

const VALIDATION_RESULTS: [&str; 3] = ["valid", "invalid", "unavailable"];

/// Buckets of a validation call's duration: 1 ms to ~8 s (past
/// `identity.timeout`'s usual few seconds).
fn validation_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 14))
}

pub(super) struct PrincipalCounters {
    signed: [Counter; 6],
    validations: [Counter; 3],
    /// In [`VALIDATION_RESULTS`] order.
    validation_seconds: [Histogram; 3],
}

impl PrincipalCounters {
    /// Creates and registers them (every label present from the start).
    pub(super) fn register(registry: &mut Registry) -> PrincipalCounters {
        let signed = Family::<ResultLabels, Counter>::default();
        let signed_counters =
            SIGNED_RESULTS.map(|result| signed.get_or_create(&ResultLabels { result }).clone());
        registry.register(
            "signed_requests",
            "Requests with an AK/SK signature (Authorization: SDK-HMAC-SHA256 or another signing scheme), by whether the proxy verified it; only verified ones use the cache",
            signed,
        );
        let validations = Family::<ResultLabels, Counter>::default();
        let validation_counters = VALIDATION_RESULTS
            .map(|result| validations.get_or_create(&ResultLabels { result }).clone());
        registry.register(
            "token_validations",
            "Calls to Keystone validating a token not seen within identity.validation_ttl, by answer",
            validations,
        );
        let durations = Family::<ResultLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            validation_histogram,
        );
        let validation_seconds = VALIDATION_RESULTS
            .map(|result| durations.get_or_create(&ResultLabels { result }).clone());
        registry.register_with_unit(
            "keystone_validation_duration",
            "How long calls to Keystone validating a token took (up to identity.timeout), by answer",
            Unit::Seconds,
            durations,
        );
        PrincipalCounters {
            signed: signed_counters,
            validations: validation_counters,
            validation_seconds,
        }
    }

    pub(super) fn signed(&self, check: &SignatureCheck) {
        let index = match check {
            SignatureCheck::NotSigned => return,
            SignatureCheck::Verified(_) => 0,
            SignatureCheck::Unverified { reason, .. } => signed_index(*reason),
        };
        self.signed[index].inc();
    }

    /// One call to Keystone: its answer and how long it took.
    pub(super) fn validation(&self, answer: TokenValidation, took: Duration) {
        let index = match answer {
            TokenValidation::Valid => 0,
            TokenValidation::Invalid => 1,
            TokenValidation::Unavailable => 2,
        };
        self.validations[index].inc();
        self.validation_seconds[index].observe(took.as_secs_f64());
    }
}

/// Where an unverified reason's label sits in [`SIGNED_RESULTS`].
fn signed_index(reason: Unverified) -> usize {
    match reason {
        Unverified::Malformed => 1,
        Unverified::UnknownKey => 2,
        Unverified::ClockSkew => 3,
        Unverified::BodyNotRead => 4,
        Unverified::BadSignature => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each reason's counter carries that reason's own label.
    #[test]
    fn labels_line_up() {
        for reason in [
            Unverified::Malformed,
            Unverified::UnknownKey,
            Unverified::ClockSkew,
            Unverified::BodyNotRead,
            Unverified::BadSignature,
        ] {
            assert_eq!(SIGNED_RESULTS[signed_index(reason)], reason.label());
        }
    }
}
