//! Tests of `spool`: the API against a model, and recovery from whatever is on disk.

use super::format::{self, SEGMENT_MAX_BYTES};
use super::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use tempfile::TempDir;

const ROOMY: SpoolLimits = SpoolLimits {
    max_frames: 1_000_000,
    max_bytes: 1 << 32,
};

fn lock(n: u8) -> LockId {
    LockId::from_bytes([n; 8])
}

fn frame(n: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (n as usize * 31 + i) as u8).collect()
}

fn open(dir: &TempDir) -> Spool {
    Spool::open(dir.path(), ROOMY).unwrap()
}

/// Appends `count` frames of `len` bytes; frame `i` comes from lock `i % 3`.
fn append_frames(spool: &mut Spool, count: u64, len: usize) -> Vec<u64> {
    (0..count)
        .map(|i| spool.append(lock(i as u8 % 3), &frame(i, len)).unwrap())
        .collect()
}

/// A spool in `dir` holding `count` frames of `len` bytes (see [`append_frames`]).
fn spool_with_frames(dir: &TempDir, count: u64, len: usize) -> Spool {
    let mut spool = open(dir);
    append_frames(&mut spool, count, len);
    spool
}

/// Drops `spool` without flushing (as a crash of the process would) and opens it again.
fn reopen(spool: Spool, dir: &TempDir) -> Spool {
    drop(spool);
    open(dir)
}

/// Every live record, in order, read back through `next_after` and `get`.
fn live(spool: &mut Spool) -> Vec<Record> {
    let mut records = Vec::new();
    let mut at = None;
    while let Some(seq) = spool.next_after(at) {
        records.push(spool.get(seq).unwrap().unwrap());
        at = Some(seq);
    }
    records
}

fn live_seqs(spool: &mut Spool) -> Vec<u64> {
    live(spool).iter().map(|r| r.seq).collect()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn segment_files(dir: &Path) -> Vec<String> {
    let mut names = files_in(dir);
    names.retain(|n| n.ends_with(".seg"));
    names
}

fn only_segment(dir: &Path) -> PathBuf {
    let names = segment_files(dir);
    assert_eq!(names.len(), 1, "{names:?}");
    dir.join(&names[0])
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn flip_bit(path: &Path, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 1 << (at % 8);
    fs::write(path, bytes).unwrap();
}

const fn record_len(frame_len: usize) -> usize {
    format::record_len(frame_len)
}

#[test]
fn frames_come_back_in_order_with_their_locks_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = open(&dir);
    let seqs = append_frames(&mut spool, 5, 40);
    assert_eq!(seqs, vec![0, 1, 2, 3, 4]);
    spool.flush().unwrap();
    let mut spool = reopen(spool, &dir);
    let records = live(&mut spool);
    assert_eq!(records.len(), 5);
    for (i, record) in records.iter().enumerate() {
        let i = i as u64;
        assert_eq!(record.seq, i);
        assert_eq!(record.lock, lock(i as u8 % 3));
        assert_eq!(record.frame, frame(i, 40));
    }
    assert_eq!(spool.stats().recovered, 5);
    assert_eq!((spool.len(), spool.bytes()), (5, 200));
}

#[test]
fn unflushed_frames_survive_a_crash_of_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let spool = spool_with_frames(&dir, 3, 10);
    let mut spool = reopen(spool, &dir);
    assert_eq!(live_seqs(&mut spool), vec![0, 1, 2]);
}

#[test]
fn acked_frames_do_not_come_back_after_flush_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = spool_with_frames(&dir, 4, 10);
    spool.ack(0);
    spool.ack(1);
    spool.flush().unwrap();
    let mut spool = reopen(spool, &dir);
    assert_eq!(live_seqs(&mut spool), vec![2, 3]);
    assert_eq!(spool.stats().recovered, 2);
}

