//! The embedded store's write-ahead journal: numbered entries in
//! preallocated segment files, each entry made durable by one `fdatasync`.
//!
//! Why not a redb table: a redb commit rewrites the pages of its B-trees and
//! allocator on top of the fsync (about 0.8 ms per commit on the reference
//! machine), where overwriting preallocated, zero-filled space needs the
//! data write and nothing else (about 0.23 ms). The journal is only ever
//! appended to and read from the start, so a log is all it needs to be.
//!
//! A segment is `eipd-journal/<first entry number, 20 digits>.wal`, 16 MiB
//! of frames: payload length (u32), CRC-32 of number and payload (u32),
//! entry number (u64), payload; all little-endian. A frame is valid when it
//! fits, its checksum matches and its number is the next one expected;
//! reading stops at the first frame that is not. A crash can only tear the
//! last frame, whose commit was never acknowledged. Segments whose entries
//! the records file holds are renamed and written over again (recycled):
//! their stale frames carry older numbers, so they never read as valid.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The size a segment is created with; an entry larger than a segment gets
/// a segment of its own that grows to fit.
const SEGMENT_SIZE: u64 = 16 << 20;
const HEADER: usize = 16;

pub(crate) struct Journal {
    dir: PathBuf,
    active: File,
    active_path: PathBuf,
    active_first: u64,
    /// Where the next frame goes in the active segment.
    offset: u64,
    next_seq: u64,
    /// Full segments, oldest first, by first entry number.
    sealed: VecDeque<(u64, PathBuf)>,
    /// Segments holding nothing that is needed any more.
    spares: Vec<PathBuf>,
}

fn segment_name(first: u64) -> String {
    format!("{first:020}.wal")
}

/// The segments of a journal directory, by first entry number.
fn segments(dir: &Path) -> anyhow::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        match name.strip_suffix(".wal").and_then(|n| n.parse::<u64>().ok()) {
            Some(first) => found.push((first, path)),
            None if name.ends_with(".tmp") => {}
            None => bail!("{} is not an eipd journal segment; refusing to touch the journal", path.display()),
        }
    }
    found.sort();
    Ok(found)
}

fn checksum(seq: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// The valid frames of one segment, from its start, numbered from `first`.
/// Read frame by frame up to the first invalid one: most of a segment is
/// unused (zeros, or stale frames of a recycled segment), and reading it
/// whole cost 16 MiB of reads per segment at every start.
fn frames(path: &Path, first: u64) -> anyhow::Result<Vec<(u64, Vec<u8>)>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(256 << 10, file);
    let mut out = Vec::new();
    let (mut at, mut expected) = (0u64, first);
    let mut header = [0u8; HEADER];
    while at + HEADER as u64 <= size {
        reader.read_exact(&mut header).with_context(|| format!("reading {}", path.display()))?;
        let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
        let seq = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
        // A torn or stale header must not make us allocate what the file
        // cannot hold.
        let end = at + HEADER as u64 + u64::from(len);
        if seq != expected || end > size {
            break;
        }
        let mut payload = vec![0u8; len as usize];
        reader.read_exact(&mut payload).with_context(|| format!("reading {}", path.display()))?;
        if checksum(seq, &payload) != crc {
            break;
        }
        out.push((seq, payload));
        at = end;
        expected += 1;
    }
    Ok(out)
}

/// Every entry after `applied`, in order. Entries up to `applied` are in the
/// records file already; a journal that skips entries after it is refused.
pub(crate) fn read(dir: &Path, applied: u64) -> anyhow::Result<Vec<(u64, Vec<u8>)>> {
    let mut entries = Vec::new();
    let mut next = applied + 1;
    for (first, path) in segments(dir)? {
        for (seq, payload) in frames(&path, first)? {
            if seq < next {
                continue;
            }
            if seq > next {
                bail!(
                    "the journal does not continue the records file (records up to entry {applied}, journal resumes at {seq}): were the files of the data directory copied at different times?"
                );
            }
            entries.push((seq, payload));
            next += 1;
        }
    }
    Ok(entries)
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing {}", dir.display()))
}

/// A new zero-filled segment, durable under its name before it is used.
fn create_segment(dir: &Path, first: u64) -> anyhow::Result<PathBuf> {
    let path = dir.join(segment_name(first));
    let tmp = dir.join(format!("{}.tmp", segment_name(first)));
    let mut file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..SEGMENT_SIZE >> 20 {
        file.write_all(&zeros)?;
    }
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    sync_dir(dir)?;
    Ok(path)
}

