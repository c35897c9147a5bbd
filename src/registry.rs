//! The paired locks: which locks this gateway serves, with their Bluetooth address and name.
//! Persisted in `<state_dir>/locks.json` (`{"version":1,"locks":[...]}`, mode 0600), replaced
//! atomically on every change. A file that cannot be read is an error, never an empty list:
//! paired locks are not silently forgotten.

use crate::atomic;
use lockgate_wire::LockId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The file's name in the state directory.
pub const FILE_NAME: &str = "locks.json";

/// The version of the file format written (and the only one read).
pub const FILE_VERSION: u64 = 1;

/// One paired lock.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PairedLock {
    /// The lock's id.
    #[serde(with = "crate::control::lock_id_text")]
    pub id: LockId,
    /// Its Bluetooth address, `C0:FF:EE:00:00:01` (stored in upper case).
    pub address: String,
    /// A name for people (`Front door`).
    pub name: String,
    /// When it was paired (Unix seconds).
    pub added_at: u64,
}

/// The paired locks cannot be read or saved.
#[derive(Debug, Error)]
pub enum RegistryError {
    /// The file exists but cannot be read.
    #[error("{}: cannot read the paired locks: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// The file is not a valid list of paired locks.
    #[error(
        "{}: the paired locks cannot be read ({reason}); the file is left as it is: \
         repair it or restore a backup, then start lockgated again", path.display()
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file was written in a format this release does not know.
    #[error(
        "{}: file format version {found} is not supported (this lockgated reads version \
         {FILE_VERSION}); it was written by another release of lockgate: install that \
         release again", path.display()
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u64,
    },
    /// A change could not be saved; it was not made.
    #[error("{}: cannot save the paired locks ({error}); nothing was changed", path.display())]
    Save {
        /// The file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// A lock's address is not a Bluetooth address.
    #[error(
        "{address:?} is not a Bluetooth address: expected six pairs of hex digits \
         separated by ':', like C0:FF:EE:00:00:01"
    )]
    BadAddress {
        /// The address given.
        address: String,
    },
}

/// The paired locks, as loaded from and saved to the state directory.
#[derive(Debug)]
pub struct Registry {
    path: PathBuf,
    locks: BTreeMap<LockId, PairedLock>,
}

#[derive(Serialize)]
struct FileOut<'a> {
    version: u64,
    locks: Vec<&'a PairedLock>,
}

#[derive(Deserialize)]
struct FileVersion {
    version: u64,
}

#[derive(Deserialize)]
struct FileIn {
    locks: Vec<PairedLock>,
}

impl Registry {
    /// Loads `<state_dir>/locks.json`; no file means no paired locks.
    pub fn load(state_dir: &Path) -> Result<Registry, RegistryError> {
        let path = state_dir.join(FILE_NAME);
        let locks = match std::fs::read(&path) {
            Ok(bytes) => parse(&path, &bytes)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(error) => return Err(RegistryError::Read { path, error }),
        };
        Ok(Registry { path, locks })
    }

    /// The file the locks are kept in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The paired locks, in lock id order.
    pub fn locks(&self) -> impl Iterator<Item = &PairedLock> {
        self.locks.values()
    }

    /// The paired lock `id`, if any.
    pub fn get(&self, id: &LockId) -> Option<&PairedLock> {
        self.locks.get(id)
    }

    /// Pairs `lock`, or updates its address and name if it is already paired, and saves.
    /// Returns whether the lock is new. On error nothing changes.
    pub fn add(&mut self, mut lock: PairedLock) -> Result<bool, RegistryError> {
        lock.address = normalize_address(&lock.address)?;
        let previous = self.locks.get(&lock.id);
        if previous == Some(&lock) {
            return Ok(false);
        }
        let is_new = previous.is_none();
        let mut locks = self.locks.clone();
        locks.insert(lock.id, lock);
        self.save(&locks)?;
        self.locks = locks;
        Ok(is_new)
    }

    /// Forgets the lock `id` and saves. Returns the lock, or `None` if it was not paired.
    /// On error nothing changes.
    pub fn remove(&mut self, id: &LockId) -> Result<Option<PairedLock>, RegistryError> {
        if !self.locks.contains_key(id) {
            return Ok(None);
        }
        let mut locks = self.locks.clone();
        let removed = locks.remove(id);
        self.save(&locks)?;
        self.locks = locks;
        Ok(removed)
    }