#[test]
fn unflushed_acks_come_back_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = spool_with_frames(&dir, 3, 10);
    spool.flush().unwrap();
    spool.ack(0);
    spool.ack(1);
    let mut spool = reopen(spool, &dir);
    assert_eq!(live_seqs(&mut spool), vec![0, 1, 2]);
}

#[test]
fn acks_past_the_first_unacked_frame_come_back_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = spool_with_frames(&dir, 4, 10);
    spool.ack(1);
    spool.ack(3);
    spool.flush().unwrap();
    assert_eq!(live_seqs(&mut spool), vec![0, 2]);
    let mut spool = reopen(spool, &dir);
    assert_eq!(live_seqs(&mut spool), vec![0, 1, 2, 3]);
}

#[test]
fn out_of_order_acks_advance_first_unacked_when_the_gap_closes() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = spool_with_frames(&dir, 5, 10);
    spool.ack(2);
    spool.ack(4);
    assert_eq!(spool.first_unacked(), Some(0));
    assert_eq!((spool.len(), spool.bytes()), (3, 30));
    assert_eq!(live_seqs(&mut spool), vec![0, 1, 3]);
    spool.ack(0);
    assert_eq!(spool.first_unacked(), Some(1));
    spool.ack(1);
    assert_eq!(spool.first_unacked(), Some(3));
    spool.ack(3);
    assert_eq!(spool.first_unacked(), None);
    assert!(spool.is_empty());
    assert_eq!(spool.stats().acked, 5);
}

#[test]
fn duplicate_and_unknown_acks_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = spool_with_frames(&dir, 3, 10);
    spool.ack(1);
    spool.ack(1);
    spool.ack(99);
    spool.ack(u64::MAX);
    assert_eq!(spool.stats().acked, 1);
    assert_eq!(live_seqs(&mut spool), vec![0, 2]);
}

#[test]
fn get_is_none_for_acked_dropped_and_unknown_seqs() {
    let dir = tempfile::tempdir().unwrap();
    let limits = SpoolLimits {
        max_frames: 2,
        ..ROOMY
    };
    let mut spool = Spool::open(dir.path(), limits).unwrap();
    append_frames(&mut spool, 4, 10); // 0 and 1 dropped
    spool.ack(2);
    for seq in [0, 1, 2, 4, 1000] {
        assert_eq!(spool.get(seq).unwrap(), None, "seq {seq}");
    }
    assert_eq!(spool.get(3).unwrap().map(|r| r.frame), Some(frame(3, 10)));
}

#[test]
fn next_after_skips_acked_seqs_and_ends_after_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = open(&dir);
    assert_eq!(spool.next_after(None), None);
    append_frames(&mut spool, 4, 10);
    spool.ack(1);
    assert_eq!(spool.next_after(None), Some(0));
    assert_eq!(spool.next_after(Some(0)), Some(2));
    assert_eq!(spool.next_after(Some(1)), Some(2));
    assert_eq!(spool.next_after(Some(3)), None);
    assert_eq!(spool.next_after(Some(u64::MAX)), None);
}

#[test]
fn seqs_keep_increasing_across_reopen_even_when_all_was_acked() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = spool_with_frames(&dir, 3, 10);
    for seq in 0..3 {
        spool.ack(seq);
    }
    spool.flush().unwrap();
    let mut spool = reopen(spool, &dir);
    assert_eq!(segment_files(dir.path()), Vec::<String>::new());
    assert_eq!(spool.append(lock(1), b"next").unwrap(), 3);
    let mut spool = reopen(spool, &dir);
    assert_eq!(spool.append(lock(1), b"after").unwrap(), 4);
}

#[test]
fn the_frame_limit_drops_the_oldest_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let limits = SpoolLimits {
        max_frames: 3,
        ..ROOMY
    };
    let mut spool = Spool::open(dir.path(), limits).unwrap();
    append_frames(&mut spool, 5, 10);
    assert_eq!(live_seqs(&mut spool), vec![2, 3, 4]);
    assert_eq!(spool.stats().dropped, 2);
    assert_eq!(spool.take_dropped(), 2);
    assert_eq!(spool.take_dropped(), 0);
    assert_eq!(spool.first_unacked(), Some(2));
}

