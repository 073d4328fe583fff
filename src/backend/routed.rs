//! The routing layer in front of every backend: operations in `local.` (and on `.local` host
//! names) go to the local backend (system daemon or embedded engine), every other domain to
//! the wide-area client (unicast DNS, [`WideAreaBackend`]). With
//! `browse_enumerated`, a browse with no domain covers `local.` and the enumerated wide-area
//! browse domains.

use std::sync::Arc;

use super::wide_area::{self, WideAreaBackend};
use super::{Backend, BackendKind, BoxFuture, Capabilities};
use crate::backend::operation::{EventStream, RegistrationGuard};
use crate::types::error::Result;
use crate::types::event::{
    BrowseEvent, HostAddressEvent, Instance, RecordEvent, Resolved, ServiceTypeEvent,
};
use crate::types::name::{Domain, InstanceName, ServiceType};
use crate::types::service::{Interface, Service};

/// The local backend plus the wide-area client.
#[derive(Debug)]
pub(crate) struct RoutedBackend {
    local: Arc<dyn Backend>,
    wide_area: Arc<WideAreaBackend>,
    browse_enumerated: bool,
}

impl RoutedBackend {
    pub(crate) fn new(
        local: Arc<dyn Backend>,
        wide_area: Arc<WideAreaBackend>,
        browse_enumerated: bool,
    ) -> RoutedBackend {
        RoutedBackend {
            local,
            wide_area,
            browse_enumerated,
        }
    }
}

/// The domain when it is not `local.` (`None` for `local.` and for no domain).
fn wide_domain(domain: Option<&str>) -> Result<Option<Domain>> {
    match domain {
        None => Ok(None),
        Some(d) => {
            let domain = Domain::new(d)?;
            Ok((!domain.is_local()).then_some(domain))
        }
    }
}

impl Backend for RoutedBackend {
    fn kind(&self) -> BackendKind {
        self.local.kind()
    }

    fn capabilities(&self) -> &Capabilities {
        self.local.capabilities()
    }

    fn register<'a>(
        &'a self,
        service: &'a Service,
    ) -> BoxFuture<'a, Result<(InstanceName, RegistrationGuard)>> {
        match service.domain() {
            Some(domain) if !domain.is_local() => Box::pin(self.wide_area.register(service)),
            _ => self.local.register(service),
        }
    }

    fn browse(
        &self,
        service_type: &ServiceType,
        domain: Option<&str>,
        interface: Interface,
    ) -> Result<EventStream<BrowseEvent>> {
        if let Some(domain) = wide_domain(domain)? {
            return self.wide_area.browse(service_type, &domain);
        }
        let local = self.local.browse(service_type, domain, interface)?;
        if domain.is_none() && self.browse_enumerated {
            self.wide_area.browse_enumerated(service_type, local)
        } else {
            Ok(local)
        }
    }

    fn resolve(&self, instance: &Instance) -> Result<EventStream<Resolved>> {
        if instance.domain.is_local() {
            self.local.resolve(instance)
        } else {
            self.wide_area.resolve(instance)
        }
    }

    fn query_record(
        &self,
        name: &str,
        rtype: u16,
        interface: Interface,
    ) -> Result<EventStream<RecordEvent>> {
        if wide_area::is_local_name(name) {
            self.local.query_record(name, rtype, interface)
        } else {
            self.wide_area.query_record(name, rtype)
        }
    }

    fn lookup_host(
        &self,
        host: &str,
        interface: Interface,
    ) -> Result<EventStream<HostAddressEvent>> {
        if wide_area::is_local_name(host) {
            self.local.lookup_host(host, interface)
        } else {
            self.wide_area.lookup_host(host)
        }
    }

    fn browse_types(
        &self,
        domain: Option<&str>,
        interface: Interface,
    ) -> Result<EventStream<ServiceTypeEvent>> {
        match wide_domain(domain)? {
            Some(domain) => self.wide_area.browse_types(&domain),
            None => self.local.browse_types(domain, interface),
        }
    }

    fn reconfirm<'a>(&'a self, instance: &'a Instance) -> BoxFuture<'a, Result<()>> {
        self.local.reconfirm(instance)
    }

    fn wait_released(&self) -> BoxFuture<'_, ()> {
        self.local.wait_released()
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.wide_area.shutdown().await;
            self.local.shutdown().await;
        })
    }
}
