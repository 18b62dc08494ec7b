//! One access event per request, written when the response body is done
//! (so `bytes` and `latency` cover the whole transfer). Only the method and
//! the path are logged: never headers, so never a token.
//!
//! Off the request path: a request only hands a small record to a bounded
//! queue ([`start`]); one writer thread wakes every few milliseconds,
//! formats what is queued, in batches, and writes each batch to stderr
//! with one write. A synchronous line per
//! request cost a third of the hit rate; this costs a queue push. When the
//! queue is full (stderr blocked, a flood) records are dropped and the
//! drops reported in a WARN line, never waited for. Without a writer
//! (tests, libraries) the event goes to `tracing` as before.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::time::{Duration, Instant, SystemTime};

use http::{Method, Uri};

use crate::cache::outcome::CacheOutcome;

/// Longest path written to the log; absurd paths are cut, not echoed whole.
const MAX_LOGGED_PATH: usize = 256;

/// Records waiting for the writer at most (each ~200 bytes, allocated up
/// front): eight ticks' worth at 100,000 requests/s.
const QUEUE: usize = 16 * 1024;

/// A batch is written once this many bytes are formatted, or the queue
/// is empty.
const BATCH_BYTES: usize = 64 * 1024;

/// How often the writer looks at the queue. It sleeps in between rather
/// than waiting on the queue: a waiting receiver would be woken — a
/// system call and a context switch on a core the workers need — for
/// nearly every request.
const TICK: Duration = Duration::from_millis(20);

/// How long [`flush`] waits for the writer at shutdown.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// The record of one request; handed to the writer when dropped.
pub struct AccessLog {
    method: Method,
    uri: Uri,
    started: Instant,
    status: u16,
    outcome: Option<CacheOutcome>,
    upstream_status: Option<u16>,
    bytes: u64,
    aborted: bool,
}

impl AccessLog {
    /// Starts a record for a request received at `started`.
    pub fn new(method: Method, uri: Uri, started: Instant) -> Self {
        AccessLog {
            method,
            uri,
            started,
            status: 0,
            outcome: None,
            upstream_status: None,
            bytes: 0,
            aborted: false,
        }
    }

    /// Fills in what the response said.
    pub fn respond(
        &mut self,
        status: u16,
        outcome: Option<CacheOutcome>,
        upstream_status: Option<u16>,
    ) {
        self.status = status;
        self.outcome = outcome;
        self.upstream_status = upstream_status;
    }

    /// Counts body bytes sent.
    pub fn add_bytes(&mut self, n: usize) {
        self.bytes += n as u64;
    }

    /// The body failed part-way: the client got an aborted response.
    pub fn mark_aborted(&mut self) {
        self.aborted = true;
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        let record = Record {
            at: SystemTime::now(),
            method: self.method.clone(),
            uri: std::mem::take(&mut self.uri),
            status: self.status,
            outcome: self.outcome,
            upstream_status: self.upstream_status.unwrap_or(0),
            latency: self.started.elapsed(),
            bytes: self.bytes,
            aborted: self.aborted,
        };
        match WRITER.get() {
            Some(writer) => writer.submit(record),
            None => record.trace(),
        }
    }
}

/// What one access line says.
struct Record {
    at: SystemTime,
    method: Method,
    uri: Uri,
    status: u16,
    outcome: Option<CacheOutcome>,
    upstream_status: u16,
    latency: Duration,
    bytes: u64,
    aborted: bool,
}

impl Record {
    /// The path, cut at [`MAX_LOGGED_PATH`] characters.
    fn path(&self) -> &str {
        let path = self.uri.path();
        match path.char_indices().nth(MAX_LOGGED_PATH) {
            Some((cut, _)) => &path[..cut],
            None => path,
        }
    }

    /// The `Cache-Status` value, or `-`.
    fn cache(&self) -> Option<http::HeaderValue> {
        self.outcome.map(|outcome| outcome.header_value())
    }

    /// The event through `tracing`, on the caller's thread.
    fn trace(&self) {
        tracing::info!(
            target: "imgcache::access",
            method = %self.method,
            path = ?self.path(),
            status = self.status,
            cache = cache_text(self.cache().as_ref()),
            upstream_status = self.upstream_status,
            latency_ms = millis(self.latency),
            bytes = self.bytes,
            aborted = self.aborted,
        );
    }

    /// One text line, as `tracing`'s own format writes it: the path and
    /// cache status quoted and escaped, so no byte of a path can start a
    /// line of its own.
    fn text(&self, out: &mut String) {
        let cache = self.cache();
        write_rfc3339(out, self.at);
        let _ = writeln!(
            out,
            "  INFO imgcache::access: method={} path={:?} status={} cache={:?} upstream_status={} latency_ms={} bytes={} aborted={}",
            self.method,
            self.path(),
            self.status,
            cache_text(cache.as_ref()),
            self.upstream_status,
            millis(self.latency),
            self.bytes,
            self.aborted,
        );
    }

    /// One JSON line: every value its JSON type, strings escaped once.
    fn json(&self, out: &mut String) {
        let line = serde_json::json!({
            "timestamp": rfc3339(self.at),
            "level": "INFO",
            "target": "imgcache::access",
            "method": self.method.as_str(),
            "path": self.path(),
            "status": self.status,
            "cache": cache_text(self.cache().as_ref()),
            "upstream_status": self.upstream_status,
            "latency_ms": millis(self.latency),
            "bytes": self.bytes,
            "aborted": self.aborted,
        });
        let _ = writeln!(out, "{line}");
    }
}

