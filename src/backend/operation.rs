//! What every backend operation hands back to the API layer: an [`EventStream`] of events
//! and the guard that cancels the operation when the stream is dropped.

use std::any::Any;
use std::fmt;
use std::task::{Context, Poll};

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

/// What a backend operation returns: its events, and the guard that cancels it on drop.
pub(crate) struct EventStream<T> {
    events: mpsc::UnboundedReceiver<Result<T>>,
    /// Dropped after `events`, so the backend sees the channel closed before it is cancelled.
    _guard: OperationGuard,
}

impl<T> EventStream<T> {
    pub(crate) fn new(events: mpsc::UnboundedReceiver<Result<T>>, guard: OperationGuard) -> Self {
        EventStream {
            events,
            _guard: guard,
        }
    }

    pub(crate) fn poll_next_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        self.events.poll_recv(cx)
    }

    /// The next event (`None` when the operation ended).
    pub(crate) async fn next_event(&mut self) -> Option<Result<T>> {
        self.events.recv().await
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
        let (_, events) = mpsc::unbounded_channel();
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
