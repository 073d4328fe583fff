//! Which services this handle registered: the registry behind `Endpoint::is_own` and
//! `ServiceDiscovery::is_own`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::types::name::{Domain, InstanceName, ServiceType};
use crate::types::service::Service;

/// The (instance, type, domain) keys of this handle's live registrations, with a count each
/// (the same name may be registered twice, on two interfaces).
#[derive(Debug, Default)]
pub(crate) struct OwnRegistrations {
    keys: Mutex<HashMap<String, usize>>,
}

impl OwnRegistrations {
    pub(crate) fn key(name: &InstanceName, service_type: &ServiceType, domain: &Domain) -> String {
        format!(
            "{}\u{0}{}\u{0}{}",
            name.as_str().to_lowercase(),
            service_type
                .without_subtypes()
                .to_string()
                .to_ascii_lowercase(),
            domain.as_str().to_ascii_lowercase()
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn add(&self, key: &str) {
        *self.lock().entry(key.to_owned()).or_default() += 1;
    }

    fn remove(&self, key: &str) {
        let mut keys = self.lock();
        if let Some(count) = keys.get_mut(key) {
            *count -= 1;
            if *count == 0 {
                keys.remove(key);
            }
        }
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.lock().contains_key(key)
    }
}

/// A registration's entry in [`OwnRegistrations`], removed when the registration ends.
#[derive(Debug)]
pub(crate) struct OwnEntry {
    set: Arc<OwnRegistrations>,
    key: String,
}

impl OwnEntry {
    pub(crate) fn new(
        set: &Arc<OwnRegistrations>,
        name: &InstanceName,
        service: &Service,
    ) -> OwnEntry {
        let domain = service.domain().cloned().unwrap_or_else(Domain::local);
        let key = OwnRegistrations::key(name, service.service_type(), &domain);
        set.add(&key);
        OwnEntry {
            set: Arc::clone(set),
            key,
        }
    }
}

impl Drop for OwnEntry {
    fn drop(&mut self) {
        self.set.remove(&self.key);
    }
}