fn cache_text(value: Option<&http::HeaderValue>) -> &str {
    value.and_then(|v| v.to_str().ok()).unwrap_or("-")
}

/// Milliseconds with microsecond precision and no float noise.
fn millis(latency: Duration) -> f64 {
    (latency.as_micros() as f64) / 1000.0
}

/// What the writer thread is sent.
enum Message {
    Event(Record),
    /// Write everything queued so far, then say so.
    Flush(SyncSender<()>),
}

/// The queue to the writer thread.
struct Writer {
    queue: SyncSender<Message>,
    dropped: AtomicU64,
}

static WRITER: OnceLock<Writer> = OnceLock::new();

impl Writer {
    fn submit(&self, record: Record) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.queue.try_send(Message::Event(record))
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Starts the writer thread (text or JSON lines on stderr); from then on
/// access events go through it. A second call does nothing.
pub fn start(json: bool) {
    if WRITER.get().is_some() {
        return;
    }
    let (queue, received) = mpsc::sync_channel(QUEUE);
    let writer = Writer {
        queue,
        dropped: AtomicU64::new(0),
    };
    if WRITER.set(writer).is_err() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("imgcache-access-log".into())
        .spawn(move || write_batches(&received, json));
    if let Err(err) = spawned {
        tracing::error!(%err, "cannot start the access log writer: access events are dropped");
    }
}

/// Writes what is queued so far and waits (at most [`FLUSH_WAIT`]) until
/// it is out: at shutdown, so the last requests are logged.
pub fn flush() {
    let Some(writer) = WRITER.get() else { return };
    let (done, wait) = mpsc::sync_channel(1);
    if writer.queue.send(Message::Flush(done)).is_ok() {
        let _ = wait.recv_timeout(FLUSH_WAIT);
    }
}

/// The writer thread: every [`TICK`], whatever is queued, formatted into
/// batches of about [`BATCH_BYTES`], each written with one call.
fn write_batches(received: &Receiver<Message>, json: bool) {
    let mut batch = String::with_capacity(BATCH_BYTES * 2);
    let mut reported = 0;
    loop {
        std::thread::sleep(TICK);
        let mut flushed = Vec::new();
        loop {
            let message = match received.try_recv() {
                Ok(message) => message,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            };
            match message {
                Message::Event(record) if json => record.json(&mut batch),
                Message::Event(record) => record.text(&mut batch),
                Message::Flush(done) => flushed.push(done),
            }
            if batch.len() >= BATCH_BYTES {
                write_out(&mut batch);
            }
        }
        write_out(&mut batch);
        for done in flushed {
            let _ = done.send(());
        }
        let dropped = WRITER
            .get()
            .map_or(0, |w| w.dropped.load(Ordering::Relaxed));
        if dropped > reported {
            tracing::warn!(
                dropped = dropped - reported,
                "access log queue full: access events dropped"
            );
            reported = dropped;
        }
    }
}

/// Writes a batch to stderr with one call, and empties it.
fn write_out(batch: &mut String) {
    if batch.is_empty() {
        return;
    }
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(batch.as_bytes());
    let _ = stderr.flush();
    batch.clear();
}

/// Appends [`rfc3339`] of `at`; the date and time up to the second are
/// formatted once per second (the writer is one thread).
fn write_rfc3339(out: &mut String, at: SystemTime) {
    thread_local! {
        static SECOND: std::cell::RefCell<(u64, String)> =
            const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != since.as_secs() {
            let whole = rfc3339(at);
            let seconds = whole.len() - ".000000Z".len();
            *cached = (since.as_secs(), whole[..seconds].to_owned());
        }
        out.push_str(&cached.1);
    });
    let _ = write!(out, ".{:06}Z", since.subsec_micros());
}

/// `2026-12-07T21:36:23.032203Z`, as `tracing`'s own lines stamp time.
fn rfc3339(at: SystemTime) -> String {
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_micros()
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(path: &str) -> Record {
        Record {
            at: SystemTime::UNIX_EPOCH + Duration::from_micros(1_796_678_183_032_203),
            method: Method::GET,
            uri: path.parse().expect("uri"),
            status: 200,
            outcome: None,
            upstream_status: 0,
            latency: Duration::from_micros(701),
            bytes: 1234,
            aborted: false,
        }
    }

    /// Dates as tracing writes them, across leap years and centuries.
    #[test]
    fn timestamps() {
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH),
            "1970-01-01T00:00:00.000000Z"
        );
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_794), (2026, 12, 7));
        assert_eq!(rfc3339(record("/").at), "2026-12-07T21:16:23.032203Z");
    }

    /// A text line: one line whatever the path holds, escaped.
    #[test]
    fn text_lines_escape_paths() {
        let mut out = String::new();
        record("/v2/images/x%0aFORGED").text(&mut out);
        assert_eq!(out.lines().count(), 1);
        assert!(out.contains(r#"path="/v2/images/x%0aFORGED""#), "{out}");
        assert!(out.contains("latency_ms=0.701 "), "{out}");
        assert!(out.contains(r#"cache="-""#), "{out}");
        assert!(
            out.starts_with("2026-12-07T21:16:23.032203Z  INFO"),
            "{out}"
        );
    }

    /// A JSON line: the path a plain string (not quoted twice), latency
    /// without float noise.
    #[test]
    fn json_lines_are_typed() {
        let mut out = String::new();
        record("/v2/images/abc").json(&mut out);
        let line: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
        assert_eq!(line["path"], "/v2/images/abc");
        assert_eq!(line["latency_ms"], 0.701);
        assert_eq!(line["status"], 200);
        assert_eq!(line["target"], "imgcache::access");
    }
}
