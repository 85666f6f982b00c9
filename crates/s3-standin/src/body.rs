//! The response body as it goes on the wire: sliced into chunks, paced by the
//! shared link, counted, and bent by body-level faults (reset, short body,
//! stall, slow drip). It also logs the finished request.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::Sleep;

use crate::link::Link;
use crate::stats::{Op, RequestRecord, StatsCollector};

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Pause before an injected reset or early end: lets hyper flush what it
/// buffered (it drops its buffer when a body fails) and the kernel deliver
/// it (an RST discards unsent data).
const FAULT_FLUSH_GRACE: Duration = Duration::from_millis(50);

/// Body-level fault, resolved to byte offsets for this response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFault {
    None,
    /// Reset the connection after this many body bytes.
    Reset {
        after: u64,
    },
    /// End the body after this many bytes (fewer than announced).
    Short {
        after: u64,
    },
    /// Pause for `duration` after `at` bytes.
    Stall {
        at: u64,
        duration: Duration,
    },
    /// Pace this body at `bytes_per_sec`.
    Drip {
        bytes_per_sec: u64,
    },
}

/// Counts a request's body bytes and logs it once it is over.
pub(crate) struct RecordSink {
    stats: Arc<StatsCollector>,
    epoch: u64,
    op: Op,
    record: Option<RequestRecord>,
}

impl RecordSink {
    pub(crate) fn new(stats: Arc<StatsCollector>, epoch: u64, record: RequestRecord) -> RecordSink {
        RecordSink {
            stats,
            epoch,
            op: record.op,
            record: Some(record),
        }
    }

    fn count(&self, bytes: u64) {
        self.stats.count_body_bytes(self.epoch, self.op, bytes);
    }

    /// Logs the request with the bytes actually sent; later calls do nothing.
    pub(crate) fn finish(&mut self, sent: u64) {
        if let Some(mut record) = self.record.take() {
            record.body_bytes = sent;
            record.finished_us = self.stats.now_us();
            self.stats.log(self.epoch, record);
        }
    }
}

/// What to do when the pending timer fires.
enum AfterTimer {
    Nothing,
    Emit(Bytes),
    Reset,
    End,
}

pub(crate) struct ShapedBody {
    inner: s3s::Body,
    /// Data taken from `inner` and not yet sent.
    pending: Bytes,
    sent: u64,
    /// Length announced to the client, when known.
    announced: Option<u64>,
    fault: BodyFault,
    stalled: bool,
    drip_next: Option<Instant>,
    link: Arc<Link>,
    /// The connection's socket, to make an injected reset a real TCP RST.
    socket: Option<Arc<std::net::TcpStream>>,
    timer: Option<Pin<Box<Sleep>>>,
    after_timer: AfterTimer,
    sink: RecordSink,
    done: bool,
}

impl ShapedBody {
    pub(crate) fn new(
        inner: s3s::Body,
        announced: Option<u64>,
        fault: BodyFault,
        link: Arc<Link>,
        socket: Option<Arc<std::net::TcpStream>>,
        sink: RecordSink,
    ) -> ShapedBody {
        ShapedBody {
            inner,
            pending: Bytes::new(),
            sent: 0,
            announced,
            fault,
            stalled: false,
            drip_next: None,
            link,
            socket,
            timer: None,
            after_timer: AfterTimer::Nothing,
            sink,
            done: false,
        }
    }

    fn end(&mut self) {
        self.done = true;
        self.sink.finish(self.sent);
    }

    fn emit(&mut self, chunk: Bytes) -> Frame<Bytes> {
        let len = chunk.len() as u64;
        self.sent += len;
        self.sink.count(len);
        // Log before the last bytes leave, so a client that has read the
        // whole body always finds its request in the stats.
        if self.announced == Some(self.sent) {
            self.sink.finish(self.sent);
        }
        Frame::data(chunk)
    }

