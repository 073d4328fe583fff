//! Packing records and questions into datagrams of bounded size (RFC 6762 §17, §7.2).

use std::collections::HashSet;

use crate::wire::{Header, MessageWriter, Name, Question, RData, Record, WireError};

/// Largest mDNS message we ever build (RFC 6762 §17).
pub(crate) const MAX_MESSAGE: usize = 9000;

/// Responses: each answer with the additionals it brings. Answers spill into further
/// datagrams; additionals go with their answer's datagram when they fit, else are dropped.
pub(crate) fn build_responses(
    header: Header,
    questions: &[Question],
    answers: &[(Record, Vec<Record>)],
    max: usize,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut writer = MessageWriter::new(header, max);
    let mut in_packet: HashSet<(Name, RData)> = HashSet::new();
    let mut adds: Vec<&Record> = Vec::new();
    for q in questions {
        let _ = writer.push_question(q);
    }
    let finish = |writer: MessageWriter,
                  adds: &mut Vec<&Record>,
                  in_packet: &mut HashSet<(Name, RData)>,
                  out: &mut Vec<Vec<u8>>| {
        let mut writer = writer;
        for a in adds.drain(..) {
            if in_packet.insert((a.name.clone(), a.rdata.clone())) {
                let _ = writer.push_additional(a);
            }
        }
        in_packet.clear();
        if !writer.is_empty() {
            out.push(writer.finish());
        }
    };
    for (answer, extra) in answers {
        if !in_packet.insert((answer.name.clone(), answer.rdata.clone())) {
            continue;
        }
        match writer.push_answer(answer) {
            Ok(()) => {}
            Err(WireError::Full) => {
                let full = std::mem::replace(&mut writer, MessageWriter::new(header, max));
                let had_answers = !full.is_empty();
                in_packet.remove(&(answer.name.clone(), answer.rdata.clone()));
                if had_answers {
                    finish(full, &mut adds, &mut in_packet, &mut out);
                }
                in_packet.insert((answer.name.clone(), answer.rdata.clone()));
                if writer.push_answer(answer).is_err() {
                    // Bigger than one datagram of `max`: alone in one of up to 9000 bytes.
                    let mut big = MessageWriter::new(header, MAX_MESSAGE);
                    if big.push_answer(answer).is_ok() {
                        out.push(big.finish());
                    }
                    in_packet.clear();
                    continue;
                }
            }
            Err(_) => continue,
        }
        adds.extend(extra.iter());
    }
    finish(writer, &mut adds, &mut in_packet, &mut out);
    out
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
