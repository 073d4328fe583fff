//! What every backend operation hands back to the API layer: an [`EventStream`] of events
//! and the guard that cancels the operation when the stream is dropped.
//!
//! Events travel through a bounded channel ([`event_channel`]): a backend never waits for a
//! slow consumer (it runs a shared loop, a C callback or a D-Bus signal router), and a
//! consumer that falls behind never grows memory without limit. When the buffer is full the
//! newest event is dropped and counted; the consumer's next item is [`Error::Lagged`] with the
//! count, then the stream goes on (the policy of tokio's broadcast channel).

use std::any::Any;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use tokio::sync::mpsc;

use crate::backend::{BoxFuture, RegistrationControl};
use crate::types::error::{Error, Result};
use crate::types::event::RegistrationEvent;
use crate::types::txt::TxtRecord;

/// Cancels a backend operation when dropped. Backends put whatever their cancellation needs in
/// it (the system backend needs nothing: its tasks stop when the channel closes).
#[derive(Default)]
pub(crate) struct OperationGuard(
    #[allow(dead_code, reason = "held only for its Drop")] Option<Box<dyn Any + Send + Sync>>,
);

impl OperationGuard {
    /// A guard with nothing to drop.
    pub(crate) fn none() -> Self {
        OperationGuard(None)
    }

    /// A guard that drops `cancel` (whose `Drop` cancels) with the stream.
    #[allow(dead_code)]
    pub(crate) fn new(cancel: impl Any + Send + Sync) -> Self {
        OperationGuard(Some(Box::new(cancel)))
    }
}

impl fmt::Debug for OperationGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OperationGuard")
    }
}

/// Where an operation's task leaves the payload of a panic (e.g. one caught inside a C
/// callback), so the consumer resumes it instead of seeing the operation end quietly.
#[derive(Default)]
pub(crate) struct PanicSlot(Mutex<Option<Box<dyn Any + Send>>>);

impl PanicSlot {
    /// Keep `payload` (the first one wins).
    pub(crate) fn store(&self, payload: Box<dyn Any + Send>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(payload);
    }

    /// Resume the stored panic on this thread, if there is one.
    pub(crate) fn resume_if_panicked(&self) {
        let payload = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(payload) = payload {
            std::panic::resume_unwind(payload);
        }
    }
}

impl fmt::Debug for PanicSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PanicSlot")
    }
}

/// How many events one stream holds for its consumer before newer ones are dropped and
/// reported as [`Error::Lagged`](crate::Error::Lagged). A browse of 1000 services that all
/// change at once fits several times over; memory stays bounded (a few MB at most per stream)
/// however slowly the consumer reads.
pub const EVENT_BUFFER: usize = 8192;

/// A bounded event channel of [`EVENT_BUFFER`] items: the sending half never waits.
pub(crate) fn event_channel<T>() -> (EventSender<T>, EventReceiver<T>) {
    event_channel_with_capacity(EVENT_BUFFER)
}

/// [`event_channel`] with another capacity (tests).
pub(crate) fn event_channel_with_capacity<T>(
    capacity: usize,
) -> (EventSender<T>, EventReceiver<T>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let missed = Arc::new(AtomicU64::new(0));
    (
        EventSender {
            tx,
            missed: missed.clone(),
        },
        EventReceiver { rx, missed },
    )
}

/// The channel is closed: the consumer dropped its stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Closed;

/// The sending half of an [`event_channel`], held by a backend's operation.
pub(crate) struct EventSender<T> {
    tx: mpsc::Sender<Result<T>>,
    /// Events dropped because the buffer was full, not yet reported.
    missed: Arc<AtomicU64>,
}

impl<T> Clone for EventSender<T> {
    fn clone(&self) -> Self {
        EventSender {
            tx: self.tx.clone(),
            missed: self.missed.clone(),
        }
    }
}

impl<T> fmt::Debug for EventSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSender").finish_non_exhaustive()
    }
}

impl<T> EventSender<T> {
    /// Queue `event` without waiting. A full buffer drops it (counted, reported to the
    /// consumer as [`Error::Lagged`]); only a closed channel is an error.
    pub(crate) fn send(&self, event: Result<T>) -> std::result::Result<(), Closed> {
        match self.tx.try_send(event) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.missed.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Closed),
        }
    }

    /// Whether the consumer dropped its stream.
    #[cfg_attr(
        target_os = "macos",
        allow(dead_code, reason = "only the embedded backend asks, unused on macOS")
    )]
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Completes when the consumer drops its stream.
    pub(crate) async fn closed(&self) {
        self.tx.closed().await;
    }
}

/// The receiving half of an [`event_channel`], inside an [`EventStream`].
pub(crate) struct EventReceiver<T> {
    rx: mpsc::Receiver<Result<T>>,
    missed: Arc<AtomicU64>,
}