impl Journal {
    /// Starts writing entries numbered from `next_seq`. Every segment already
    /// in `dir` holds only entries the records file has (the caller replayed
    /// and folded them), so all of them are spares.
    pub(crate) fn start(dir: &Path, next_seq: u64) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        // Whole segments are recycled; partial creations removed.
        let mut spares: Vec<PathBuf> = segments(dir)?.into_iter().map(|(_, p)| p).collect();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "tmp") {
                std::fs::remove_file(&path)?;
            }
        }
        let active_path = take_segment(dir, &mut spares, next_seq)?;
        let active = open_segment(&active_path)?;
        Ok(Self {
            dir: dir.to_owned(),
            active,
            active_path,
            active_first: next_seq,
            offset: 0,
            next_seq,
            sealed: VecDeque::new(),
            spares,
        })
    }

    /// Appends one entry and makes it durable with one write and one
    /// `fdatasync`; returns its number. `applied` is the last entry the
    /// records file holds: segments up to it are recycled when a new one is
    /// needed.
    pub(crate) fn append(&mut self, payload: &[u8], applied: u64) -> anyhow::Result<u64> {
        let length = u32::try_from(payload.len()).context("journal entry over 4 GiB")?;
        let frame_len = HEADER as u64 + payload.len() as u64;
        if self.offset > 0 && self.offset + frame_len > SEGMENT_SIZE {
            self.rotate(applied)?;
        }
        let seq = self.next_seq;
        let mut frame = Vec::with_capacity(frame_len as usize);
        frame.extend_from_slice(&length.to_le_bytes());
        frame.extend_from_slice(&checksum(seq, payload).to_le_bytes());
        frame.extend_from_slice(&seq.to_le_bytes());
        frame.extend_from_slice(payload);
        self.active.write_all_at(&frame, self.offset)?;
        self.active.sync_data()?;
        self.offset += frame_len;
        self.next_seq += 1;
        Ok(seq)
    }

    fn rotate(&mut self, applied: u64) -> anyhow::Result<()> {
        self.sealed.push_back((self.active_first, self.active_path.clone()));
        // A sealed segment is done with once the records hold its last entry,
        // the one before the next segment's first.
        while !self.sealed.is_empty() {
            let last = self.sealed.get(1).map_or(self.next_seq, |(first, _)| *first) - 1;
            if last > applied {
                break;
            }
            let (_, path) = self.sealed.pop_front().expect("not empty");
            self.spares.push(path);
        }
        self.active_path = take_segment(&self.dir, &mut self.spares, self.next_seq)?;
        self.active = open_segment(&self.active_path)?;
        self.active_first = self.next_seq;
        self.offset = 0;
        Ok(())
    }
}

/// A segment for entries from `first`: a spare renamed, or a new one.
fn take_segment(dir: &Path, spares: &mut Vec<PathBuf>, first: u64) -> anyhow::Result<PathBuf> {
    match spares.pop() {
        Some(spare) => {
            let path = dir.join(segment_name(first));
            std::fs::rename(&spare, &path)?;
            sync_dir(dir)?;
            Ok(path)
        }
        None => {
            tracing::debug!(first, "new journal segment");
            create_segment(dir, first)
        }
    }
}

fn open_segment(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new().read(true).write(true).open(path).with_context(|| format!("opening {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_back_in_order_after_the_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::start(dir.path(), 1).unwrap();
        for i in 1..=5u64 {
            assert_eq!(journal.append(format!("entry {i}").as_bytes(), 0).unwrap(), i);
        }
        drop(journal);
        let read = read(dir.path(), 2).unwrap();
        assert_eq!(read.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(read[0].1, b"entry 3");
    }

    #[test]
    fn a_torn_last_frame_ends_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::start(dir.path(), 1).unwrap();
        journal.append(b"kept", 0).unwrap();
        journal.append(b"torn by a crash", 0).unwrap();
        let path = journal.active_path.clone();
        drop(journal);
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all_at(b"X", (HEADER + 4 + HEADER + 3) as u64).unwrap();
        let read = read(dir.path(), 0).unwrap();
        assert_eq!(read, vec![(1, b"kept".to_vec())]);
    }

    #[test]
    fn recycled_segments_never_replay_stale_frames() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::start(dir.path(), 1).unwrap();
        let big = vec![7u8; (SEGMENT_SIZE / 3) as usize];
        // Fill several segments; the records hold everything but the last two.
        for _ in 0..8 {
            journal.append(&big, 0).unwrap();
        }
        let applied = 6;
        for _ in 0..4 {
            journal.append(&big, applied).unwrap();
        }
        let segments_now = segments(dir.path()).unwrap().len();
        assert!(segments_now <= 6, "old segments were not recycled: {segments_now}");
        drop(journal);
        let read = read(dir.path(), applied).unwrap();
        assert_eq!(read.iter().map(|(s, _)| *s).collect::<Vec<_>>(), (7..=12).collect::<Vec<_>>());
    }

    #[test]
    fn a_gap_after_the_records_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::start(dir.path(), 10).unwrap();
        journal.append(b"ten", 0).unwrap();
        drop(journal);
        let err = read(dir.path(), 5).unwrap_err().to_string();
        assert!(err.contains("does not continue"), "{err}");
        assert_eq!(read(dir.path(), 9).unwrap().len(), 1);
    }
}
