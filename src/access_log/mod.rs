//! One access event per request, written when the response body is done
//! (so `bytes` and `total_us` cover the whole transfer): request id,
//! client, method, path and query, user agent, status, cache outcome,
//! principal kind, bytes and times ([`Event`]). Of the headers only the
//! user agent and the request id are logged (escaped, cut), never a
//! credential: the principal is its kind (`token`, `signed`, …).
//!
//! Off the request path: a request only hands a small record to a bounded
//! queue ([`start`]); one writer thread wakes every few milliseconds,
//! formats what is queued, in batches, and writes each batch to stderr
//! with one write. A synchronous line per
//! request cost a third of the hit rate; this costs a queue push. When the
//! queue is full (stderr blocked, a flood) records are dropped and the
//! drops reported in a WARN line, never waited for. Without a writer
//! (tests, libraries) the event goes to `tracing` as before.

mod line;
mod time;

use std::io::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::time::{Duration, Instant, SystemTime};

use line::Record;
pub use line::{Event, Inline, MAX_USER_AGENT};

/// Records waiting for the writer at most (each ~400 bytes, allocated up
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

/// The record of one request; handed to the writer when dropped (once
/// its body is sent, or abandoned).
pub struct AccessLog {
    started: Instant,
    /// `None` only once dropped.
    event: Option<Event>,
}

impl AccessLog {
    /// Starts a record for a request received at `started`.
    pub fn new(event: Event, started: Instant) -> Self {
        AccessLog {
            started,
            event: Some(event),
        }
    }

    /// Counts body bytes sent.
    pub fn add_bytes(&mut self, n: usize) {
        if let Some(event) = &mut self.event {
            event.bytes += n as u64;
        }
    }

    /// The body failed part-way: the client got an aborted response.
    pub fn mark_aborted(&mut self) {
        if let Some(event) = &mut self.event {
            event.aborted = true;
        }
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        let Some(event) = self.event.take() else {
            return;
        };
        let record = Record {
            at: SystemTime::now(),
            total: self.started.elapsed(),
            event,
        };
        match WRITER.get() {
            Some(writer) => writer.submit(record),
            None => record.trace(),
        }
    }
}

/// What the writer thread is sent.
// A record is moved into the queue's slot as it is: boxing it would be
// one allocation per request.
#[allow(clippy::large_enum_variant)]
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
