//! The image catalogue: records in a stable list order, each with its
//! serialised body cached so that a read is a lock, a lookup and a refcount.

use std::collections::{BTreeMap, HashMap};
use std::sync::{PoisonError, RwLock};

use bytes::Bytes;
use serde_json::{Map, Value};

/// One project's membership of a shared image.
#[derive(Clone, Debug)]
pub struct Member {
    /// The member project id.
    pub project: String,
    /// `pending`, `accepted` or `rejected`.
    pub status: String,
    /// When the membership was created.
    pub created_at: String,
    /// When the membership last changed.
    pub updated_at: String,
}

/// An image as stored: its JSON fields in representation order, plus members.
#[derive(Clone, Debug)]
pub struct Record {
    /// The image representation, in the order Glance prints it.
    pub fields: Map<String, Value>,
    /// Member projects (meaningful for `shared` images).
    pub members: Vec<Member>,
    /// Uploaded file content, kept only when small; otherwise downloads
    /// serve the generated pattern.
    pub data: Option<Bytes>,
}

impl Record {
    fn str_field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }

    /// The owning project, if the image has one.
    pub fn owner(&self) -> Option<&str> {
        self.str_field("owner")
    }

    /// `public`, `private`, `shared` or `community` (Glance's default is shared).
    pub fn visibility(&self) -> &str {
        self.str_field("visibility").unwrap_or("shared")
    }

    /// The image status (`active`, `queued`, …).
    pub fn status(&self) -> &str {
        self.str_field("status").unwrap_or("queued")
    }

    /// Whether `project` is a member of the image.
    pub fn has_member(&self, project: &str) -> bool {
        self.members.iter().any(|m| m.project == project)
    }
}

struct Entry {
    seq: u64,
    record: Record,
    body: Bytes,
}

impl Entry {
    fn new(seq: u64, record: Record) -> Self {
        let body = glance_json::to_bytes(&Value::Object(record.fields.clone()));
        Entry { seq, record, body }
    }
}

#[derive(Default)]
struct Catalogue {
    by_id: HashMap<String, Entry>,
    /// List order: insertion sequence → id.
    order: BTreeMap<u64, String>,
    next_seq: u64,
}

/// A page of the image list.
pub struct Page {
    /// The serialised images of the page, in list order.
    pub bodies: Vec<Bytes>,
    /// The last image id on the page when more images follow it.
    pub next_marker: Option<String>,
}

/// The `marker` of a list request names no image.
#[derive(Debug)]
pub struct MarkerNotFound;

/// The shared catalogue. Locks are held only for map operations, never
/// across an `.await`.
#[derive(Default)]
pub struct Store {
    inner: RwLock<Catalogue>,
}

impl Store {
    fn read_lock(&self) -> std::sync::RwLockReadGuard<'_, Catalogue> {
        // A panic while holding the lock cannot leave a half-written entry
        // (entries are replaced whole), so a poisoned lock is still usable.
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_lock(&self) -> std::sync::RwLockWriteGuard<'_, Catalogue> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Inserts or replaces an image (a JSON object with a string `"id"`).
    /// A replaced image keeps its place in the list. Returns false, storing
    /// nothing, for anything else.
    pub fn insert(&self, image: Value) -> bool {
        let Value::Object(fields) = image else {
            return false;
        };
        let Some(id) = fields.get("id").and_then(Value::as_str).map(str::to_owned) else {
            return false;
        };
        let mut cat = self.write_lock();
        let (seq, members) = match cat.by_id.get_mut(&id) {
            Some(old) => (old.seq, std::mem::take(&mut old.record.members)),
            None => {
                let seq = cat.next_seq;
                cat.next_seq += 1;
                cat.order.insert(seq, id.clone());
                (seq, Vec::new())
            }
        };
        let record = Record {
            fields,
            members,
            data: None,
        };
        cat.by_id.insert(id, Entry::new(seq, record));
        true
    }

    /// Removes an image; false if there was none.
    pub fn remove(&self, id: &str) -> bool {
        let mut cat = self.write_lock();
        match cat.by_id.remove(id) {
            Some(entry) => {
                cat.order.remove(&entry.seq);
                true
            }
            None => false,
        }
    }

    /// Runs `f` on the image record and its cached body.
    pub fn read<T>(&self, id: &str, f: impl FnOnce(&Record, &Bytes) -> T) -> Option<T> {
        let cat = self.read_lock();
        cat.by_id.get(id).map(|e| f(&e.record, &e.body))
    }

