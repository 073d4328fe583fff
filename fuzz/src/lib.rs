//! Checks shared by the fuzz targets and by the stable harness in
//! `dnssd-engine/tests/wire_fuzz.rs` (which includes this file with `#[path]`), so both run
//! exactly the same property.

use dnssd_engine::wire::Message;

/// parse -> encode -> parse gives the same message, and encoding that again gives the same
/// bytes. Any datagram may fail to parse, but nothing may panic.
pub fn message_roundtrip(data: &[u8]) {
    let Ok(first) = Message::parse(data) else {
        return;
    };
    let bytes = match first.encode() {
        Ok(bytes) => bytes,
        Err(e) => panic!("a parsed message failed to encode: {e}"),
    };
    let second = match Message::parse(&bytes) {
        Ok(m) => m,
        Err(e) => panic!("our own encoding failed to parse: {e}\n{first:?}\n{bytes:02x?}"),
    };
    // Dropped records are not re-encoded, so only the first parse counts them.
    let expected = Message {
        dropped_records: 0,
        ..first
    };
    assert_eq!(second, expected, "round trip changed the message");
    assert_eq!(second.dropped_records, 0);
    match second.encode() {
        Ok(again) => assert_eq!(again, bytes, "encoding is not deterministic"),
        Err(e) => panic!("re-encoding failed: {e}"),
    }
}
