//! `browse(..).resolved()`: browse -> resolve -> address lookup, combined into complete
//! endpoints. Backend-independent: it only uses the public operations.
//!
//! One task owns the browse and two tables: instances (each resolved by its own small task)
//! and hosts (each looked up by one task shared by every instance on that host, so 200
//! services on one machine cost 200 resolves and one lookup, not 600 daemon references).
//! Removing an instance aborts its task, which drops its stream and so cancels the operation;
//! a host lookup ends when its last instance goes.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::api::discovery::ServiceDiscovery;
use crate::backend::operation::{EventStream, OperationGuard};
use crate::types::error::Result;
use crate::types::event::{
    BrowseEvent, Endpoint, EndpointEvent, HostAddress, HostAddressEvent, Instance, Resolved,
};
use crate::types::service::Interface;

/// A host lookup is shared per (lower-cased host name, interface index).
type HostKey = (String, Interface);

struct TrackedInstance {
    task: JoinHandle<()>,
    resolved: Option<Resolved>,
    host: Option<HostKey>,
    up: Option<Endpoint>,
}

struct TrackedHost {
    task: JoinHandle<()>,
    addresses: Vec<HostAddress>,
    users: HashSet<Instance>,
}

enum Update {
    Resolved(Box<Resolved>),
    Address(HostKey, HostAddressEvent),
}

/// Everything the combining task tracks; aborts every helper task when dropped.
#[derive(Default)]
struct Tables {
    instances: HashMap<Instance, TrackedInstance>,
    hosts: HashMap<HostKey, TrackedHost>,
}

impl Drop for Tables {
    fn drop(&mut self) {
        for tracked in self.instances.values() {
            tracked.task.abort();
        }
        for tracked in self.hosts.values() {
            tracked.task.abort();
        }
    }
}

impl Tables {
    fn detach(&mut self, instance: &Instance, key: &HostKey) {
        if let Some(host) = self.hosts.get_mut(key) {
            host.users.remove(instance);
            if host.users.is_empty() {
                host.task.abort();
                self.hosts.remove(key);
            }
        }
    }

    /// The event (if any) that the instance's current state calls for.
    fn refresh(&mut self, instance: &Instance) -> Option<EndpointEvent> {
        let tracked = self.instances.get_mut(instance)?;
        let resolved = tracked.resolved.as_ref()?;
        let addresses = &self.hosts.get(tracked.host.as_ref()?)?.addresses;
        if addresses.is_empty() {
            // Never report a half-resolved endpoint; keep the last complete one.
            return None;
        }
        let endpoint = endpoint(resolved, addresses);
        let event = match &tracked.up {
            None => EndpointEvent::Up(endpoint.clone()),
            Some(previous) if *previous != endpoint => EndpointEvent::Changed(endpoint.clone()),
            Some(_) => return None,
        };
        tracked.up = Some(endpoint);
        Some(event)
    }
}

pub(crate) fn spawn(
    discovery: ServiceDiscovery,
    browse: EventStream<BrowseEvent>,
) -> EventStream<EndpointEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    drop(tokio::spawn(combine(discovery, browse, tx)));
    EventStream::new(rx, OperationGuard::none())
}