impl<T> EventReceiver<T> {
    /// [`Error::Lagged`] when events were dropped since the last item (once per gap).
    fn take_lagged(&self) -> Option<Error> {
        let missed = self.missed.swap(0, Ordering::Relaxed);
        (missed > 0).then_some(Error::Lagged { missed })
    }

    /// The next event; [`Error::Lagged`] first when events were dropped since the last one.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        if let Some(lagged) = self.take_lagged() {
            return Poll::Ready(Some(Err(lagged)));
        }
        self.rx.poll_recv(cx)
    }

    /// The next queued event, without waiting (tests).
    #[cfg(test)]
    pub(crate) fn try_recv(&mut self) -> Option<Result<T>> {
        if let Some(lagged) = self.take_lagged() {
            return Some(Err(lagged));
        }
        self.rx.try_recv().ok()
    }
}

/// What a backend operation returns: its events, and the guard that cancels it on drop.
pub(crate) struct EventStream<T> {
    events: EventReceiver<T>,
    /// Where the operation's task leaves a panic; resumed when the channel ends.
    panic: Option<Arc<PanicSlot>>,
    /// Dropped after `events`, so the backend sees the channel closed before it is cancelled.
    _guard: OperationGuard,
}

impl<T> EventStream<T> {
    pub(crate) fn new(events: EventReceiver<T>, guard: OperationGuard) -> Self {
        EventStream {
            events,
            panic: None,
            _guard: guard,
        }
    }

    /// Resume a panic the operation's task left in `slot` once its channel ends.
    pub(crate) fn resuming_panics_from(mut self, slot: Arc<PanicSlot>) -> Self {
        self.panic = Some(slot);
        self
    }

    /// # Panics
    /// When the operation's task panicked (the panic is resumed here).
    pub(crate) fn poll_next_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        let event = ready!(self.events.poll_recv(cx));
        if event.is_none() {
            if let Some(slot) = &self.panic {
                slot.resume_if_panicked();
            }
        }
        Poll::Ready(event)
    }

    /// The next event (`None` when the operation ended).
    ///
    /// # Panics
    /// When the operation's task panicked (the panic is resumed here).
    pub(crate) async fn next_event(&mut self) -> Option<Result<T>> {
        std::future::poll_fn(|cx| self.poll_next_event(cx)).await
    }
}

impl<T> futures_core::Stream for EventStream<T> {
    type Item = Result<T>;

    fn poll_next(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_event(cx)
    }
}

impl<T> fmt::Debug for EventStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

/// What a backend keeps for a live registration: its own control object (dropping it
/// withdraws the service) and the events reported after confirmation.
pub(crate) struct RegistrationGuard {
    pub(crate) control: Box<dyn RegistrationControl>,
    pub(crate) events: EventStream<RegistrationEvent>,
}

impl RegistrationGuard {
    /// A guard of a registration that has already ended (its events end at once), to stand in
    /// while a registration is replaced.
    pub(crate) fn ended() -> Self {
        struct Ended;
        impl RegistrationControl for Ended {
            fn update_txt<'a>(&'a self, _: &'a TxtRecord) -> BoxFuture<'a, Result<()>> {
                Box::pin(async { Err(Error::BadReference) })
            }
        }
        let (_, events) = event_channel();
        RegistrationGuard {
            control: Box::new(Ended),
            events: EventStream::new(events, OperationGuard::none()),
        }
    }
}

impl fmt::Debug for RegistrationGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistrationGuard").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A consumer that does not read loses the newest events, not memory: it sees what fit,
    /// then `Lagged` with the count, then the stream goes on.
    #[tokio::test]
    async fn a_full_buffer_drops_the_newest_and_reports_lagged_once() {
        let (tx, rx) = event_channel_with_capacity::<u32>(3);
        let mut stream = EventStream::new(rx, OperationGuard::none());
        for i in 0..10 {
            assert_eq!(tx.send(Ok(i)), Ok(()));
        }
        match stream.next_event().await {
            Some(Err(Error::Lagged { missed: 7 })) => {}
            other => panic!("expected Lagged {{ missed: 7 }}, got {other:?}"),
        }
        for i in 0..3 {
            assert!(matches!(stream.next_event().await, Some(Ok(n)) if n == i));
        }
        assert_eq!(tx.send(Ok(99)), Ok(()));
        assert!(matches!(stream.next_event().await, Some(Ok(99))));
        drop(tx);
        assert!(stream.next_event().await.is_none());
    }

    #[tokio::test]
    async fn a_dropped_stream_closes_the_sender() {
        let (tx, rx) = event_channel::<u32>();
        assert!(!tx.is_closed());
        drop(EventStream::new(rx, OperationGuard::none()));
        assert!(tx.is_closed());
        assert_eq!(tx.send(Ok(1)), Err(Closed));
        tx.closed().await;
    }
}
