//! Packing records and questions into datagrams of bounded size (RFC 6762 §17, §7.2).

use std::collections::HashSet;

use crate::wire::{Header, MessageWriter, Name, Question, RData, Record, WireError};

/// Largest mDNS message we ever build (RFC 6762 §17).
pub(crate) const MAX_MESSAGE: usize = 9000;

/// Responses: each answer with the additionals it brings (RFC 6763 §12), packed as a unit:
/// a datagram takes answers while it can also hold all of their additionals, so a long answer
/// list (a browse of 1000 instances) carries each instance's SRV/TXT/addresses in the same
/// datagram as its PTR instead of leaving every browser to ask for them. An answer whose
/// additionals cannot all fit even alone goes with those that fit; an answer bigger than
/// `max` goes alone in a datagram of up to 9000 bytes. Questions (legacy unicast echo) go in
/// the first datagram. Additionals already present as answers are not repeated.
pub(crate) fn build_responses(
    header: Header,
    questions: &[Question],
    answers: &[(Record, Vec<Record>)],
    max: usize,
) -> Vec<Vec<u8>> {
    if questions.is_empty() && answers.iter().all(|(_, adds)| adds.is_empty()) {
        return build_plain_responses(header, answers, max);
    }
    let mut out = Vec::new();
    let mut seen_answers: HashSet<(&Name, &RData)> = HashSet::new();
    let mut current: Vec<&(Record, Vec<Record>)> = Vec::new();
    let mut first = true;
    for unit in answers {
        if !seen_answers.insert((&unit.0.name, &unit.0.rdata)) {
            continue;
        }
        let qs = if first { questions } else { &[] };
        current.push(unit);
        if encode_units(header, qs, &current, true, max).is_some() {
            continue;
        }
        current.pop();
        if !current.is_empty() {
            if let Some(p) = encode_units(header, qs, &current, false, max) {
                out.push(p);
                first = false;
            }
            current.clear();
            let qs = if first { questions } else { &[] };
            current.push(unit);
            if encode_units(header, qs, &current, true, max).is_some() {
                continue;
            }
            current.pop();
        }
        let qs = if first { questions } else { &[] };
        if let Some(p) = encode_units(header, qs, &[unit], false, max) {
            out.push(p);
            first = false;
        } else if let Some(p) = encode_units(header, &[], &[unit], false, MAX_MESSAGE) {
            out.push(p);
        }
    }
    if !current.is_empty() {
        let qs = if first { questions } else { &[] };
        if let Some(p) = encode_units(header, qs, &current, false, max) {
            out.push(p);
        }
    }
    out
}

/// [`build_responses`] when no answer brings additionals (goodbyes, a shutdown's 3000
/// records): each answer is appended to the current datagram and starts the next one when it
/// does not fit, so the work is linear in the answers (the general path re-encodes a datagram
/// per unit added). No questions (those go through the general path).
fn build_plain_responses(
    header: Header,
    answers: &[(Record, Vec<Record>)],
    max: usize,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut seen: HashSet<(&Name, &RData)> = HashSet::new();
    let mut writer = MessageWriter::new(header, max);
    for (answer, _) in answers {
        if !seen.insert((&answer.name, &answer.rdata)) {
            continue;
        }
        match writer.push_answer(answer) {
            Err(WireError::Full) if !writer.is_empty() => {
                let full = std::mem::replace(&mut writer, MessageWriter::new(header, max));
                out.push(full.finish());
                if writer.push_answer(answer).is_err() {
                    // Bigger than `max` alone: a datagram of its own, up to 9000 bytes.
                    let mut alone = MessageWriter::new(header, MAX_MESSAGE);
                    if alone.push_answer(answer).is_ok() {
                        out.push(alone.finish());
                    }
                }
            }
            Err(WireError::Full) => {
                let mut alone = MessageWriter::new(header, MAX_MESSAGE);
                if alone.push_answer(answer).is_ok() {
                    out.push(alone.finish());
                }
            }
            Ok(()) | Err(_) => {}
        }
    }
    if !writer.is_empty() {
        out.push(writer.finish());
    }
    out
}

/// One response datagram: questions, the units' answers, then their additionals (each once,
/// none that is already an answer). `strict`: every additional must fit (else `None`);
/// otherwise those that do not fit are left out. `None` when a question or answer does not fit.
fn encode_units(
    header: Header,
    questions: &[Question],
    units: &[&(Record, Vec<Record>)],
    strict: bool,
    max: usize,
) -> Option<Vec<u8>> {
    let mut writer = MessageWriter::new(header, max);
    for q in questions {
        writer.push_question(q).ok()?;
    }
    let mut present: HashSet<(&Name, &RData)> = HashSet::new();
    for (answer, _) in units {
        writer.push_answer(answer).ok()?;
        present.insert((&answer.name, &answer.rdata));
    }
    for (_, extra) in units {
        for additional in extra {
            if present.insert((&additional.name, &additional.rdata))
                && writer.push_additional(additional).is_err()
                && strict
            {
                return None;
            }
        }
    }
    if writer.is_empty() {
        return None;
    }
    Some(writer.finish())
}

