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
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The size a segment is created with; an entry larger than a segment gets
/// a segment of its own that grows to fit.
pub(crate) const SEGMENT_SIZE: u64 = 16 << 20;
const HEADER: usize = 16;
/// At most this much journal waits for the records file. Only a checkpoint
/// that keeps failing (a full disk, a broken records file) gets near it:
/// past it a commit is refused rather than the journal growing until the
/// disk is full.
const MAX_UNFOLDED: u64 = 1 << 30;

pub(crate) struct Journal {
    dir: PathBuf,
    segment_size: u64,
    /// See `MAX_UNFOLDED`.
    max_unfolded: u64,
    active: File,
    active_path: PathBuf,
    active_first: u64,
    /// Where the next frame goes in the active segment.
    offset: u64,
    /// Bytes from `offset` on that a failed write may have left a frame in
    /// (whole, torn, or only in the page cache): zeroed and synced before
    /// anything is appended again.
    unsure: u64,
    next_seq: u64,
    /// Full segments, oldest first, by first entry number.
    sealed: VecDeque<(u64, PathBuf)>,
    /// Segments holding nothing that is needed any more.
    spares: Vec<PathBuf>,
    /// See `sealed_ever()`.
    sealed_ever: u64,
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

/// One frame's header, if a frame could start at `at` of `data`: its
/// number, and where its payload ends. The payload is not checked here.
fn header_at(data: &[u8], at: usize) -> Option<(u64, u32, usize)> {
    let header = data.get(at..at + HEADER)?;
    let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    let seq = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    // A torn or stale header must not make us read past the file.
    let end = (at + HEADER).checked_add(len as usize).filter(|end| *end <= data.len())?;
    Some((seq, crc, end))
}

/// The payload of a valid frame numbered `seq` at `at`, and where it ends.
fn frame_at(data: &[u8], at: usize, seq: u64) -> Option<(&[u8], usize)> {
    let (found, crc, end) = header_at(data, at)?;
    let payload = &data[at + HEADER..end];
    (found == seq && checksum(seq, payload) == crc).then_some((payload, end))
}

/// The first valid frame at or after `from` whose number is at least `min`
/// (below `min` + 2^32, far beyond any real journal): its offset and number.
/// Slow (every byte offset is tried) and only used where reading stopped.
fn scan_from(data: &[u8], from: usize, min: u64) -> Option<(usize, u64)> {
    (from..data.len().saturating_sub(HEADER - 1)).find_map(|at| {
        let (seq, _, _) = header_at(data, at)?;
        (seq >= min && seq - min < 1 << 32 && frame_at(data, at, seq).is_some()).then_some((at, seq))
    })
}

/// Every entry after `applied`, in order. Entries up to `applied` are in the
/// records file already: damage among them costs nothing, and segments
/// before the one holding `applied + 1` are not even read.
///
/// Reading stops at the first frame that is not valid. Where that frame is
/// the last one written (a torn tail: its commit was never acknowledged) the
/// journal simply ends there. Where valid frames follow it, the frame was
/// damaged after it was acknowledged, and replaying past it would silently
/// lose every commit from it on: that is refused, naming the file, the
/// offset and the entries. A journal that skips entries after `applied` is
/// refused too.
pub(crate) fn read(dir: &Path, applied: u64) -> anyhow::Result<Vec<(u64, Vec<u8>)>> {
    let all = segments(dir)?;
    let first_needed = all.iter().rposition(|(first, _)| *first <= applied + 1).unwrap_or(0);
    let mut entries = Vec::new();
    // The next entry the records need.
    let mut next = applied + 1;
    let mut ended: Option<(PathBuf, usize)> = None;
    for (first, path) in &all[first_needed..] {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        if let Some((torn_file, torn_at)) = &ended {
            // After a torn tail nothing valid may follow: a later segment is
            // a spare renamed for the next entry and not yet written.
            if frame_at(&data, 0, *first).is_some() {
                return Err(damaged(dir, torn_file, *torn_at, next, *first, &format!("in {}", path.display())));
            }
            continue;
        }
        if *first > next {
            if frame_at(&data, 0, *first).is_none() {
                continue;
            }
            bail!(
                "the journal does not continue the records file (records up to entry {applied}, journal resumes at {first}): were the files of the data directory copied at different times?"
            );
        }
        let (mut at, mut seq) = (0usize, *first);
        loop {
            if let Some((payload, end)) = frame_at(&data, at, seq) {
                if seq >= next {
                    entries.push((seq, payload.to_vec()));
                    next = seq + 1;
                }
                (at, seq) = (end, seq + 1);
                continue;
            }
            if seq < next {
                // An entry the records already hold is unreadable (or this
                // segment ends before them): resume at the first one they
                // do not hold, if this segment has it.
                match scan_from(&data, at + 1, next) {
                    Some((found_at, found)) if found == next => (at, seq) = (found_at, found),
                    Some((found_at, found)) => bail!(
                        "the journal is damaged: {} has entry {found} at offset {found_at}, but entry {next} cannot be read before it",
                        path.display()
                    ),
                    None => break,
                }
                continue;
            }
            if let Some((found_at, found)) = scan_from(&data, at + 1, seq) {
                return Err(damaged(dir, path, at, seq, found, &format!("at offset {found_at}")));
            }
            // The end of what was written here. The next entry is either the
            // first of the next segment (this one was full) or was never
            // written (a torn tail, or nothing more was committed).
            ended = Some((path.clone(), at));
            break;
        }
        if ended.is_some() && all.iter().any(|(f, _)| *f == next) {
            ended = None;
        }
    }
    Ok(entries)
}

/// The refusal of a journal whose entry `missing` (expected at `at` of
/// `file`) cannot be read although entries from `found` on follow it
/// (`where_found`): replaying would silently drop them.
fn damaged(dir: &Path, file: &Path, at: usize, missing: u64, found: u64, where_found: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "the journal is damaged: {} at offset {at} does not hold a valid entry {missing}, but entries from {found} on follow it ({where_found}); replaying would lose every acknowledged change from entry {missing} on. eipd will not start on this data directory: restore it from a backup (eipd export), or move {} aside to start from the records file alone, losing those changes",
        file.display(),
        dir.display(),
    )
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing {}", dir.display()))
}

