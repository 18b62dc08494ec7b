//! Counters of the cache keeping up with how images change: image writes
//! by how the upstream took them (`imgcache_image_writes_total{result}`;
//! only accepted ones invalidate).

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
        CoherenceCounters { writes: counters }
    }

    pub(super) fn write(&self, result: WriteResult) {
        let index = WriteResult::ALL
            .iter()
            .position(|r| *r == result)
            .unwrap_or(0);
        self.writes[index].inc();
    }
}