/// A query: questions, then known answers; when the known answers do not fit, TC is set and
/// they continue in follow-up datagrams (RFC 6762 §7.2).
pub(crate) fn build_queries(questions: &[Question], known: &[Record], max: usize) -> Vec<Vec<u8>> {
    let mut out: Vec<MessageWriter> = Vec::new();
    let mut writer = MessageWriter::new(Header::query(), max);
    for q in questions {
        if writer.push_question(q).is_err() {
            out.push(std::mem::replace(
                &mut writer,
                MessageWriter::new(Header::query(), max),
            ));
            let _ = writer.push_question(q);
        }
    }
    for k in known {
        let mut k = k.clone();
        k.cache_flush = false;
        if let Err(WireError::Full) = writer.push_answer(&k) {
            let mut full = std::mem::replace(&mut writer, MessageWriter::new(Header::query(), max));
            full.set_truncated(true);
            out.push(full);
            let _ = writer.push_answer(&k);
        }
    }
    out.push(writer);
    out.into_iter()
        .filter(|w| !w.is_empty())
        .map(MessageWriter::finish)
        .collect()
}

/// Rough compressed size of a name that shares its parent with earlier names.
fn compressed_name_len(n: &Name) -> usize {
    n.first_label().map_or(1, |l| l.len() + 3)
}

fn encode_probe(batch: &[&(Name, Vec<Record>)], max: usize) -> Option<Vec<u8>> {
    let mut w = MessageWriter::new(Header::query(), max);
    for (name, _) in batch {
        let q = Question {
            name: name.clone(),
            qtype: crate::wire::RecordType::ANY,
            qclass: crate::wire::CLASS_IN,
            unicast_response: true,
        };
        w.push_question(&q).ok()?;
    }
    for (_, records) in batch {
        for r in records {
            let mut r = r.clone();
            r.cache_flush = false;
            w.push_authority(&r).ok()?;
        }
    }
    Some(w.finish())
}

fn emit_probes(batch: &[&(Name, Vec<Record>)], max: usize, out: &mut Vec<Vec<u8>>) {
    if batch.is_empty() {
        return;
    }
    if let Some(p) = encode_probe(batch, max) {
        out.push(p);
    } else if batch.len() == 1 {
        if let Some(p) = encode_probe(batch, MAX_MESSAGE) {
            out.push(p);
        }
    } else {
        let (a, b) = batch.split_at(batch.len() / 2);
        emit_probes(a, max, out);
        emit_probes(b, max, out);
    }
}