async fn combine(
    discovery: ServiceDiscovery,
    mut browse: EventStream<BrowseEvent>,
    tx: mpsc::UnboundedSender<Result<EndpointEvent>>,
) {
    let (updates_tx, mut updates) = mpsc::unbounded_channel::<Update>();
    let mut tables = Tables::default();
    loop {
        let mut out: Vec<Result<EndpointEvent>> = Vec::new();
        tokio::select! {
            () = tx.closed() => return,
            event = browse.next_event() => match event {
                None => return,
                Some(Err(e)) => out.push(Err(e)),
                Some(Ok(BrowseEvent::Added(instance))) => {
                    let task = tokio::spawn(follow_instance(
                        discovery.clone(),
                        instance.clone(),
                        updates_tx.clone(),
                    ));
                    let tracked = TrackedInstance { task, resolved: None, host: None, up: None };
                    if let Some(old) = tables.instances.insert(instance.clone(), tracked) {
                        old.task.abort();
                        if let Some(key) = old.host {
                            tables.detach(&instance, &key);
                        }
                    }
                }
                Some(Ok(BrowseEvent::Removed(instance))) => {
                    if let Some(tracked) = tables.instances.remove(&instance) {
                        tracked.task.abort();
                        if let Some(key) = &tracked.host {
                            tables.detach(&instance, key);
                        }
                        if tracked.up.is_some() {
                            out.push(Ok(EndpointEvent::Down(instance)));
                        }
                    }
                }
            },
            Some(update) = updates.recv() => match update {
                Update::Resolved(resolved) => {
                    let instance = resolved.instance.clone();
                    let key = (resolved.host_target.to_ascii_lowercase(), resolved.interface);
                    // Updates from an instance removed in the meantime are stale.
                    let Some(tracked) = tables.instances.get_mut(&instance) else {
                        continue;
                    };
                    let old_key = tracked.host.replace(key.clone());
                    tracked.resolved = Some(*resolved);
                    if old_key.as_ref() != Some(&key) {
                        if let Some(old_key) = old_key {
                            tables.detach(&instance, &old_key);
                        }
                        let host = tables.hosts.entry(key.clone()).or_insert_with(|| TrackedHost {
                            task: tokio::spawn(follow_host(
                                discovery.clone(),
                                key.clone(),
                                updates_tx.clone(),
                            )),
                            addresses: Vec::new(),
                            users: HashSet::new(),
                        });
                        host.users.insert(instance.clone());
                    }
                    out.extend(tables.refresh(&instance).map(Ok));
                }
                Update::Address(key, event) => {
                    let Some(host) = tables.hosts.get_mut(&key) else {
                        continue;
                    };
                    match event {
                        HostAddressEvent::Added(a) => {
                            if !host.addresses.contains(&a) {
                                host.addresses.push(a);
                            }
                        }
                        HostAddressEvent::Removed(a) => host.addresses.retain(|x| *x != a),
                    }
                    let users: Vec<Instance> = host.users.iter().cloned().collect();
                    for instance in users {
                        out.extend(tables.refresh(&instance).map(Ok));
                    }
                }
            },
        }
        for item in out {
            if tx.send(item).is_err() {
                return;
            }
        }
    }
}

/// Resolve one instance and forward every answer. Errors (daemon gone) reach the user through
/// the browse, so they are not repeated here.
async fn follow_instance(
    discovery: ServiceDiscovery,
    instance: Instance,
    updates: mpsc::UnboundedSender<Update>,
) {
    let Ok(mut resolve) = discovery.resolve_stream(&instance) else {
        return;
    };
    while let Some(event) = resolve.next_event().await {
        if let Ok(resolved) = event {
            if updates.send(Update::Resolved(Box::new(resolved))).is_err() {
                return;
            }
        }
    }
}

/// Follow one host's addresses for every instance on it.
async fn follow_host(
    discovery: ServiceDiscovery,
    key: HostKey,
    updates: mpsc::UnboundedSender<Update>,
) {
    let interface = key.1;
    let Ok(mut lookup) = discovery.lookup_host_stream(&key.0, interface) else {
        return;
    };
    while let Some(event) = lookup.next_event().await {
        if let Ok(event) = event {
            if updates.send(Update::Address(key.clone(), event)).is_err() {
                return;
            }
        }
    }
}

/// A complete endpoint; addresses sorted so equal states compare equal.
fn endpoint(resolved: &Resolved, addresses: &[HostAddress]) -> Endpoint {
    let mut socket_addrs: Vec<SocketAddr> = addresses
        .iter()
        .map(|a| a.socket_addr(resolved.port))
        .collect();
    socket_addrs.sort();
    socket_addrs.dedup();
    Endpoint {
        instance: resolved.instance.clone(),
        host_target: resolved.host_target.clone(),
        addresses: socket_addrs,
        port: resolved.port,
        txt: resolved.txt.clone(),
        interface: resolved.instance.interface,
    }
}
