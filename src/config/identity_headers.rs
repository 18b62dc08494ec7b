//! `cache.identity_headers` as a value: the header names whose values
//! make up a caller's identity. It lives here, on the ground floor, so
//! config needs no cache module; `cache::key` hashes with it.

use http::HeaderName;

/// Most identity headers a config may name (the presence of each in a
/// request is tracked in a fixed bit set, without allocating).
pub const MAX_IDENTITY_HEADERS: usize = 256;

/// The identity header names, in their configured order (a name's
/// position is part of the hash), with a case-insensitive lookup so a
/// request's headers are matched in one pass over the request, however
/// long the list.
#[derive(Clone, Debug)]
pub struct IdentityHeaders {
    names: Vec<HeaderName>,
    /// Lower-case names, sorted, with their position in `names`.
    sorted: Vec<(HeaderName, usize)>,
    longest: usize,
}

impl PartialEq for IdentityHeaders {
    fn eq(&self, other: &Self) -> bool {
        self.names == other.names
    }
}

impl IdentityHeaders {
    /// The list, in order, without repeats; `None` past
    /// [`MAX_IDENTITY_HEADERS`].
    pub fn new(names: Vec<HeaderName>) -> Option<IdentityHeaders> {
        let mut unique: Vec<HeaderName> = Vec::with_capacity(names.len());
        for name in names {
            if !unique.contains(&name) {
                unique.push(name);
            }
        }
        if unique.len() > MAX_IDENTITY_HEADERS {
            return None;
        }
        let mut sorted: Vec<(HeaderName, usize)> = unique.iter().cloned().zip(0..).collect();
        sorted.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        let longest = unique.iter().map(|n| n.as_str().len()).max().unwrap_or(0);
        Some(IdentityHeaders {
            names: unique,
            sorted,
            longest,
        })
    }

    /// No identity headers: every caller is one.
    pub fn none() -> IdentityHeaders {
        IdentityHeaders {
            names: Vec::new(),
            sorted: Vec::new(),
            longest: 0,
        }
    }

    /// The names, in order.
    pub fn names(&self) -> &[HeaderName] {
        &self.names
    }

    /// The position of `name` (any case) in the list.
    pub fn position(&self, name: &str) -> Option<usize> {
        if name.len() > self.longest {
            return None;
        }
        let lowered = name.bytes().map(|b| b.to_ascii_lowercase());
        self.sorted
            .binary_search_by(|(known, _)| known.as_str().bytes().cmp(lowered.clone()))
            .ok()
            .map(|at| self.sorted[at].1)
    }
}