    /// Writes `locks` to the file, creating the state directory (mode 0700) if needed.
    fn save(&self, locks: &BTreeMap<LockId, PairedLock>) -> Result<(), RegistryError> {
        let file = FileOut {
            version: FILE_VERSION,
            locks: locks.values().collect(),
        };
        let save_error = |error| RegistryError::Save {
            path: self.path.clone(),
            error,
        };
        let mut bytes = serde_json::to_vec_pretty(&file).map_err(|e| save_error(e.into()))?;
        bytes.push(b'\n');
        if let Some(dir) = self.path.parent() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(save_error)?;
        }
        atomic::write_file(&self.path, &bytes).map_err(save_error)
    }
}

/// Reads the file's contents: version first, then the locks, each checked.
fn parse(path: &Path, bytes: &[u8]) -> Result<BTreeMap<LockId, PairedLock>, RegistryError> {
    let corrupt = |reason: String| RegistryError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let FileVersion { version } =
        serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    if version != FILE_VERSION {
        return Err(RegistryError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
        });
    }
    let file: FileIn = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    let mut locks = BTreeMap::new();
    for mut lock in file.locks {
        lock.address = normalize_address(&lock.address)
            .map_err(|e| corrupt(format!("lock {}: {e}", lock.id)))?;
        let id = lock.id;
        if locks.insert(id, lock).is_some() {
            return Err(corrupt(format!("lock {id} is listed twice")));
        }
    }
    Ok(locks)
}

