//! Durable JSON files: written atomically (temporary file, fsync, rename) with mode 0600,
//! since they hold secret keys.

use crate::lock::LockError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

fn io_error(path: &Path, source: std::io::Error) -> LockError {
    LockError::Store {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads `path`; `Ok(None)` if it does not exist.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, LockError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path, e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| LockError::Invalid {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// Replaces `path` atomically with `value`, mode 0600.
pub fn save<T: Serialize>(path: &Path, value: &T) -> Result<(), LockError> {
    let json = serde_json::to_vec_pretty(value).map_err(|e| io_error(path, e.into()))?;
    let tmp = path.with_extension("json.tmp");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io_error(&tmp, e))?;
    file.write_all(&json)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| io_error(path, e))?;
    if let Some(dir) = path.parent() {
        // Make the rename itself durable.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error(dir, e))?;
    }
    Ok(())
}
