//! The stored side of a run: reads the rows of the run's messages back from MySQL and
//! checks that every acknowledged message has exactly one, no message has two, and no msg id
//! repeats within a conversation.
//!
//! Rows are recognised by their text: the load generator's payloads are encrypted with the
//! run's AES key and carry the run tag, stream and sequence number (see [`crate::tracker`]),
//! so the check needs no cooperation from the servers and catches a resend stored twice
//! even when its copies got different msg ids.

use std::collections::HashMap;

use anyhow::{Context, Result};
use mysql::prelude::Queryable;
use mysql::{Params, Pool, Value};
use tt_client::crypto::decrypt_text;

use crate::result::StoredCheck;
use crate::tracker::Payload;

/// Message tables per kind (`IMMessage_0..7`, `IMGroupMessage_0..7`).
const SHARDS: u32 = 8;
/// Rows created this long before the run started still count (clock steps, slow starts).
const CREATED_SLACK_SECS: u64 = 60;

/// What to look for.
#[derive(Debug, Clone)]
pub struct AuditQuery<'a> {
    /// MySQL URL including the database.
    pub mysql_url: &'a str,
    /// Run tag of the payloads.
    pub run_tag: u32,
    /// Message key.
    pub aes_key: &'a [u8; 32],
    /// Login names of the senders.
    pub senders: Vec<String>,
    /// The group of a group run; `None` for 1:1.
    pub group_id: Option<u32>,
    /// Unix time the run started.
    pub started_at: u64,
}

/// One stored row: its conversation (relation or group), msg id and text.
type Row = (u32, u32, String);

/// Reads the run's rows and checks them against `acked` (sequence numbers per stream).
pub fn check(q: &AuditQuery<'_>, acked: &HashMap<u32, Vec<u64>>) -> Result<StoredCheck> {
    let pool = Pool::new(q.mysql_url).with_context(|| format!("connecting to {}", q.mysql_url))?;
    let mut db = pool.get_conn().context("connecting to MySQL")?;
    if q.senders.is_empty() {
        return Ok(StoredCheck::default());
    }
    let marks = vec!["?"; q.senders.len()].join(",");
    let names: Vec<Value> = q.senders.iter().map(|n| Value::from(n.as_str())).collect();
    let ids: Vec<u32> = db.exec(
        format!("SELECT id FROM IMUser WHERE name IN ({marks})"),
        Params::Positional(names),
    )?;
    if ids.is_empty() {
        return Ok(StoredCheck::default());
    }
    let id_list = ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let since = q.started_at.saturating_sub(CREATED_SLACK_SECS);
    let mut rows: Vec<Row> = Vec::new();
    match q.group_id {
        Some(g) => {
            rows.extend(db.exec::<Row, _, _>(
                format!(
                    "SELECT groupId, msgId, content FROM IMGroupMessage_{} \
                     WHERE groupId = ? AND userId IN ({id_list}) AND created >= ?",
                    g % SHARDS
                ),
                (g, since),
            )?);
        }
        None => {
            for shard in 0..SHARDS {
                rows.extend(db.exec::<Row, _, _>(
                    format!(
                        "SELECT relateId, msgId, content FROM IMMessage_{shard} \
                         WHERE fromId IN ({id_list}) AND created >= ?"
                    ),
                    (since,),
                )?);
            }
        }
    }
    Ok(tally(&rows, q.run_tag, q.aes_key, acked))
}

/// Counts the rows of run `run_tag` and compares them with what was acked.
pub fn tally(
    rows: &[Row],
    run_tag: u32,
    key: &[u8; 32],
    acked: &HashMap<u32, Vec<u64>>,
) -> StoredCheck {
    let mut per_message: HashMap<(u32, u64), u64> = HashMap::new();
    let mut per_id: HashMap<(u32, u32), u64> = HashMap::new();
    let mut check = StoredCheck::default();
    for (conversation, msg_id, content) in rows {
        let payload = decrypt_text(content.as_bytes(), key)
            .ok()
            .and_then(|plain| String::from_utf8(plain).ok())
            .and_then(|text| Payload::decode(&text));
        let Some(p) = payload.filter(|p| p.run == run_tag) else {
            continue;
        };
        check.rows += 1;
        *per_message.entry((p.stream, p.seq)).or_default() += 1;
        *per_id.entry((*conversation, *msg_id)).or_default() += 1;
    }
    check.extra_rows = per_message.values().map(|n| n - 1).sum();
    check.reused_msg_ids = per_id.values().filter(|&&n| n > 1).sum();
    check.acked_missing = acked
        .iter()
        .flat_map(|(stream, seqs)| seqs.iter().map(move |seq| (*stream, *seq)))
        .filter(|k| !per_message.contains_key(k))
        .count() as u64;
    check
}

#[cfg(test)]
mod tests {
    use tt_client::crypto::encrypt_text;

    use super::*;

    const KEY: &[u8; 32] = b"12345678901234567890123456789012";

    fn row(conversation: u32, msg_id: u32, run: u32, stream: u32, seq: u64) -> Row {
        let p = Payload {
            run,
            stream,
            seq,
            sent_us: 1,
        };
        (conversation, msg_id, encrypt_text(p.encode(), KEY))
    }

    #[test]
    fn one_row_per_acked_message_is_clean() {
        let rows = vec![row(5, 1, 9, 0, 0), row(5, 2, 9, 0, 1), row(6, 1, 9, 1, 0)];
        let acked = HashMap::from([(0, vec![0, 1]), (1, vec![0])]);
        let c = tally(&rows, 9, KEY, &acked);
        assert_eq!(
            c,
            StoredCheck {
                rows: 3,
                ..StoredCheck::default()
            }
        );
    }

    #[test]
    fn a_message_stored_twice_a_missing_one_and_a_reused_id_are_each_counted() {
        let rows = vec![
            // Stream 0 seq 0 stored twice, under ids 1 and 2.
            row(5, 1, 9, 0, 0),
            row(5, 2, 9, 0, 0),
            // Two different messages under one id of conversation 6.
            row(6, 4, 9, 1, 0),
            row(6, 4, 9, 1, 1),
            // Another run's row and a foreign text are ignored.
            row(5, 3, 8, 0, 5),
            (5, 7, "not ours".to_owned()),
        ];
        // Stream 0 seq 1 was acked and has no row.
        let acked = HashMap::from([(0, vec![0, 1]), (1, vec![0, 1])]);
        let c = tally(&rows, 9, KEY, &acked);
        assert_eq!(
            c,
            StoredCheck {
                rows: 4,
                acked_missing: 1,
                extra_rows: 1,
                reused_msg_ids: 2,
            }
        );
    }
}