/// A new zero-filled segment, durable under its name before it is used. A
/// failed creation (a full disk) leaves no partial file behind.
fn create_segment(dir: &Path, first: u64, size: u64) -> anyhow::Result<PathBuf> {
    let path = dir.join(segment_name(first));
    let tmp = dir.join(format!("{}.tmp", segment_name(first)));
    let created = (|| {
        let mut file = File::create(&tmp)?;
        let zeros = vec![0u8; size.min(1 << 20) as usize];
        let mut left = size;
        while left > 0 {
            let n = left.min(zeros.len() as u64);
            file.write_all(&zeros[..n as usize])?;
            left -= n;
        }
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if let Err(e) = created {
        let _ = std::fs::remove_file(&tmp);
        return Err(anyhow::Error::new(e).context(format!(
            "creating the journal segment {} ({})",
            path.display(),
            mebibytes(size)
        )));
    }
    sync_dir(dir)?;
    Ok(path)
}

pub(crate) fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

impl Journal {
    /// Starts writing entries numbered from `next_seq` into segments of
    /// `segment_size` bytes. Every segment already in `dir` holds only
    /// entries the records file has (the caller replayed and folded them),
    /// so all of them are spares.
    pub(crate) fn start(dir: &Path, next_seq: u64, segment_size: u64) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        // Whole segments are recycled; partial creations removed.
        let mut spares: Vec<PathBuf> = segments(dir)?.into_iter().map(|(_, p)| p).collect();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "tmp") {
                std::fs::remove_file(&path)?;
            }
        }
        let (active_path, active) = take_segment(dir, &mut spares, next_seq, segment_size)?;
        Ok(Self {
            dir: dir.to_owned(),
            segment_size,
            max_unfolded: MAX_UNFOLDED.max(4 * segment_size),
            active,
            active_path,
            active_first: next_seq,
            offset: 0,
            unsure: 0,
            next_seq,
            sealed: VecDeque::new(),
            spares,
            sealed_ever: 0,
        })
    }

    /// Appends one entry and makes it durable with one write and one
    /// `fdatasync`; returns its number. `applied` is the last entry the
    /// records file holds: segments up to it are recycled when a new one is
    /// needed.
    ///
    /// A failed append changes nothing the journal answers for: its entry
    /// was never acknowledged, the next append reuses its number and first
    /// clears what it may have left (`settle`). So a full disk refuses
    /// commits only while it lasts.
    pub(crate) fn append(&mut self, payload: &[u8], applied: u64) -> anyhow::Result<u64> {
        self.settle()?;
        let length = u32::try_from(payload.len()).context("journal entry over 4 GiB")?;
        let frame_len = HEADER as u64 + payload.len() as u64;
        if self.offset > 0 && self.offset + frame_len > self.segment_size {
            self.rotate(applied)?;
        }
        let seq = self.next_seq;
        let mut frame = Vec::with_capacity(frame_len as usize);
        frame.extend_from_slice(&length.to_le_bytes());
        frame.extend_from_slice(&checksum(seq, payload).to_le_bytes());
        frame.extend_from_slice(&seq.to_le_bytes());
        frame.extend_from_slice(payload);
        if let Err(e) = self.active.write_all_at(&frame, self.offset).and_then(|()| self.active.sync_data()) {
            self.unsure = frame_len;
            return Err(anyhow::Error::new(e).context(format!("writing entry {seq} to {}", self.active_path.display())));
        }
        self.offset += frame_len;
        self.next_seq += 1;
        Ok(seq)
    }

    /// Makes the bytes a failed append may have written read as the end of
    /// the journal again: zeros, synced. After a failed `fdatasync` the page
    /// cache cannot be trusted to hold what reaches the disk (PostgreSQL's
    /// "fsyncgate"), so the bytes are written anew rather than assumed.
    /// Every earlier frame was synced before it was acknowledged.
    pub(crate) fn settle(&mut self) -> anyhow::Result<()> {
        if self.unsure == 0 {
            return Ok(());
        }
        let zeros = vec![0u8; self.unsure as usize];
        self.active
            .write_all_at(&zeros, self.offset)
            .and_then(|()| self.active.sync_data())
            .with_context(|| format!("clearing a failed write in {}", self.active_path.display()))?;
        self.unsure = 0;
        Ok(())
    }

    /// How many segments have been sealed since the start: it moves when an
    /// append opened a new segment.
    pub(crate) fn sealed_ever(&self) -> u64 {
        self.sealed_ever
    }

    /// Whether a failed write still waits to be cleared.
    pub(crate) fn is_settled(&self) -> bool {
        self.unsure == 0
    }

    /// Bytes of journal the records file does not hold yet, at most (whole
    /// segments).
    pub(crate) fn unfolded(&self) -> u64 {
        (self.sealed.len() as u64 + 1) * self.segment_size
    }

    /// Moves on to a new segment. On failure nothing changes: the active
    /// segment stays active (full), and the next append tries again.
    fn rotate(&mut self, applied: u64) -> anyhow::Result<()> {
        // A sealed segment is done with once the records hold its last entry,
        // the one before the next segment's first.
        while let Some((_, path)) = self.sealed.front() {
            let last = self.sealed.get(1).map_or(self.active_first, |(first, _)| *first) - 1;
            if last > applied {
                break;
            }
            self.spares.push(path.clone());
            self.sealed.pop_front();
        }
        if self.spares.is_empty() && self.unfolded() + self.segment_size > self.max_unfolded {
            bail!(
                "the journal holds {} that the records file does not (its checkpoints are failing; see the log); commits resume once they succeed",
                mebibytes(self.unfolded())
            );
        }
        let (path, file) = take_segment(&self.dir, &mut self.spares, self.next_seq, self.segment_size)?;
        let full = std::mem::replace(&mut self.active_path, path);
        self.sealed.push_back((self.active_first, full));
        self.active = file;
        self.active_first = self.next_seq;
        self.offset = 0;
        self.sealed_ever += 1;
        Ok(())
    }
}