#[test]
fn the_byte_limit_counts_frame_bytes_and_drops_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let limits = SpoolLimits {
        max_frames: 100,
        max_bytes: 100,
    };
    let mut spool = Spool::open(dir.path(), limits).unwrap();
    append_frames(&mut spool, 2, 50);
    assert_eq!(
        (spool.len(), spool.bytes(), spool.stats().dropped),
        (2, 100, 0)
    );
    spool.append(lock(0), &[7]).unwrap();
    assert_eq!(live_seqs(&mut spool), vec![1, 2]);
    assert_eq!((spool.bytes(), spool.take_dropped()), (51, 1));
}

#[test]
fn the_newest_frame_is_kept_even_when_it_alone_exceeds_the_limits() {
    let dir = tempfile::tempdir().unwrap();
    let limits = SpoolLimits {
        max_frames: 0,
        max_bytes: 10,
    };
    let mut spool = Spool::open(dir.path(), limits).unwrap();
    append_frames(&mut spool, 3, 20);
    assert_eq!(live_seqs(&mut spool), vec![2]);
    assert_eq!(spool.take_dropped(), 2);
}

#[test]
fn dropped_frames_do_not_come_back_after_flush_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let limits = SpoolLimits {
        max_frames: 2,
        ..ROOMY
    };
    let mut spool = Spool::open(dir.path(), limits).unwrap();
    append_frames(&mut spool, 5, 10);
    spool.flush().unwrap();
    drop(spool);
    let mut spool = Spool::open(dir.path(), limits).unwrap();
    assert_eq!(live_seqs(&mut spool), vec![3, 4]);
    assert_eq!(spool.take_dropped(), 0);
}

#[test]
fn lower_limits_at_open_drop_the_oldest_and_report_them() {
    let dir = tempfile::tempdir().unwrap();
    let spool = spool_with_frames(&dir, 10, 10);
    drop(spool);
    let limits = SpoolLimits {
        max_frames: 4,
        ..ROOMY
    };
    let mut spool = Spool::open(dir.path(), limits).unwrap();
    assert_eq!(live_seqs(&mut spool), vec![6, 7, 8, 9]);
    assert_eq!(spool.stats().recovered, 10);
    assert_eq!(spool.take_dropped(), 6);
    assert!(spool.needs_flush());
}

#[test]
fn append_rejects_empty_and_oversized_frames() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = open(&dir);
    let err = spool.append(lock(1), &[]).unwrap_err();
    assert!(
        matches!(err, SpoolError::FrameSize { len: 0, max: 4096 }),
        "{err}"
    );
    let err = spool.append(lock(1), &[0; 4097]).unwrap_err();
    assert!(
        matches!(err, SpoolError::FrameSize { len: 4097, .. }),
        "{err}"
    );
    assert_eq!(spool.append(lock(1), &[0; 4096]).unwrap(), 0);
    assert_eq!((spool.len(), spool.stats().appended), (1, 1));
}

#[test]
fn needs_flush_says_whether_appends_or_acks_are_unsynced() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = open(&dir);
    spool.flush().unwrap();
    assert!(!spool.needs_flush());
    append_frames(&mut spool, 2, 10);
    assert!(spool.needs_flush());
    spool.flush().unwrap();
    assert!(!spool.needs_flush());
    spool.ack(1);
    assert!(
        !spool.needs_flush(),
        "an ack behind a live frame moves no cursor"
    );
    spool.ack(0);
    assert!(spool.needs_flush());
    spool.flush().unwrap();
    assert!(!spool.needs_flush());
}

