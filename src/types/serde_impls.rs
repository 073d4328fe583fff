//! Feature `serde`: the vocabulary and the events as data. Names serialize as their text and
//! are validated again when deserialized (an invalid name is a deserialization error, never
//! an unchecked value); a TXT record is a map from key to value (`true` for a flag, a string
//! for a UTF-8 value, an array of bytes otherwise); an interface is its OS index (0: any).

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::types::name::{Domain, HostName, InstanceName, ServiceType};
use crate::types::service::{Interface, RecordType};
use crate::types::txt::{TxtRecord, TxtValue};

macro_rules! as_text {
    ($type:ty, $to_text:expr) => {
        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let text: String = $to_text(self);
                serializer.serialize_str(&text)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                <$type>::new(&text).map_err(de::Error::custom)
            }
        }
    };
}

as_text!(InstanceName, |n: &InstanceName| n.as_str().to_owned());
as_text!(ServiceType, |t: &ServiceType| t.dns_sd_regtype());
as_text!(Domain, |d: &Domain| d.as_str().to_owned());
as_text!(HostName, |h: &HostName| h.as_str().to_owned());

impl Serialize for Interface {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.index())
    }
}

impl<'de> Deserialize<'de> for Interface {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        u32::deserialize(deserializer).map(Interface::from_index)
    }
}

impl Serialize for RecordType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(self.0)
    }
}

impl<'de> Deserialize<'de> for RecordType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        u16::deserialize(deserializer).map(RecordType)
    }
}

/// One TXT value as data.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum TxtData {
    Flag(bool),
    Text(String),
    Bytes(Vec<u8>),
}

impl Serialize for TxtRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (key, value) in self.iter() {
            let data = match value {
                TxtValue::Flag => TxtData::Flag(true),
                TxtValue::Bytes(bytes) => match std::str::from_utf8(bytes) {
                    Ok(text) => TxtData::Text(text.to_owned()),
                    Err(_) => TxtData::Bytes(bytes.clone()),
                },
            };
            map.serialize_entry(key, &data)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for TxtRecord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TxtVisitor;

        impl<'de> Visitor<'de> for TxtVisitor {
            type Value = TxtRecord;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of TXT keys to true, a string or bytes")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<TxtRecord, A::Error> {
                let mut txt = TxtRecord::new();
                while let Some((key, data)) = access.next_entry::<String, TxtData>()? {
                    let inserted = match data {
                        TxtData::Flag(true) => txt.insert_flag(&key),
                        TxtData::Flag(false) => continue,
                        TxtData::Text(text) => txt.insert(&key, text),
                        TxtData::Bytes(bytes) => txt.insert(&key, bytes),
                    };
                    inserted.map_err(de::Error::custom)?;
                }
                Ok(txt)
            }
        }

        deserializer.deserialize_map(TxtVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::event::{Endpoint, EndpointEvent, Instance, Resolved};

    #[test]
    fn an_endpoint_event_round_trips_through_json() {
        let mut txt = TxtRecord::new();
        txt.insert("path", "/").unwrap_or_else(|e| panic!("{e}"));
        txt.insert_flag("secure").unwrap_or_else(|e| panic!("{e}"));
        txt.insert("raw", [0xff_u8, 0x00])
            .unwrap_or_else(|e| panic!("{e}"));
        let resolved = Resolved {
            instance: Instance {
                name: InstanceName::new("My Web").unwrap_or_else(|e| panic!("{e}")),
                service_type: ServiceType::new("_http._tcp,_printer")
                    .unwrap_or_else(|e| panic!("{e}")),
                domain: Domain::local(),
                interface: Interface::from_index(3),
            },
            host_target: "h.local.".into(),
            port: 8080,
            txt,
            interface: Interface::from_index(3),
        };
        let event = EndpointEvent::Up(Endpoint::new(
            &resolved,
            vec!["10.0.0.1:8080".parse().unwrap_or_else(|e| panic!("{e}"))],
            true,
        ));
        let json = serde_json::to_string(&event).unwrap_or_else(|e| panic!("{e}"));
        assert!(json.contains(r#""name":"My Web""#), "{json}");
        assert!(
            json.contains(r#""service_type":"_http._tcp,_printer""#),
            "{json}"
        );
        assert!(json.contains(r#""secure":true"#), "{json}");
        assert!(json.contains(r#""raw":[255,0]"#), "{json}");
        let back: EndpointEvent = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, event);
    }

    #[test]
    fn invalid_names_are_refused_when_deserialized() {
        let bad = serde_json::from_str::<ServiceType>(r#""http""#);
        assert!(bad.is_err());
        let bad = serde_json::from_str::<InstanceName>(r#""""#);
        assert!(bad.is_err());
    }
}