    /// Runs `f` on a mutable record and re-serialises the body when `f`
    /// returns `Ok`. On `Err`, `f` must have left the record unchanged.
    pub fn modify<T, E>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Record) -> Result<T, E>,
    ) -> Option<Result<T, E>> {
        let mut cat = self.write_lock();
        let entry = cat.by_id.get_mut(id)?;
        let result = f(&mut entry.record);
        if result.is_ok() {
            entry.body = glance_json::to_bytes(&Value::Object(entry.record.fields.clone()));
        }
        Some(result)
    }

    /// Removes an image if `check` approves of it.
    pub fn remove_if<E>(
        &self,
        id: &str,
        check: impl FnOnce(&Record) -> Result<(), E>,
    ) -> Option<Result<(), E>> {
        let mut cat = self.write_lock();
        let entry = cat.by_id.get(id)?;
        if let Err(err) = check(&entry.record) {
            return Some(Err(err));
        }
        let seq = entry.seq;
        cat.by_id.remove(id);
        cat.order.remove(&seq);
        Some(Ok(()))
    }

    /// The current representation of an image.
    pub fn value(&self, id: &str) -> Option<Value> {
        self.read(id, |r, _| Value::Object(r.fields.clone()))
    }

    /// The body of some image other than `id` (for the wrong-id fault).
    pub fn other_body(&self, id: &str) -> Option<Bytes> {
        let cat = self.read_lock();
        let other = cat.order.values().find(|other| other.as_str() != id)?;
        cat.by_id.get(other).map(|e| e.body.clone())
    }

    /// Up to `limit` images after `marker` that pass `filter`, in list order.
    pub fn page(
        &self,
        marker: Option<&str>,
        limit: usize,
        filter: impl Fn(&Record) -> bool,
    ) -> Result<Page, MarkerNotFound> {
        let cat = self.read_lock();
        let start = match marker {
            Some(m) => cat.by_id.get(m).ok_or(MarkerNotFound)?.seq + 1,
            None => 0,
        };
        let mut matches = cat
            .order
            .range(start..)
            .filter_map(|(_, id)| cat.by_id.get(id).map(|e| (id, e)))
            .filter(|(_, e)| filter(&e.record));
        let mut bodies = Vec::with_capacity(limit.min(1000));
        let mut last = None;
        for (id, entry) in matches.by_ref().take(limit) {
            bodies.push(entry.body.clone());
            last = Some(id.clone());
        }
        // A `next` link only when something really follows the page.
        let more = matches.next().is_some();
        Ok(Page {
            bodies,
            next_marker: last.filter(|_| more),
        })
    }

    /// Number of stored images.
    pub fn len(&self) -> usize {
        self.read_lock().by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store_with(ids: &[&str]) -> Store {
        let store = Store::default();
        for id in ids {
            assert!(store.insert(json!({"id": id, "name": id, "visibility": "public"})));
        }
        store
    }

    /// Paging follows insertion order and links `next` only when more follow.
    #[test]
    fn pages_in_insertion_order() {
        let store = store_with(&["c", "a", "b"]);
        let page = store.page(None, 2, |_| true).expect("page");
        assert_eq!(page.bodies.len(), 2);
        assert_eq!(page.next_marker.as_deref(), Some("a"));
        let page = store.page(Some("a"), 2, |_| true).expect("page");
        assert_eq!(page.bodies.len(), 1);
        assert_eq!(page.next_marker, None);
        assert!(store.page(Some("zz"), 2, |_| true).is_err());
    }

    /// Replacing an image keeps its list position and refreshes its body.
    #[test]
    fn replace_keeps_position() {
        let store = store_with(&["a", "b"]);
        assert!(store.insert(json!({"id": "a", "name": "new"})));
        let page = store.page(None, 1, |_| true).expect("page");
        assert_eq!(&page.bodies[0][..], br#"{"id": "a", "name": "new"}"#);
        assert!(!store.insert(json!({"name": "no id"})));
        assert_eq!(store.len(), 2);
    }

    /// A failed modification does not re-serialise; a successful one does.
    #[test]
    fn modify_reserialises_on_ok() {
        let store = store_with(&["a"]);
        let r: Option<Result<(), ()>> = store.modify("a", |r| {
            r.fields.insert("name".into(), json!("x"));
            Ok(())
        });
        assert!(matches!(r, Some(Ok(()))));
        let body = store.read("a", |_, b| b.clone()).expect("image a");
        assert!(body.starts_with(br#"{"id": "a", "name": "x""#));
        assert!(store.remove("a"));
        assert!(!store.remove("a"));
        assert!(store.value("a").is_none());
    }
}