/// A segment for entries from `first`, open: a spare renamed, or a new one.
/// On failure `spares` still holds every spare.
fn take_segment(dir: &Path, spares: &mut Vec<PathBuf>, first: u64, size: u64) -> anyhow::Result<(PathBuf, File)> {
    let Some(spare) = spares.pop() else {
        tracing::debug!(first, "new journal segment");
        let path = create_segment(dir, first, size)?;
        return match open_segment(&path) {
            Ok(file) => Ok((path, file)),
            Err(e) => {
                spares.push(path);
                Err(e)
            }
        };
    };
    let path = dir.join(segment_name(first));
    let taken = std::fs::rename(&spare, &path)
        .with_context(|| format!("renaming {} to {}", spare.display(), path.display()))
        .and_then(|()| sync_dir(dir))
        .and_then(|()| open_segment(&path));
    match taken {
        Ok(file) => Ok((path, file)),
        Err(e) => {
            // Under whichever name it has now: its frames are stale either way.
            spares.push(if path.exists() { path } else { spare });
            Err(e)
        }
    }
}

fn open_segment(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new().read(true).write(true).open(path).with_context(|| format!("opening {}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileExt;

    use super::*;

    #[test]
    fn entries_come_back_in_order_after_the_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::start(dir.path(), 1, SEGMENT_SIZE).unwrap();
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
        let mut journal = Journal::start(dir.path(), 1, SEGMENT_SIZE).unwrap();
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
        let mut journal = Journal::start(dir.path(), 1, SEGMENT_SIZE).unwrap();
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

    /// Five entries in one segment, the file's path and each frame's offset.
    fn five_entries(dir: &Path) -> (PathBuf, Vec<u64>) {
        let mut journal = Journal::start(dir, 1, SEGMENT_SIZE).unwrap();
        let mut offsets = Vec::new();
        for i in 1..=5u64 {
            offsets.push(journal.offset);
            journal.append(format!("entry {i}").as_bytes(), 0).unwrap();
        }
        (journal.active_path.clone(), offsets)
    }

    fn flip_a_payload_byte(path: &Path, frame_offset: u64) {
        let file = OpenOptions::new().read(true).write(true).open(path).unwrap();
        let mut byte = [0u8];
        file.read_exact_at(&mut byte, frame_offset + HEADER as u64 + 2).unwrap();
        file.write_all_at(&[byte[0] ^ 0x20], frame_offset + HEADER as u64 + 2).unwrap();
    }

    #[test]
    fn damage_among_entries_the_records_hold_costs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (path, offsets) = five_entries(dir.path());
        flip_a_payload_byte(&path, offsets[0]);
        flip_a_payload_byte(&path, offsets[2]);
        // The records hold entries 1 to 3: 4 and 5 are replayed all the same.
        let read = read(dir.path(), 3).unwrap();
        assert_eq!(read.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![4, 5]);
        assert_eq!(read[0].1, b"entry 4");
    }

    #[test]
    fn damage_before_intact_entries_is_refused_with_where_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let (path, offsets) = five_entries(dir.path());
        flip_a_payload_byte(&path, offsets[2]);
        let err = read(dir.path(), 1).unwrap_err().to_string();
        assert!(err.contains("the journal is damaged"), "{err}");
        assert!(err.contains(&path.display().to_string()), "names the file: {err}");
        assert!(err.contains(&format!("offset {}", offsets[2])), "names the offset: {err}");
        assert!(err.contains("entry 3") && err.contains("entries from 4 on"), "names the entries: {err}");
        // The last frame damaged is a torn tail, whatever the damage.
        let dir = tempfile::tempdir().unwrap();
        let (path, offsets) = five_entries(dir.path());
        flip_a_payload_byte(&path, offsets[4]);
        assert_eq!(read(dir.path(), 1).unwrap().iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![2, 3, 4]);
    }

    #[test]
    fn a_torn_tail_before_a_later_segment_with_entries_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::start(dir.path(), 1, SEGMENT_SIZE).unwrap();
        let big = vec![7u8; (SEGMENT_SIZE / 3) as usize];
        for _ in 0..4 {
            journal.append(&big, 0).unwrap();
        }
        // Entries 1-2 in the first segment, 3-4 in the second.
        let (_, first_segment) = segments(dir.path()).unwrap()[0].clone();
        drop(journal);
        let second_frame = (HEADER + big.len()) as u64;
        flip_a_payload_byte(&first_segment, second_frame);
        let err = read(dir.path(), 0).unwrap_err().to_string();
        assert!(err.contains("the journal is damaged") && err.contains("entries from 3 on"), "{err}");
    }

    #[test]
    fn a_failed_new_segment_changes_nothing_and_the_next_append_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::start(dir.path(), 1, 4096).unwrap();
        let entry = vec![1u8; 1000];
        for _ in 0..4 {
            journal.append(&entry, 0).unwrap();
        }
        // The segment is full; its successor cannot be created (as on a full
        // disk): a directory where the new segment's temporary file goes.
        let blocker = dir.path().join(format!("{}.tmp", segment_name(5)));
        std::fs::create_dir(&blocker).unwrap();
        let err = journal.append(&entry, 0).unwrap_err();
        assert!(format!("{err:#}").contains("creating the journal segment"), "{err:#}");
        assert!(journal.append(&entry, 0).is_err());
        std::fs::remove_dir(&blocker).unwrap();
        assert_eq!(journal.append(&entry, 0).unwrap(), 5, "the refused entries took no number");
        drop(journal);
        assert_eq!(read(dir.path(), 0).unwrap().iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_failed_write_is_cleared_before_the_journal_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::start(dir.path(), 1, SEGMENT_SIZE).unwrap();
        journal.append(b"one", 0).unwrap();
        journal.append(b"two", 0).unwrap();
        // A write whose fdatasync failed may still reach the disk whole: a
        // valid frame 3 that was never acknowledged.
        let payload = b"never acknowledged";
        let mut frame = Vec::new();
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&checksum(3, payload).to_le_bytes());
        frame.extend_from_slice(&3u64.to_le_bytes());
        frame.extend_from_slice(payload);
        journal.active.write_all_at(&frame, journal.offset).unwrap();
        journal.unsure = frame.len() as u64;
        assert_eq!(read(dir.path(), 0).unwrap().len(), 3, "as written, it would replay");
        journal.settle().unwrap();
        assert!(journal.is_settled());
        assert_eq!(read(dir.path(), 0).unwrap().len(), 2, "settled, it is gone");
        assert_eq!(journal.append(b"three", 0).unwrap(), 3);
        drop(journal);
        assert_eq!(read(dir.path(), 0).unwrap()[2], (3, b"three".to_vec()));
    }

    #[test]
    fn the_journal_stops_growing_while_checkpoints_fail() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::start(dir.path(), 1, 4096).unwrap();
        journal.max_unfolded = 4 * 4096;
        let entry = vec![1u8; 2000];
        // Nothing is ever folded (applied stays 0): four segments, then no more.
        let acknowledged = (0..20).take_while(|_| journal.append(&entry, 0).is_ok()).count();
        assert_eq!(acknowledged, 8);
        let err = journal.append(&entry, 0).unwrap_err().to_string();
        assert!(err.contains("checkpoints are failing"), "{err}");
        assert_eq!(segments(dir.path()).unwrap().len(), 4);
        // Once the records hold them, the segments are recycled and it goes on.
        assert_eq!(journal.append(&entry, 8).unwrap(), 9);
        assert_eq!(segments(dir.path()).unwrap().len(), 4);
    }

    #[test]
    fn a_gap_after_the_records_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::start(dir.path(), 10, SEGMENT_SIZE).unwrap();
        journal.append(b"ten", 0).unwrap();
        drop(journal);
        let err = read(dir.path(), 5).unwrap_err().to_string();
        assert!(err.contains("does not continue"), "{err}");
        assert_eq!(read(dir.path(), 9).unwrap().len(), 1);
    }
}