#[test]
fn a_segment_rolls_before_it_would_pass_one_mebibyte() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = open(&dir);
    let per_segment = SEGMENT_MAX_BYTES / record_len(4096) as u64; // 254
    append_frames(&mut spool, per_segment + 10, 4096);
    spool.flush().unwrap();
    let names = segment_files(dir.path());
    assert_eq!(
        names,
        [format::segment_name(0), format::segment_name(per_segment)]
    );
    let first_len = fs::metadata(dir.path().join(&names[0])).unwrap().len();
    assert_eq!(first_len, per_segment * record_len(4096) as u64);
    assert!(first_len <= SEGMENT_MAX_BYTES);
    assert_eq!(spool.segment_count(), 2);
}

#[test]
fn fully_acked_segments_are_deleted_at_flush_and_the_current_one_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = open(&dir);
    let per_segment = SEGMENT_MAX_BYTES / record_len(4096) as u64;
    let seqs = append_frames(&mut spool, 2 * per_segment + 1, 4096);
    for &seq in &seqs[..per_segment as usize + 1] {
        spool.ack(seq);
    }
    assert_eq!(
        segment_files(dir.path()).len(),
        3,
        "removal waits for a flush"
    );
    spool.flush().unwrap();
    let expected = [per_segment, 2 * per_segment].map(format::segment_name);
    assert_eq!(segment_files(dir.path()), expected);
    seqs.iter().for_each(|&seq| spool.ack(seq));
    spool.flush().unwrap();
    assert_eq!(
        segment_files(dir.path()),
        [format::segment_name(2 * per_segment)]
    );
    let spool = reopen(spool, &dir);
    assert_eq!(segment_files(dir.path()), Vec::<String>::new());
    assert_eq!(spool.segment_count(), 0);
}

#[test]
fn each_open_starts_a_new_segment() {
    let dir = tempfile::tempdir().unwrap();
    let spool = spool_with_frames(&dir, 2, 10);
    let mut spool = reopen(spool, &dir);
    spool.append(lock(1), b"x").unwrap();
    let expected = [0, 2].map(format::segment_name);
    assert_eq!(segment_files(dir.path()), expected);
    assert_eq!(live_seqs(&mut spool), vec![0, 1, 2]);
}

#[test]
fn a_torn_tail_is_cut_off_and_the_rest_replays() {
    let source = tempfile::tempdir().unwrap();
    let spool = spool_with_frames(&source, 3, 10);
    drop(spool);
    let whole = fs::read(only_segment(source.path())).unwrap();
    let two = 2 * record_len(10);
    for torn in 1..record_len(10) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format::segment_name(0));
        fs::write(&path, &whole[..two + torn]).unwrap();
        let mut spool = open(&dir);
        assert_eq!(live_seqs(&mut spool), vec![0, 1], "torn at {torn}");
        let stats = spool.stats();
        assert_eq!(
            (stats.truncated_bytes, stats.corrupt_records),
            (torn as u64, 1)
        );
        assert_eq!(fs::metadata(&path).unwrap().len(), two as u64);
        assert_eq!(spool.append(lock(9), b"new").unwrap(), 2);
        drop(spool);

        let mut spool = open(&dir);
        assert_eq!(live_seqs(&mut spool), vec![0, 1, 2], "torn at {torn}");
        assert_eq!(spool.stats().truncated_bytes, 0, "a cut is made once");
    }
}

#[test]
fn a_flipped_bit_anywhere_keeps_exactly_the_records_before_it() {
    let source = tempfile::tempdir().unwrap();
    let spool = spool_with_frames(&source, 3, 12);
    drop(spool);
    let whole = fs::read(only_segment(source.path())).unwrap();
    for at in 0..whole.len() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format::segment_name(0));
        fs::write(&path, &whole).unwrap();
        flip_bit(&path, at);
        let mut spool = open(&dir);
        let intact = (at / record_len(12)) as u64;
        assert_eq!(
            live_seqs(&mut spool),
            (0..intact).collect::<Vec<_>>(),
            "bit {at}"
        );
        let cut = (whole.len() - intact as usize * record_len(12)) as u64;
        assert_eq!(spool.stats().truncated_bytes, cut, "bit {at}");
    }
}

