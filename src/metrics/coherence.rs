//! Counters of the cache keeping up with how images change: image writes
//! by how the upstream took them (`imgcache_image_writes_total{result}`;
//! only accepted ones invalidate), accepted writes whose images could not
//! be read and so invalidated everything
//! (`imgcache_invalidations_conservative_total`), and IMS jobs whose
//! images were held until they ended (`imgcache_jobs_held_total`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// How the upstream took an image write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteResult {
    /// 2xx or 3xx: the images are invalidated.
    Accepted,
    /// 4xx or 5xx: nothing changed, nothing is invalidated.
    Refused,
    /// No answer (connection broken, timeout): nothing is invalidated.
    Unanswered,
}

impl WriteResult {
    const ALL: [WriteResult; 3] = [
        WriteResult::Accepted,
        WriteResult::Refused,
        WriteResult::Unanswered,
    ];

    fn label(self) -> &'static str {
        match self {
            WriteResult::Accepted => "accepted",
            WriteResult::Refused => "refused",
            WriteResult::Unanswered => "unanswered",
        }
    }
}

pub(super) struct CoherenceCounters {
    writes: [Counter; 3],
    conservative: Counter,
    jobs_held: Counter,
}

impl CoherenceCounters {
    /// Creates and registers them (every label present from the start).
    pub(super) fn register(registry: &mut Registry) -> CoherenceCounters {
        let writes = Family::<ResultLabels, Counter>::default();
        let counters = WriteResult::ALL.map(|result| {
            writes
                .get_or_create(&ResultLabels {
                    result: result.label(),
                })
                .clone()
        });
        registry.register(
            "image_writes",
            "Image writes through the proxy by how the upstream took them; only accepted ones invalidate",
            writes,
        );
        let conservative = Counter::default();
        registry.register(
            "invalidations_conservative",
            "Accepted writes whose image ids could not be read from their body (too large, chunked, malformed): every entry was invalidated",
            conservative.clone(),
        );
        let jobs_held = Counter::default();
        registry.register(
            "jobs_held",
            "Asynchronous writes (IMS jobs) whose images were held out of the cache until the job ended",
            jobs_held.clone(),
        );
        CoherenceCounters {
            writes: counters,
            conservative,
            jobs_held,
        }
    }

    pub(super) fn conservative(&self) {
        self.conservative.inc();
    }

    pub(super) fn job_held(&self) {
        self.jobs_held.inc();
    }

    pub(super) fn write(&self, result: WriteResult) {
        let index = WriteResult::ALL
            .iter()
            .position(|r| *r == result)
            .unwrap_or(0);
        self.writes[index].inc();
    }
}