/// Checks that `address` is `XX:XX:XX:XX:XX:XX` (hex digits, either case); returns it in
/// upper case, as BlueZ writes it.
pub fn normalize_address(address: &str) -> Result<String, RegistryError> {
    let parts: Vec<&str> = address.split(':').collect();
    let valid = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    if !valid {
        return Err(RegistryError::BadAddress {
            address: address.to_owned(),
        });
    }
    Ok(address.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    const FRONT: LockId = LockId([0x4c, 0x47, 0, 0, 0, 0, 0, 1]);
    const BACK: LockId = LockId([0x4c, 0x47, 0, 0, 0, 0, 0, 2]);

    fn lock(id: LockId, address: &str) -> PairedLock {
        PairedLock {
            id,
            address: address.into(),
            name: "Front door".into(),
            added_at: 1_795_312_000,
        }
    }

    fn file_in(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join(FILE_NAME);
        fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn no_file_means_no_paired_locks_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::load(dir.path()).unwrap();
        assert_eq!(registry.locks().count(), 0);
        assert!(!registry.path().exists());
    }

    #[test]
    fn added_locks_are_saved_0600_and_loaded_back_in_id_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut registry = Registry::load(dir.path()).unwrap();
        assert!(registry.add(lock(BACK, "C0:FF:EE:00:00:02")).unwrap());
        assert!(registry.add(lock(FRONT, "C0:FF:EE:00:00:01")).unwrap());
        let mode = fs::metadata(registry.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let loaded = Registry::load(dir.path()).unwrap();
        let ids: Vec<LockId> = loaded.locks().map(|l| l.id).collect();
        assert_eq!(ids, vec![FRONT, BACK]);
        assert_eq!(loaded.get(&FRONT), Some(&lock(FRONT, "C0:FF:EE:00:00:01")));
    }

    #[test]
    fn the_file_is_version_1_with_a_list_of_locks() {
        let dir = tempfile::tempdir().unwrap();
        let mut registry = Registry::load(dir.path()).unwrap();
        registry.add(lock(FRONT, "c0:ff:ee:00:00:01")).unwrap();
        let text = fs::read_to_string(registry.path()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"version":1,"locks":[{"id":"4c47000000000001",
                "address":"C0:FF:EE:00:00:01","name":"Front door","added_at":1795312000}]})
        );
    }

    #[test]
    fn adding_a_paired_lock_again_updates_it_and_is_not_new() {
        let dir = tempfile::tempdir().unwrap();
        let mut registry = Registry::load(dir.path()).unwrap();
        assert!(registry.add(lock(FRONT, "C0:FF:EE:00:00:01")).unwrap());
        assert!(!registry.add(lock(FRONT, "C0:FF:EE:00:00:01")).unwrap());
        assert!(!registry.add(lock(FRONT, "C0:FF:EE:00:00:09")).unwrap());
        let loaded = Registry::load(dir.path()).unwrap();
        assert_eq!(loaded.get(&FRONT).unwrap().address, "C0:FF:EE:00:00:09");
    }

    #[test]
    fn a_removed_lock_is_gone_after_loading_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut registry = Registry::load(dir.path()).unwrap();
        registry.add(lock(FRONT, "C0:FF:EE:00:00:01")).unwrap();
        registry.add(lock(BACK, "C0:FF:EE:00:00:02")).unwrap();
        let removed = registry.remove(&FRONT).unwrap();
        assert_eq!(removed.map(|l| l.id), Some(FRONT));
        assert_eq!(registry.remove(&FRONT).unwrap(), None);
        let loaded = Registry::load(dir.path()).unwrap();
        assert_eq!(loaded.locks().map(|l| l.id).collect::<Vec<_>>(), vec![BACK]);
    }

    #[test]
    fn a_missing_state_directory_is_created_on_the_first_save() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let mut registry = Registry::load(&state).unwrap();
        registry.add(lock(FRONT, "C0:FF:EE:00:00:01")).unwrap();
        assert_eq!(Registry::load(&state).unwrap().locks().count(), 1);
    }

    #[test]
    fn a_change_that_cannot_be_saved_is_not_made() {
        let dir = tempfile::tempdir().unwrap();
        let mut registry = Registry::load(dir.path()).unwrap();
        // A non-empty directory where the file should go: the rename fails, even for root.
        fs::create_dir(registry.path()).unwrap();
        fs::write(registry.path().join("x"), b"x").unwrap();
        let err = registry.add(lock(FRONT, "C0:FF:EE:00:00:01")).unwrap_err();
        assert!(matches!(err, RegistryError::Save { .. }), "{err}");
        assert!(err.to_string().contains("locks.json"), "{err}");
        assert_eq!(registry.locks().count(), 0);
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it_and_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let torn = r#"{"version":1,"locks":[{"id":"#;
        let path = file_in(dir.path(), torn);
        let err = Registry::load(dir.path()).unwrap_err();
        assert!(matches!(err, RegistryError::Corrupt { .. }), "{err}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), torn);
        file_in(dir.path(), "");
        assert!(matches!(
            Registry::load(dir.path()),
            Err(RegistryError::Corrupt { .. })
        ));
    }

    #[test]
    fn an_unknown_file_version_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        file_in(dir.path(), r#"{"version":2,"locks":"elsewhere"}"#);
        let err = Registry::load(dir.path()).unwrap_err();
        assert!(matches!(
            err,
            RegistryError::UnsupportedVersion { found: 2, .. }
        ));
        assert!(err.to_string().contains("version 2"), "{err}");
    }

    #[test]
    fn a_file_with_a_bad_address_or_a_lock_twice_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let entry = |address: &str| {
            format!(r#"{{"id":"4c47000000000001","address":"{address}","name":"","added_at":0}}"#)
        };
        let bad = entry("C0:FF:EE:00:00");
        file_in(dir.path(), &format!(r#"{{"version":1,"locks":[{bad}]}}"#));
        let err = Registry::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("lock 4c47000000000001") && err.contains("C0:FF:EE:00:00"),
            "{err}"
        );
        let good = entry("C0:FF:EE:00:00:01");
        file_in(
            dir.path(),
            &format!(r#"{{"version":1,"locks":[{good},{good}]}}"#),
        );
        let err = Registry::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("listed twice"), "{err}");
    }

    #[test]
    fn addresses_are_six_hex_pairs_and_kept_in_upper_case() {
        assert_eq!(
            normalize_address("c0:ff:ee:0a:00:01").unwrap(),
            "C0:FF:EE:0A:00:01"
        );
        for bad in [
            "",
            "C0:FF:EE:00:00",
            "C0:FF:EE:00:00:01:02",
            "C0-FF-EE-00-00-01",
            "C0:FF:EE:00:00:0G",
            "C0:FF:EE:00:00:001",
            "+0:FF:EE:00:00:01",
            "é0:FF:EE:00:00:1",
        ] {
            assert!(normalize_address(bad).is_err(), "{bad}");
        }
        let dir = tempfile::tempdir().unwrap();
        let mut registry = Registry::load(dir.path()).unwrap();
        let err = registry.add(lock(FRONT, "nope")).unwrap_err();
        assert!(matches!(err, RegistryError::BadAddress { .. }));
        assert!(!registry.path().exists());
    }
}