#[test]
fn a_corrupt_record_in_an_older_segment_loses_only_the_rest_of_that_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = open(&dir);
    let per_segment = SEGMENT_MAX_BYTES / record_len(4096) as u64;
    append_frames(&mut spool, per_segment + 5, 4096);
    drop(spool);
    let first = dir.path().join(format::segment_name(0));
    let first_len = fs::metadata(&first).unwrap().len();
    flip_bit(&first, 100 * record_len(4096) + 30);

    let mut spool = open(&dir);
    let expected: Vec<u64> = (0..100).chain(per_segment..per_segment + 5).collect();
    assert_eq!(live_seqs(&mut spool), expected);
    let cut = first_len - 100 * record_len(4096) as u64;
    assert_eq!(spool.stats().truncated_bytes, cut);
    assert_eq!(
        fs::metadata(&first).unwrap().len(),
        first_len,
        "only the last is truncated"
    );
}

#[test]
fn a_seq_out_of_order_ends_its_segment() {
    let dir = tempfile::tempdir().unwrap();
    let spool = spool_with_frames(&dir, 2, 10);
    drop(spool);
    let path = only_segment(dir.path());
    let mut bytes = fs::read(&path).unwrap();
    let mut stale = Vec::new();
    format::encode_record(&mut stale, 1, lock(5), b"stale copy");
    bytes.extend_from_slice(&stale);
    fs::write(&path, bytes).unwrap();

    let mut spool = open(&dir);
    assert_eq!(live_seqs(&mut spool), vec![0, 1]);
    assert_eq!(spool.stats().truncated_bytes, stale.len() as u64);
}

#[test]
fn a_record_damaged_after_open_reads_as_none_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = spool_with_frames(&dir, 3, 10);
    flip_bit(&only_segment(dir.path()), record_len(10) + 20);
    assert_eq!(spool.get(1).unwrap(), None);
    assert_eq!(spool.stats().corrupt_records, 1);
    assert_eq!(live_seqs(&mut spool), vec![0, 2]);
}

#[test]
fn garbage_and_foreign_files_never_stop_open() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join(format::segment_name(0)), b"").unwrap();
    fs::write(d.join(format::segment_name(5)), [0xa5; 3000]).unwrap();
    fs::write(d.join(format::segment_name(7)), [0xff; 8]).unwrap();
    fs::create_dir(d.join(format::segment_name(9))).unwrap();
    let foreign = [
        "notes.txt",
        "0000000000000001.seg.bak",
        "ABCDEF0123456789.seg",
        "1.seg",
    ];
    foreign
        .iter()
        .for_each(|name| fs::write(d.join(name), b"keep me").unwrap());
    fs::write(d.join("cursor"), b"not a cursor").unwrap();

    let mut spool = open(&dir);
    assert!(spool.is_empty());
    assert_eq!(spool.stats().truncated_bytes, 3008);
    assert_eq!(spool.stats().corrupt_records, 2);
    assert_eq!(spool.append(lock(1), b"ok").unwrap(), 0);
    spool.flush().unwrap();
    let mut spool = reopen(spool, &dir);
    assert_eq!(live_seqs(&mut spool), vec![0]);
    for name in foreign.iter().chain(&["0000000000000009.seg"]) {
        assert!(d.join(name).exists(), "{name}");
    }
}

#[test]
fn a_damaged_cursor_replays_everything_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = spool_with_frames(&dir, 3, 10);
    spool.ack(0);
    spool.ack(1);
    spool.flush().unwrap();
    drop(spool);
    flip_bit(&dir.path().join("cursor"), 6);

    let mut spool = open(&dir);
    assert_eq!(live_seqs(&mut spool), vec![0, 1, 2]);
    assert_eq!(spool.append(lock(0), b"x").unwrap(), 3);
}

