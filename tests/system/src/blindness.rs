//! Searching for a canary (a byte string that exists only inside end-to-end-encrypted
//! content) wherever the gateway could have left it: payloads, files, and the memory of a
//! running process (`/proc/<pid>/mem` through `/proc/<pid>/maps`, which needs root or
//! ptrace rights over the process).

use anyhow::{Context, Result};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bytes read from a process's memory at a time.
const CHUNK: usize = 1 << 20;

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every regular file under `dir` (recursively) that contains `needle`.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries = std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))?;
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() && contains(&std::fs::read(entry.path())?, needle) {
                found.push(entry.path());
            }
        }
    }
    Ok(found)
}

/// The readable mappings of a process: start, end, and what each maps.
fn readable_regions(pid: u32) -> Result<Vec<(u64, u64, String)>> {
    let maps = File::open(format!("/proc/{pid}/maps")).context("opening /proc/<pid>/maps")?;
    let mut regions = Vec::new();
    for line in BufReader::new(maps).lines() {
        let line = line?;
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let name = fields.nth(3).unwrap_or("[anonymous]").to_owned();
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        // The vsyscall page cannot be read through /proc/<pid>/mem.
        if !perms.starts_with('r') || name == "[vsyscall]" {
            continue;
        }
        let start = u64::from_str_radix(start, 16)?;
        let end = u64::from_str_radix(end, 16)?;
        regions.push((start, end, name));
    }
    Ok(regions)
}

/// Where `needle` occurs in the memory of process `pid`: one line (address and mapping) per
/// occurrence. Regions that cannot be read (device mappings) are skipped.
pub fn memory_containing(pid: u32, needle: &[u8]) -> Result<Vec<String>> {
    let mem = File::open(format!("/proc/{pid}/mem"))
        .context("opening /proc/<pid>/mem (needs root or ptrace rights)")?;
    let overlap = needle.len().saturating_sub(1);
    let mut hits = Vec::new();
    let mut buf = vec![0u8; CHUNK + overlap];
    for (start, end, name) in readable_regions(pid)? {
        let mut at = start;
        while at < end {
            let want = usize::try_from(end - at)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            let Ok(n) = mem.read_at(&mut buf[..want], at) else {
                break;
            };
            if n == 0 {
                break;
            }
            if let Some(i) = buf[..n].windows(needle.len()).position(|w| w == needle) {
                hits.push(format!("{:#x} in {name}", at + i as u64));
            }
            // Step less than a whole chunk so that a needle across the boundary is seen.
            at += (n.saturating_sub(overlap)).max(1) as u64;
        }
    }
    hits.dedup();
    Ok(hits)
}
