//! How the codecs compared in `benches/codec.rs` treat the hostile vectors of
//! `wire_hostile.rs` (part of the codec decision recorded in the `wire` module docs).
//! Asserts only what our codec must do; prints what the others do.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

use dnssd_engine::wire::Message;

fn packet(counts: [u16; 4], body: &[u8]) -> Vec<u8> {
    let mut p = vec![0, 0, 0x84, 0];
    for c in counts {
        p.extend_from_slice(&c.to_be_bytes());
    }
    p.extend_from_slice(body);
    p
}

fn vectors() -> Vec<(&'static str, Vec<u8>)> {
    let mut malformed_nsec_then_a =
        b"\x01h\x05local\x00\x00\x2f\x00\x01\x00\x00\x00\x78\x00\x24\x00\x00\x21".to_vec();
    malformed_nsec_then_a.extend_from_slice(&[0xFF; 33]);
    malformed_nsec_then_a
        .extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x78\x00\x04\x0a\x00\x00\x07");
    vec![
        (
            "self pointer",
            packet([1, 0, 0, 0], b"\xc0\x0c\x00\x01\x00\x01"),
        ),
        (
            "forward pointer",
            packet([1, 0, 0, 0], b"\xc0\x12\x00\x01\x00\x01\x01a\x00"),
        ),
        (
            "2-node loop",
            packet(
                [2, 0, 0, 0],
                b"\x01a\xc0\x14\x00\x01\x00\x01\x01b\xc0\x0c\x00\x01\x00\x01",
            ),
        ),
        (
            "pointer into header",
            packet([1, 0, 0, 0], b"\xc0\x04\x00\x01\x00\x01"),
        ),
        (
            "malformed NSEC then valid A",
            packet([0, 2, 0, 0], &malformed_nsec_then_a),
        ),
    ]
}

#[test]
fn hostile_vectors_across_codecs() {
    for (what, bytes) in vectors() {
        let ours = Message::parse(&bytes);
        let hickory = hickory_proto::op::Message::from_vec(&bytes);
        let simple = simple_dns::Packet::parse(&bytes);
        println!(
            "{what:30} ours: {:50} hickory: {:50} simple-dns: {}",
            match &ours {
                Ok(m) => format!(
                    "ok, {} answers, {} dropped",
                    m.answers.len(),
                    m.dropped_records
                ),
                Err(e) => format!("error: {e}"),
            },
            match &hickory {
                Ok(m) => format!("ok, {} answers", m.answers().len()),
                Err(e) => format!("error: {e}"),
            },
            match &simple {
                Ok(p) => format!("ok, {} answers", p.answers.len()),
                Err(e) => format!("error: {e}"),
            }
        );
        if what.starts_with("malformed") {
            assert_eq!(ours.unwrap().answers.len(), 1);
        } else {
            assert!(ours.is_err(), "{what}");
        }
    }
}