/// Probes: one question per name (ANY, QU) with the proposed records in Authority, names
/// kept whole within one datagram. Batches are sized by a compressed-size estimate and
/// halved if the real encoding does not fit.
pub(crate) fn build_probes(groups: &[(Name, Vec<Record>)], max: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut batch: Vec<&(Name, Vec<Record>)> = Vec::new();
    let mut size = 12usize;
    for g in groups {
        let g_size = compressed_name_len(&g.0)
            + 4
            + g.1
                .iter()
                .map(|r| {
                    compressed_name_len(&r.name)
                        + 10
                        + r.rdata_wire().len().min(compressed_name_len(&r.name) + 12)
                })
                .sum::<usize>();
        if size + g_size > max && !batch.is_empty() {
            emit_probes(&batch, max, &mut out);
            batch.clear();
            size = 12;
        }
        size += g_size;
        batch.push(g);
    }
    emit_probes(&batch, max, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{CLASS_IN, Message, RecordType};

    #[test]
    fn each_ptr_answer_travels_with_its_srv_txt_and_address() {
        // CONFORMANCE row 50 on a long answer list: 1000 instances over many datagrams.
        let service = Name::from_dotted("_http._tcp.local").unwrap();
        let host = Name::from_dotted("box.local").unwrap();
        let rec = |name: &Name, rdata: RData, ttl: u32| Record {
            name: name.clone(),
            class: CLASS_IN,
            cache_flush: false,
            ttl,
            rdata,
        };
        let address = rec(&host, RData::A(std::net::Ipv4Addr::new(10, 0, 0, 1)), 120);
        let answers: Vec<(Record, Vec<Record>)> = (0..1000)
            .map(|i| {
                let instance = service.prepend(format!("Instance {i}").as_bytes()).unwrap();
                let ptr = rec(&service, RData::Ptr(instance.clone()), 4500);
                let srv = rec(
                    &instance,
                    RData::Srv {
                        priority: 0,
                        weight: 0,
                        port: 8000,
                        target: host.clone(),
                    },
                    120,
                );
                let txt = rec(&instance, RData::Txt(b"\x07path=/x".to_vec()), 4500);
                (ptr, vec![srv, txt, address.clone()])
            })
            .collect();
        let packets = build_responses(Header::response(), &[], &answers, 1440);
        assert!(packets.iter().all(|p| p.len() <= 1440));
        let mut ptrs = 0;
        for p in &packets {
            let m = Message::parse(p).unwrap();
            for a in &m.answers {
                let RData::Ptr(instance) = &a.rdata else {
                    panic!("{a:?}")
                };
                ptrs += 1;
                for t in [RecordType::SRV, RecordType::TXT] {
                    assert!(
                        m.additionals
                            .iter()
                            .any(|x| &x.name == instance && x.rtype() == t),
                        "{instance} without its {t:?} in the same datagram"
                    );
                }
            }
            assert_eq!(
                m.additionals
                    .iter()
                    .filter(|x| x.rtype() == RecordType::A)
                    .count(),
                1,
                "one address record per datagram"
            );
        }
        assert_eq!(ptrs, 1000);
    }

    #[test]
    fn answers_without_additionals_fill_each_datagram_in_order() {
        // 3000 goodbye-like records: every one sent once, in order, each datagram full
        // (the next record would not have fit), an oversized record alone.
        let service = Name::from_dotted("_http._tcp.local").unwrap();
        let mut answers: Vec<(Record, Vec<Record>)> = Vec::new();
        for i in 0..1000 {
            let instance = service.prepend(format!("Svc {i}").as_bytes()).unwrap();
            let rec = |name: &Name, rdata: RData| Record {
                name: name.clone(),
                class: CLASS_IN,
                cache_flush: false,
                ttl: 0,
                rdata,
            };
            answers.push((rec(&service, RData::Ptr(instance.clone())), Vec::new()));
            answers.push((
                rec(&instance, RData::Txt(vec![3, b'a', b'=', b'1'])),
                Vec::new(),
            ));
            if i == 500 {
                let big: Vec<u8> = (0..8)
                    .flat_map(|_| [vec![250], vec![b'x'; 250]].concat())
                    .collect();
                answers.push((rec(&instance, RData::Txt(big)), Vec::new()));
            }
            answers.push((
                rec(&instance, RData::Txt(vec![3, b'a', b'=', b'1'])),
                Vec::new(),
            ));
        }
        let packets = build_responses(Header::response(), &[], &answers, 1440);
        let parsed: Vec<Message> = packets.iter().map(|p| Message::parse(p).unwrap()).collect();
        let sent: Vec<Record> = parsed.iter().flat_map(|m| m.answers.clone()).collect();
        assert_eq!(sent.len(), 2001, "duplicates dropped, everything else once");
        let big = packets.iter().position(|p| p.len() > 1440).unwrap();
        assert_eq!(
            parsed[big].answers.len(),
            1,
            "the oversized record goes alone"
        );
        for (p, m) in packets.iter().zip(&parsed) {
            assert!(p.len() <= 1440 || m.answers.len() == 1);
        }
        // 2000 small records of about 30 bytes: 45 or so datagrams, not hundreds.
        assert!(packets.len() <= 50, "{} datagrams", packets.len());
    }

    #[test]
    fn three_hundred_known_answers_split_with_tc_on_all_but_last() {
        // CONFORMANCE row 22 (querier side).
        let q = Question {
            name: Name::from_dotted("_http._tcp.local").unwrap(),
            qtype: RecordType::PTR,
            qclass: CLASS_IN,
            unicast_response: false,
        };
        let known: Vec<Record> = (0..300)
            .map(|i| Record {
                name: q.name.clone(),
                class: CLASS_IN,
                cache_flush: true,
                ttl: 4500,
                rdata: RData::Ptr(
                    q.name
                        .prepend(format!("Instance number {i}").as_bytes())
                        .unwrap(),
                ),
            })
            .collect();
        let packets = build_queries(std::slice::from_ref(&q), &known, 1460);
        assert!(packets.len() > 1);
        let msgs: Vec<Message> = packets.iter().map(|p| Message::parse(p).unwrap()).collect();
        assert_eq!(msgs[0].questions, vec![q]);
        assert!(msgs[1..].iter().all(|m| m.questions.is_empty()));
        let (last, rest) = msgs.split_last().unwrap();
        assert!(rest.iter().all(|m| m.header.truncated()));
        assert!(!last.header.truncated());
        assert_eq!(msgs.iter().map(|m| m.answers.len()).sum::<usize>(), 300);
        assert!(
            msgs.iter()
                .flat_map(|m| m.answers.iter())
                .all(|r| !r.cache_flush)
        );
        assert!(packets.iter().all(|p| p.len() <= 1460));
    }
}