#[test]
fn a_missing_cursor_replays_everything_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = spool_with_frames(&dir, 2, 10);
    spool.ack(0);
    spool.flush().unwrap();
    drop(spool);
    fs::remove_file(dir.path().join("cursor")).unwrap();
    let mut spool = open(&dir);
    assert_eq!(live_seqs(&mut spool), vec![0, 1]);
}

#[test]
fn the_directory_is_0700_and_its_files_0600() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("state/spool");
    let mut spool = Spool::open(&dir, ROOMY).unwrap();
    spool.append(lock(1), b"frame").unwrap();
    spool.flush().unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(files_in(&dir), ["0000000000000000.seg", "cursor"]);
    for name in files_in(&dir) {
        assert_eq!(mode(&dir.join(&name)), 0o600, "{name}");
    }
}

#[test]
fn an_unusable_directory_is_an_error_naming_it() {
    let parent = tempfile::tempdir().unwrap();
    let file = parent.path().join("a-file");
    fs::write(&file, b"").unwrap();
    let err = Spool::open(&file.join("spool"), ROOMY).unwrap_err();
    assert!(matches!(err, SpoolError::Dir { .. }), "{err:?}");
    assert!(err.to_string().contains("a-file/spool"), "{err}");
}

#[test]
fn a_cursor_survives_encoding_and_any_flipped_bit_is_detected() {
    let bytes = format::encode_cursor(0x0123_4567_89ab);
    assert_eq!(format::parse_cursor(&bytes), Some(0x0123_4567_89ab));
    for bit in 0..bytes.len() * 8 {
        let mut damaged = bytes;
        damaged[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(format::parse_cursor(&damaged), None, "bit {bit}");
    }
    assert_eq!(format::parse_cursor(&bytes[..15]), None);
    assert_eq!(
        format::parse_cursor(&[bytes.as_slice(), &[0]].concat()),
        None
    );
}

#[test]
fn segment_names_are_16_lowercase_hex_digits() {
    assert_eq!(format::segment_name(0xab), "00000000000000ab.seg");
    assert_eq!(
        format::parse_segment_name("00000000000000ab.seg"),
        Some(0xab)
    );
    for bad in [
        "00000000000000AB.seg",
        "+0000000000000ab.seg",
        "ab.seg",
        "00000000000000ab",
    ] {
        assert_eq!(format::parse_segment_name(bad), None, "{bad}");
    }
}

#[derive(Debug, Clone)]
enum Op {
    Append(u8, Vec<u8>),
    Ack(prop::sample::Index),
    Flush,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let frame = prop::collection::vec(any::<u8>(), 1..48);
    prop_oneof![
        4 => (any::<u8>(), frame).prop_map(|(lock, frame)| Op::Append(lock, frame)),
        3 => any::<prop::sample::Index>().prop_map(Op::Ack),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
    ]
}

type Frames = BTreeMap<u64, (LockId, Vec<u8>)>;

/// What the spool must hold: the unacknowledged frames, and the acknowledged ones whose ack
/// is not on disk yet (they may come back at reopen).
#[derive(Debug, Default)]
struct Model {
    unacked: Frames,
    maybe_back: Frames,
    next: u64,
}

impl Model {
    fn check_reopened(&mut self, spool: &mut Spool) {
        for record in live(spool) {
            let expected = (record.lock, record.frame);
            let seq = record.seq;
            let known = self.unacked.get(&seq).or(self.maybe_back.get(&seq));
            assert_eq!(known, Some(&expected), "seq {seq} came back wrong");
            self.unacked.insert(seq, expected);
        }
        assert_eq!(spool.len(), self.unacked.len(), "an unacked frame was lost");
        self.maybe_back.clear();
    }
}

fn apply(op: Op, spool: &mut Spool, model: &mut Model, dir: &Path) {
    match op {
        Op::Append(n, frame) => {
            let seq = spool.append(lock(n), &frame).unwrap();
            assert!(seq >= model.next, "seq {seq} reused");
            model.next = seq + 1;
            model.unacked.insert(seq, (lock(n), frame));
        }
        Op::Ack(pick) => {
            let seq = pick.index(model.next as usize + 2) as u64;
            spool.ack(seq);
            if let Some(acked) = model.unacked.remove(&seq) {
                model.maybe_back.insert(seq, acked);
            }
        }
        Op::Flush => {
            spool.flush().unwrap();
            let cursor = model.unacked.keys().next().copied().unwrap_or(model.next);
            model.maybe_back.retain(|&seq, _| seq > cursor);
        }
        Op::Reopen => {
            *spool = Spool::open(dir, ROOMY).unwrap();
            model.check_reopened(spool);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_spool_loses_no_unacked_frame_and_returns_only_unflushed_acks(
        ops in prop::collection::vec(op(), 1..60)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = open(&dir);
        let mut model = Model::default();
        for op in ops {
            apply(op, &mut spool, &mut model, dir.path());
            prop_assert_eq!(spool.len(), model.unacked.len());
            prop_assert_eq!(spool.first_unacked(), model.unacked.keys().next().copied());
        }
        let expected: Vec<_> = model.unacked.iter().map(|(&s, (l, f))| (s, *l, f.clone())).collect();
        let found: Vec<_> = live(&mut spool).into_iter().map(|r| (r.seq, r.lock, r.frame)).collect();
        prop_assert_eq!(found, expected);
    }

    #[test]
    fn a_full_spool_drops_exactly_what_a_bounded_queue_drops(
        max_frames in 1u32..6,
        max_bytes in 16u64..200,
        ops in prop::collection::vec((any::<bool>(), 1usize..64), 1..80),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let limits = SpoolLimits { max_frames, max_bytes };
        let mut spool = Spool::open(dir.path(), limits).unwrap();
        let mut model: VecDeque<(u64, usize)> = VecDeque::new();
        let mut dropped = 0;
        for (i, (ack_oldest, len)) in ops.into_iter().enumerate() {
            if ack_oldest {
                if let Some((seq, _)) = model.pop_front() {
                    spool.ack(seq);
                }
                continue;
            }
            let seq = spool.append(lock(0), &frame(i as u64, len)).unwrap();
            model.push_back((seq, len));
            let bytes = |m: &VecDeque<(u64, usize)>| m.iter().map(|&(_, l)| l as u64).sum::<u64>();
            while model.len() > 1 && (model.len() > max_frames as usize || bytes(&model) > max_bytes) {
                model.pop_front();
                dropped += 1;
            }
            prop_assert_eq!(spool.bytes(), bytes(&model));
        }
        let expected: Vec<u64> = model.iter().map(|&(seq, _)| seq).collect();
        prop_assert_eq!(live_seqs(&mut spool), expected);
        prop_assert_eq!(spool.take_dropped(), dropped);
    }

    #[test]
    fn any_bytes_on_disk_open_and_keep_every_good_record_before_them(
        good in 0u64..4,
        garbage in prop::collection::vec(any::<u8>(), 0..600),
        cursor in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = open(&dir);
        append_frames(&mut spool, good, 20);
        drop(spool);
        let path = dir.path().join(format::segment_name(0));
        let mut bytes = fs::read(&path).unwrap_or_default();
        bytes.extend_from_slice(&garbage);
        fs::write(&path, bytes).unwrap();
        fs::write(dir.path().join(format::segment_name(good + 100)), &garbage).unwrap();
        fs::write(dir.path().join("cursor"), &cursor).unwrap();

        let mut spool = open(&dir);
        prop_assert_eq!(live_seqs(&mut spool), (0..good).collect::<Vec<_>>());
        let seq = spool.append(lock(1), b"after").unwrap();
        prop_assert!(seq >= good);
    }
}

#[test]
fn an_index_entry_takes_24_bytes() {
    assert_eq!(std::mem::size_of::<index::Entry>(), 24);
}
