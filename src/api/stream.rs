//! Streams: the internal [`EventStream`] every backend returns, and the public stream types
//! built on it. Every public stream implements [`futures_core::Stream`] and ends (`None`) only
//! after a fatal error item or when its backend operation ended; dropping it cancels the
//! operation.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use std::sync::Arc;

use crate::api::endpoints::Endpoints;
use crate::api::own::OwnRegistrations;
use crate::backend::Backend;
use crate::backend::operation::{EventStream, RegistrationGuard};
use crate::types::error::Result;
use crate::types::event::{
    BrowseEvent, HostAddressEvent, RecordEvent, RegistrationEvent, Resolved, ServiceTypeEvent,
};

macro_rules! event_stream {
    ($(#[$doc:meta])* $name:ident, $event:ty) => {
        $(#[$doc])*
        #[derive(Debug)]
        #[must_use = "streams do nothing unless polled; dropping one cancels the operation"]
        pub struct $name {
            inner: EventStream<$event>,
        }

        impl $name {
            #[allow(dead_code)]
            pub(crate) fn from_events(inner: EventStream<$event>) -> Self {
                $name { inner }
            }

            /// The next event; `None` once the operation ended.
            pub async fn next_event(&mut self) -> Option<Result<$event>> {
                self.inner.next_event().await
            }
        }

        impl Stream for $name {
            type Item = Result<$event>;

            fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
                self.get_mut().inner.poll_next_event(cx)
            }
        }
    };
}

event_stream!(
    /// Instances of a resolved service: updates whenever host, port or TXT change.
    ResolveStream,
    Resolved
);
event_stream!(
    /// Addresses of a host as they appear and go away.
    HostLookup,
    HostAddressEvent
);
event_stream!(
    /// Answers to a record query as they appear and go away.
    RecordQuery,
    RecordEvent
);
event_stream!(
    /// Service types present on the network (RFC 6763 §9).
    ServiceTypes,
    ServiceTypeEvent
);

/// Instances of a service type as they appear and go away (deduplicated across IP protocols).
#[derive(Debug)]
#[must_use = "streams do nothing unless polled; dropping one cancels the browse"]
pub struct Browse {
    inner: EventStream<BrowseEvent>,
    backend: Arc<dyn Backend>,
    own: Arc<OwnRegistrations>,
}

impl Browse {
    pub(crate) fn new(
        inner: EventStream<BrowseEvent>,
        backend: Arc<dyn Backend>,
        own: Arc<OwnRegistrations>,
    ) -> Self {
        Browse {
            inner,
            backend,
            own,
        }
    }

    /// The next event; `None` once the browse ended.
    pub async fn next_event(&mut self) -> Option<Result<BrowseEvent>> {
        self.inner.next_event().await
    }

    /// Turn this browse into a stream of ready-to-connect endpoints: every instance is resolved
    /// and its host's addresses looked up; it is reported `Up` only when complete, `Changed`
    /// when any of that changes and `Down` when it goes away.
    pub fn resolved(self) -> Endpoints {
        Endpoints::new(self.backend, self.own, self.inner)
    }
}

impl Stream for Browse {
    type Item = Result<BrowseEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().inner.poll_next_event(cx)
    }
}

/// Events of a live registration (see [`Registration`](crate::Registration)).
pub(crate) fn poll_registration_event(
    guard: &mut RegistrationGuard,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<RegistrationEvent>>> {
    guard.events.poll_next_event(cx)
}
