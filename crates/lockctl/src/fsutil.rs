//! Private files: directories of mode 0700, files of mode 0600 replaced atomically (a
//! temporary file in the same directory, flushed to disk, renamed over the target, then the
//! directory flushed), so a crash or a concurrent reader sees the old contents or the new,
//! never a mix.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// Mode of every directory lockctl creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file lockctl writes.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and its parents) with mode 0700, or tightens an existing one to 0700.
/// Returns whether an existing directory had to be tightened.
pub fn private_dir(dir: &Path) -> io::Result<bool> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            let loose = meta.permissions().mode() & 0o077 != 0;
            if loose {
                fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))?;
            }
            Ok(loose)
        }
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a directory", dir.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(dir)?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Replaces `path` with `bytes`, atomically and durably; the file has mode 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = filled_temp(path, bytes)?;
    temp.persist(path).map_err(|e| e.error)?;
    sync_parent(path)
}

/// Writes `bytes` to `path` only if no file is there yet (atomically, mode 0600). An
/// existing file is an `AlreadyExists` error and is left as it is.
pub fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = filled_temp(path, bytes)?;
    temp.persist_noclobber(path).map_err(|e| e.error)?;
    sync_parent(path)
}

/// A temporary file beside `path` (mode 0600) holding `bytes`, flushed to disk.
fn filled_temp(path: &Path, bytes: &[u8]) -> io::Result<tempfile::NamedTempFile> {
    let mut temp = tempfile::Builder::new()
        .prefix(".lockctl-")
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(FILE_MODE))
        .tempfile_in(parent(path))?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    Ok(temp)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn sync_parent(path: &Path) -> io::Result<()> {
    File::open(parent(path))?.sync_all()
}

/// The permission bits of `path`.
pub fn mode(path: &Path) -> io::Result<u32> {
    Ok(fs::metadata(path)?.permissions().mode() & 0o7777)
}

/// The names in `dir`, sorted (for tests).
#[cfg(test)]
pub(crate) fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_directory_is_0700_and_a_loose_one_is_tightened() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        assert!(!private_dir(&dir).unwrap());
        assert_eq!(mode(&dir).unwrap(), 0o700);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(private_dir(&dir).unwrap());
        assert_eq!(mode(&dir).unwrap(), 0o700);
    }

    #[test]
    fn a_file_in_the_way_of_the_directory_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("f");
        fs::write(&path, b"x").unwrap();
        assert!(private_dir(&path).is_err());
    }

    #[test]
    fn atomic_writes_replace_the_file_with_mode_0600_and_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        fs::write(&path, b"old and longer than the new").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(mode(&path).unwrap(), 0o600);
        assert_eq!(file_names(dir.path()), ["state.json"]);
    }

    #[test]
    fn write_new_never_replaces_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        write_new(&path, b"first").unwrap();
        let err = write_new(&path, b"second").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).unwrap(), b"first");
        assert_eq!(mode(&path).unwrap(), 0o600);
        assert_eq!(file_names(dir.path()), ["key"]);
    }
}
