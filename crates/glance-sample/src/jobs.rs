//! Asynchronous work: Glance's import tasks and IMS's jobs (issue
//! "coherence": a write that lands later than its answer).
//!
//! A job is started by a handler with what it does to the catalogue when
//! it ends (`Finish`). It ends after the configured delay (default
//! [`DEFAULT_DELAY`]) or when a test says so ([`Jobs::finish`]). Ending is
//! lazy: a due job is finished by the next request or control call that
//! looks (`settle`), never by a timer, so nothing changes behind a test's
//! back and a test can hold every job with `set_delay(None)`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::clock;
use super::store::Store;

/// How long a job runs unless told otherwise.
pub const DEFAULT_DELAY: Duration = Duration::from_secs(1);
/// Finished jobs kept for `GET /v1/{project}/jobs/{id}`; older ones are
/// forgotten so that a long benchmark cannot grow memory.
const KEEP_FINISHED: usize = 10_000;

/// How a job ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It did what it was asked.
    Success,
    /// It failed, for this reason.
    Fail(String),
}

/// What a job does to the catalogue when it ends, given its id.
pub type Finish = Box<dyn FnOnce(&Store, &str, &Outcome) + Send>;

/// Which API started a job, and so how it is named and shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A Glance `api_image_import` task (id: a UUID).
    GlanceImport,
    /// An IMS job of this `job_type` (id: 32 hex digits).
    Ims(&'static str),
}

/// What an IMS job reports in `entities`.
#[derive(Clone, Debug)]
pub enum Entities {
    /// `{"image_id": …}` (image registration).
    Image(String),
    /// `{"results": [{"image_id", "project_id", "status"}…]}` (members).
    Members(Vec<(String, String)>),
    /// Nothing (Glance tasks).
    None,
}

struct Job {
    id: String,
    kind: Kind,
    project: String,
    begun: Instant,
    begin_time: String,
    end_time: String,
    outcome: Option<Outcome>,
    entities: Entities,
    finish: Option<Finish>,
}

/// Every job, in start order.
pub struct Jobs {
    delay: Mutex<Option<Duration>>,
    running: AtomicUsize,
    jobs: Mutex<Vec<Job>>,
}

impl Default for Jobs {
    fn default() -> Self {
        Jobs {
            delay: Mutex::new(Some(DEFAULT_DELAY)),
            running: AtomicUsize::new(0),
            jobs: Mutex::new(Vec::new()),
        }
    }
}

