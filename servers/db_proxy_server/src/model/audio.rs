//! `IMAudio`: metadata of audio messages whose bytes live in msfs (BEHAVIOUR §8.5a/§8.5b).

use mysql::Row;
use mysql::prelude::Queryable;

use super::{col, exec_write};

/// Stored metadata of one audio message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioRow {
    /// msfs download URL.
    pub path: String,
    /// Byte length of the audio (without the duration prefix).
    pub size: u32,
    /// Duration in seconds.
    pub duration: u32,
}

/// A new audio record.
#[derive(Debug, Clone, Copy)]
pub struct NewAudio<'a> {
    /// Sender.
    pub from: u32,
    /// Peer user or group.
    pub to: u32,
    /// msfs URL.
    pub path: &'a str,
    /// Audio byte length.
    pub size: u32,
    /// Duration in seconds.
    pub duration: u32,
    /// Message create time.
    pub created: u32,
}

/// Inserts an audio record (Q-AUDIO-INSERT, all values bound: D-SQL-4); returns its id.
pub fn insert(q: &mut impl Queryable, a: &NewAudio<'_>) -> mysql::Result<Option<u32>> {
    let (_, id) = exec_write(
        q,
        "INSERT INTO IMAudio (fromId, toId, path, size, duration, created) \
         VALUES (?, ?, ?, ?, ?, ?)",
        (a.from, a.to, a.path, a.size, a.duration, a.created),
    )?;
    Ok(u32::try_from(id).ok().filter(|&id| id != 0))
}

/// The audio record with `id` (Q-AUDIO-GET, bound: D-SQL-4).
pub fn get(q: &mut impl Queryable, id: u32) -> mysql::Result<Option<AudioRow>> {
    let row: Option<Row> = q.exec_first(
        "SELECT path, size, duration FROM IMAudio WHERE id = ?",
        (id,),
    )?;
    Ok(row.map(|r| AudioRow {
        path: col(&r, 0),
        size: col(&r, 1),
        duration: col(&r, 2),
    }))
}