    fn reset_connection(&self) {
        if let Some(socket) = &self.socket {
            // Zero linger turns the close that follows into an RST; if it
            // cannot be set the connection is still dropped, with a FIN.
            let _ = socket2::SockRef::from(socket.as_ref()).set_linger(Some(Duration::ZERO));
        }
    }

    fn start_timer(&mut self, deadline: Instant, then: AfterTimer) {
        self.timer = Some(Box::pin(tokio::time::sleep_until(deadline.into())));
        self.after_timer = then;
    }

    /// Largest next slice allowed by the link and the fault's byte offsets.
    fn chunk_limit(&self) -> usize {
        let mut limit = self.link.chunk_size() as u64;
        match self.fault {
            BodyFault::Reset { after } | BodyFault::Short { after } => {
                limit = limit.min(after - self.sent)
            }
            BodyFault::Stall { at, .. } if !self.stalled => limit = limit.min(at - self.sent),
            BodyFault::Drip { bytes_per_sec } => limit = limit.min((bytes_per_sec / 10).max(1)),
            _ => {}
        }
        usize::try_from(limit).unwrap_or(usize::MAX).max(1)
    }
}

impl HttpBody for ShapedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            if let Some(timer) = this.timer.as_mut() {
                ready!(timer.as_mut().poll(cx));
                this.timer = None;
                match std::mem::replace(&mut this.after_timer, AfterTimer::Nothing) {
                    AfterTimer::Nothing => {}
                    AfterTimer::Emit(chunk) => return Poll::Ready(Some(Ok(this.emit(chunk)))),
                    AfterTimer::Reset => {
                        this.reset_connection();
                        this.end();
                        return Poll::Ready(Some(Err(
                            "injected fault: connection reset mid-body".into()
                        )));
                    }
                    AfterTimer::End => {
                        // Ending early under a Content-Length makes hyper
                        // close the connection.
                        this.end();
                        return Poll::Ready(None);
                    }
                }
            }
            match this.fault {
                BodyFault::Reset { after } if this.sent >= after => {
                    this.start_timer(Instant::now() + FAULT_FLUSH_GRACE, AfterTimer::Reset);
                    continue;
                }
                BodyFault::Short { after } if this.sent >= after => {
                    this.start_timer(Instant::now() + FAULT_FLUSH_GRACE, AfterTimer::End);
                    continue;
                }
                BodyFault::Stall { at, duration } if !this.stalled && this.sent >= at => {
                    this.stalled = true;
                    this.start_timer(Instant::now() + duration, AfterTimer::Nothing);
                    continue;
                }
                _ => {}
            }
            if this.pending.is_empty() {
                match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                    None => {
                        this.end();
                        return Poll::Ready(None);
                    }
                    Some(Err(e)) => {
                        this.end();
                        return Poll::Ready(Some(Err(e)));
                    }
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(data) => {
                            this.pending = data;
                            continue;
                        }
                        Err(other) => return Poll::Ready(Some(Ok(other))),
                    },
                }
            }
            let take = this.chunk_limit().min(this.pending.len());
            let chunk = this.pending.split_to(take);
            let mut deadline = this.link.reserve(chunk.len());
            if let BodyFault::Drip { bytes_per_sec } = this.fault {
                let now = Instant::now();
                let start = this.drip_next.unwrap_or(now).max(now);
                let end = start
                    + Duration::from_secs_f64(chunk.len() as f64 / bytes_per_sec.max(1) as f64);
                this.drip_next = Some(end);
                deadline = Some(deadline.map_or(end, |d| d.max(end)));
            }
            match deadline {
                Some(at) if at > Instant::now() => this.start_timer(at, AfterTimer::Emit(chunk)),
                _ => return Poll::Ready(Some(Ok(this.emit(chunk)))),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        match self.announced {
            Some(total) => SizeHint::with_exact(total.saturating_sub(self.sent)),
            None => self.inner.size_hint(),
        }
    }
}

impl Drop for ShapedBody {
    fn drop(&mut self) {
        self.sink.finish(self.sent);
    }
}