/// A new job's description.
pub struct NewJob {
    /// Which API started it.
    pub kind: Kind,
    /// The project that may query it.
    pub project: String,
    /// What it reports.
    pub entities: Entities,
    /// What it does when it ends.
    pub finish: Finish,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Jobs are pushed and updated whole; a poisoned lock is still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Jobs {
    /// Jobs end this long after they start; None: only when told.
    pub fn set_delay(&self, delay: Option<Duration>) {
        *lock(&self.delay) = delay;
    }

    /// Starts a job; returns its id.
    pub fn start(&self, new: NewJob) -> String {
        let uuid = uuid::Uuid::new_v4();
        let id = match new.kind {
            Kind::GlanceImport => uuid.hyphenated().to_string(),
            Kind::Ims(_) => uuid.simple().to_string(),
        };
        let job = Job {
            id: id.clone(),
            kind: new.kind,
            project: new.project,
            begun: Instant::now(),
            begin_time: clock::now_timestamp_millis(),
            end_time: String::new(),
            outcome: None,
            entities: new.entities,
            finish: Some(new.finish),
        };
        let mut jobs = lock(&self.jobs);
        if jobs.len() >= KEEP_FINISHED
            && let Some(oldest) = jobs.iter().position(|j| j.outcome.is_some())
        {
            jobs.remove(oldest);
        }
        jobs.push(job);
        self.running.fetch_add(1, Ordering::Relaxed);
        id
    }

    /// Finishes every job whose delay has passed.
    pub fn settle(&self, store: &Store) {
        if self.running.load(Ordering::Relaxed) == 0 {
            return;
        }
        let Some(delay) = *lock(&self.delay) else {
            return;
        };
        let now = Instant::now();
        self.end(
            store,
            |job| now.duration_since(job.begun) >= delay,
            &Outcome::Success,
        );
    }

    /// Ends the running job `id` (every running job when None) with
    /// `outcome`; returns how many ended.
    pub fn finish(&self, store: &Store, id: Option<&str>, outcome: &Outcome) -> usize {
        self.end(store, |job| id.is_none_or(|id| job.id == id), outcome)
    }

    fn end(&self, store: &Store, due: impl Fn(&Job) -> bool, outcome: &Outcome) -> usize {
        // Take the effects under the lock, apply them after: they lock the
        // store, and a request may hold the store while starting a job.
        let finishes: Vec<(String, Finish)> = {
            let mut jobs = lock(&self.jobs);
            let end_time = clock::now_timestamp_millis();
            jobs.iter_mut()
                .filter(|job| job.outcome.is_none() && due(job))
                .filter_map(|job| {
                    job.outcome = Some(outcome.clone());
                    job.end_time.clone_from(&end_time);
                    job.finish.take().map(|finish| (job.id.clone(), finish))
                })
                .collect()
        };
        self.running.fetch_sub(finishes.len(), Ordering::Relaxed);
        let ended = finishes.len();
        for (id, finish) in finishes {
            finish(store, &id, outcome);
        }
        ended
    }

    /// Whether job `id` is still running.
    pub fn is_running(&self, id: &str) -> bool {
        lock(&self.jobs)
            .iter()
            .any(|job| job.id == id && job.outcome.is_none())
    }

    /// Ids of the running jobs, in start order.
    pub fn running(&self) -> Vec<String> {
        lock(&self.jobs)
            .iter()
            .filter(|job| job.outcome.is_none())
            .map(|job| job.id.clone())
            .collect()
    }

    /// IMS's view of job `id` for a caller of `project` (None: no such
    /// IMS job, or another project's and the caller is no admin).
    pub fn ims_view(&self, id: &str, project: &str, admin: bool) -> Option<Value> {
        let jobs = lock(&self.jobs);
        let job = jobs.iter().find(|job| job.id == id)?;
        let Kind::Ims(job_type) = job.kind else {
            return None;
        };
        if job.project != project && !admin {
            return None;
        }
        let (status, fail_reason) = match &job.outcome {
            None => ("RUNNING", Value::Null),
            Some(Outcome::Success) => ("SUCCESS", Value::Null),
            Some(Outcome::Fail(reason)) => ("FAIL", json!(reason)),
        };
        Some(json!({
            "job_id": job.id,
            "job_type": job_type,
            "begin_time": job.begin_time,
            "end_time": job.end_time,
            "status": status,
            "error_code": null,
            "fail_reason": fail_reason,
            "entities": entities(&job.entities, status),
        }))
    }
}

fn entities(entities: &Entities, status: &str) -> Value {
    match entities {
        Entities::Image(id) => json!({"image_id": id}),
        Entities::Members(pairs) => {
            let results: Vec<Value> = pairs
                .iter()
                .map(|(image, project)| {
                    json!({"image_id": image, "project_id": project, "status": status})
                })
                .collect();
            json!({"results": results})
        }
        Entities::None => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicU32;

    use super::*;

    fn counting_job(kind: Kind, ends: &Arc<AtomicU32>) -> NewJob {
        let ends = ends.clone();
        NewJob {
            kind,
            project: "p".into(),
            entities: Entities::Image("img".into()),
            finish: Box::new(move |_, _, outcome| {
                if *outcome == Outcome::Success {
                    ends.fetch_add(1, Ordering::Relaxed);
                }
            }),
        }
    }

    /// A held job runs until finished, once; its IMS view follows.
    #[test]
    fn finish_ends_a_job_once() {
        let (jobs, store, ends) = (Jobs::default(), Store::default(), Arc::default());
        jobs.set_delay(None);
        let id = jobs.start(counting_job(Kind::Ims("imsNativeImportImageJob"), &ends));
        assert_eq!(id.len(), 32);
        jobs.settle(&store);
        assert!(jobs.is_running(&id));
        let view = jobs.ims_view(&id, "p", false).expect("visible");
        assert_eq!(
            (view["status"].as_str(), view["end_time"].as_str()),
            (Some("RUNNING"), Some(""))
        );
        assert!(jobs.ims_view(&id, "other", false).is_none());
        assert!(jobs.ims_view(&id, "other", true).is_some());
        assert_eq!(jobs.finish(&store, Some(&id), &Outcome::Success), 1);
        assert_eq!(jobs.finish(&store, None, &Outcome::Success), 0);
        assert_eq!(ends.load(Ordering::Relaxed), 1);
        let view = jobs.ims_view(&id, "p", false).expect("visible");
        assert_eq!(view["status"], "SUCCESS");
        assert_eq!(view["entities"], json!({"image_id": "img"}));
    }

    /// With a zero delay, the next look finishes the job; Glance tasks get
    /// UUIDs and no IMS view.
    #[test]
    fn settle_finishes_due_jobs() {
        let (jobs, store, ends) = (Jobs::default(), Store::default(), Arc::default());
        jobs.set_delay(Some(Duration::ZERO));
        let id = jobs.start(counting_job(Kind::GlanceImport, &ends));
        assert!(uuid::Uuid::parse_str(&id).is_ok() && id.contains('-'));
        assert_eq!(jobs.running(), std::slice::from_ref(&id));
        jobs.settle(&store);
        assert!(jobs.running().is_empty());
        assert_eq!(ends.load(Ordering::Relaxed), 1);
        assert!(jobs.ims_view(&id, "p", true).is_none());
    }

    /// A failed member job reports FAIL with its reason in every result.
    #[test]
    fn failed_job_view() {
        let (jobs, store) = (Jobs::default(), Store::default());
        let id = jobs.start(NewJob {
            kind: Kind::Ims("imsAddImageMembersJob"),
            project: "p".into(),
            entities: Entities::Members(vec![("i".into(), "q".into())]),
            finish: Box::new(|_, _, _| {}),
        });
        jobs.finish(&store, Some(&id), &Outcome::Fail("no".into()));
        let view = jobs.ims_view(&id, "p", false).expect("visible");
        assert_eq!(view["fail_reason"], "no");
        assert_eq!(view["entities"]["results"][0]["status"], "FAIL");
        assert_eq!(view["entities"]["results"][0]["project_id"], "q");
    }
}
