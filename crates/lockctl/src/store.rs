//! The key store: this endpoint's static X25519 key and, per paired lock, what the endpoint
//! needs to talk to it (the lock's public key, the authorization id and grant, the session key
//! and counter state, the gateway and base topic it is reached through).
//!
//! Layout (directory 0700, every file 0600, written atomically):
//!
//! ```text
//! <dir>/identity.json            {"version":1,"secret_key":"<64 hex>"}: generated on first use
//! <dir>/locks/<lock id>.json     one paired lock (see LockRecord)
//! <dir>/locks/<lock id>.lock     empty; flock(2)ed while a command uses the lock
//! ```
//!
//! A lock's record is only read and written through a [`LockClaim`], which holds an exclusive
//! advisory lock on its `.lock` file: two lockctl processes never send under the same session
//! counters. Keys are never logged; `Debug` output leaves them out.

use crate::fsutil::{private_dir, write_atomic, write_new};
use lockgate_e2e::keys::{parse_key_hex, SessionKey};
use lockgate_e2e::{ChannelState, Grant, PairedLock, PublicKey, StaticSecret};
use lockgate_wire::LockId;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use thiserror::Error;
use zeroize::Zeroizing;

/// Version of the files this code writes; others are refused.
pub const STORE_VERSION: u32 = 1;
/// The endpoint's key file.
pub const IDENTITY_FILE: &str = "identity.json";
/// The directory of lock records.
pub const LOCKS_DIR: &str = "locks";

/// Why the key store could not be used.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A file or directory could not be read or written.
    #[error("key store: {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// A file is not what lockctl wrote.
    #[error("key store: {path} is damaged ({reason}); {advice}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
        /// What to do.
        advice: &'static str,
    },
    /// No paired lock matches.
    #[error("no paired lock {0}; `lockctl locks` lists the locks this endpoint knows")]
    UnknownLock(String),
    /// Several paired locks start with the same digits.
    #[error("{query} matches several paired locks ({matches}); give more digits")]
    Ambiguous {
        /// What was asked for.
        query: String,
        /// The lock ids that match.
        matches: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What lockctl keeps about one paired lock.
#[derive(Clone, Serialize, Deserialize)]
pub struct LockRecord {
    /// The lock.
    #[serde(with = "lock_id_text")]
    pub lock: LockId,
    /// The gateway id it is reached through.
    pub gateway: String,
    /// That gateway's base topic (`lockgate/<gateway>` unless it was configured otherwise).
    pub base_topic: String,
    /// This endpoint's authorization id on the lock.
    pub auth_id: u32,
    /// The name this endpoint paired under.
    pub name: String,
    /// What the lock granted (role, validity).
    pub grant: Grant,
    /// The lock's static public key.
    #[serde(with = "public_key_hex")]
    pub lock_key: PublicKey,
    /// The session key of the authorization (secret).
    pub session_key: SessionKey,
    /// Send counter reservation and replay window top.
    pub channel: ChannelState,
    /// When it was paired (Unix seconds).
    pub paired_at: u64,
}

impl LockRecord {
    /// The record of a fresh pairing.
    pub fn new(paired: PairedLock, gateway: &str, base_topic: &str, name: &str) -> Self {
        LockRecord {
            lock: paired.lock_id,
            gateway: gateway.to_owned(),
            base_topic: base_topic.to_owned(),
            auth_id: paired.auth_id,
            name: name.to_owned(),
            grant: paired.grant,
            lock_key: paired.lock_key,
            session_key: paired.session_key,
            channel: ChannelState::default(),
            paired_at: crate::unix_now(),
        }
    }

    /// The pairing, for opening a session.
    pub fn paired_lock(&self) -> PairedLock {
        PairedLock {
            lock_id: self.lock,
            lock_key: self.lock_key,
            auth_id: self.auth_id,
            grant: self.grant,
            session_key: self.session_key.clone(),
        }
    }
}

impl fmt::Debug for LockRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockRecord")
            .field("lock", &self.lock)
            .field("gateway", &self.gateway)
            .field("base_topic", &self.base_topic)
            .field("auth_id", &self.auth_id)
            .field("grant", &self.grant)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct Versioned<T> {
    version: u32,
    #[serde(flatten)]
    body: T,
}

#[derive(Serialize, Deserialize)]
struct IdentityFile {
    secret_key: SecretHex,
}

/// A secret key as hex text, zeroized on drop.
struct SecretHex(Zeroizing<String>);

impl Serialize for SecretHex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretHex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| SecretHex(Zeroizing::new(s)))
    }
}

/// The key store in one directory.
#[derive(Debug, Clone)]
pub struct KeyStore {
    dir: PathBuf,
}

impl KeyStore {
    /// Opens (creating it, mode 0700) the store in `dir`. A directory others may read is
    /// tightened to 0700, with a warning in the log.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        for d in [dir.to_path_buf(), dir.join(LOCKS_DIR)] {
            if private_dir(&d).map_err(io_error(&d))? {
                log::warn!("{} was readable by others; now mode 0700", d.display());
            }
        }
        Ok(KeyStore {
            dir: dir.to_path_buf(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This endpoint's static key, generated and stored on first use. No one else ever
    /// learns it.
    pub fn identity(&self) -> Result<StaticSecret, StoreError> {
        let path = self.dir.join(IDENTITY_FILE);
        if let Some(key) = self.read_identity(&path)? {
            return Ok(key);
        }
        let key = StaticSecret::generate(&mut rand_core::OsRng);
        let file = Versioned {
            version: STORE_VERSION,
            body: IdentityFile {
                secret_key: SecretHex(Zeroizing::new(hex::encode(*key.to_bytes()))),
            },
        };
        let text = Zeroizing::new(to_json(&file));
        match write_new(&path, text.as_bytes()) {
            Ok(()) => Ok(key),
            // Another lockctl made one first: use that one.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                self.read_identity(&path)?.ok_or_else(|| io_error(&path)(e))
            }
            Err(e) => Err(io_error(&path)(e)),
        }
    }

    fn read_identity(&self, path: &Path) -> Result<Option<StaticSecret>, StoreError> {
        let Some(text) = read_optional(path)? else {
            return Ok(None);
        };
        let corrupt = |reason: String| StoreError::Corrupt {
            path: path.to_path_buf(),
            reason,
            advice: "restore it from a backup; removing it makes a new key, and every lock \
                     must then be paired again",
        };
        let file: IdentityFile = parse_versioned(&text).map_err(corrupt)?;
        let bytes = parse_key_hex(&file.secret_key.0)
            .ok_or_else(|| corrupt("secret_key is not 64 hex digits".into()))?;
        Ok(Some(StaticSecret::from_bytes(bytes)))
    }

    /// Every paired lock, in lock id order. Read without claiming: a snapshot.
    pub fn locks(&self) -> Result<Vec<LockRecord>, StoreError> {
        let dir = self.dir.join(LOCKS_DIR);
        let mut records = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_error(&dir))? {
            let path = entry.map_err(io_error(&dir))?.path();
            let is_record = path.extension().is_some_and(|e| e == "json")
                && path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .is_some_and(|s| s.parse::<LockId>().is_ok());
            if is_record {
                if let Some(text) = read_optional(&path)? {
                    records.push(parse_record(&path, &text)?);
                }
            }
        }
        records.sort_by_key(|r| r.lock);
        Ok(records)
    }

    /// The paired lock whose id is `query` or starts with it (at least 4 hex digits).
    pub fn find(&self, query: &str) -> Result<LockId, StoreError> {
        if let Ok(id) = query.parse::<LockId>() {
            return Ok(id);
        }
        let q = query.to_ascii_lowercase();
        let unknown = || StoreError::UnknownLock(query.to_owned());
        if q.len() < 4 {
            return Err(unknown());
        }
        let matches: Vec<LockId> = self
            .locks()?
            .into_iter()
            .map(|r| r.lock)
            .filter(|id| id.to_string().starts_with(&q))
            .collect();
        match matches.as_slice() {
            [] => Err(unknown()),
            [one] => Ok(*one),
            many => Err(StoreError::Ambiguous {
                query: query.to_owned(),
                matches: many
                    .iter()
                    .map(LockId::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Claims `lock` for this process (an exclusive `flock` on its `.lock` file, blocking
    /// while another process holds it) so its record can be read and written.
    pub fn claim(&self, lock: LockId) -> Result<LockClaim, StoreError> {
        let dir = self.dir.join(LOCKS_DIR);
        let lock_path = dir.join(format!("{lock}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(crate::fsutil::FILE_MODE)
            .open(&lock_path)
            .map_err(io_error(&lock_path))?;
        let flock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(flock) => flock,
            Err((file, _)) => {
                log::info!("waiting for another lockctl that uses lock {lock}");
                Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| {
                    io_error(&lock_path)(io::Error::from_raw_os_error(errno as i32))
                })?
            }
        };
        Ok(LockClaim {
            _flock: flock,
            path: dir.join(format!("{lock}.json")),
        })
    }
}

/// A lock claimed by this process: its record may be read and written until this drops.
#[derive(Debug)]
pub struct LockClaim {
    _flock: Flock<File>,
    path: PathBuf,
}

impl LockClaim {
    /// The lock's record, if it is paired.
    pub fn load(&self) -> Result<Option<LockRecord>, StoreError> {
        match read_optional(&self.path)? {
            Some(text) => parse_record(&self.path, &text).map(Some),
            None => Ok(None),
        }
    }

    /// Replaces the lock's record, atomically and durably.
    pub fn save(&self, record: &LockRecord) -> Result<(), StoreError> {
        let file = Versioned {
            version: STORE_VERSION,
            body: record,
        };
        let text = Zeroizing::new(to_json(&file));
        write_atomic(&self.path, text.as_bytes()).map_err(io_error(&self.path))
    }

    /// Forgets the lock (its record only; the lock itself is not told).
    pub fn remove(&self) -> Result<(), StoreError> {
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error(&self.path)(e)),
            _ => Ok(()),
        }
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Serialising these plain structs cannot fail.
    serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
}

fn read_optional(path: &Path) -> Result<Option<Zeroizing<String>>, StoreError> {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(|s| Some(Zeroizing::new(s)))
            .map_err(|_| StoreError::Corrupt {
                path: path.to_path_buf(),
                reason: "not UTF-8 text".into(),
                advice: "restore it from a backup, or remove it and pair again",
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path)(e)),
    }
}

fn parse_versioned<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, String> {
    let file: Versioned<T> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    match file.version {
        STORE_VERSION => Ok(file.body),
        v => Err(format!(
            "version {v}, this lockctl reads version {STORE_VERSION}"
        )),
    }
}

fn parse_record(path: &Path, text: &str) -> Result<LockRecord, StoreError> {
    let record: LockRecord = parse_versioned(text).map_err(|reason| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason,
        advice: "restore it from a backup, or remove it and pair with the lock again",
    })?;
    let named = path.file_stem().and_then(|s| s.to_str());
    if named != Some(record.lock.to_string().as_str()) {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("it holds lock {}", record.lock),
            advice: "a record must be named after its lock; rename or remove it",
        });
    }
    Ok(record)
}

mod lock_id_text {
    use lockgate_wire::LockId;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &LockId, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(id)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<LockId, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

mod public_key_hex {
    use lockgate_e2e::keys::parse_key_hex;
    use lockgate_e2e::PublicKey;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(key: &PublicKey, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(key.as_bytes()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PublicKey, D::Error> {
        let text = String::deserialize(d)?;
        parse_key_hex(&text)
            .map(PublicKey)
            .ok_or_else(|| serde::de::Error::custom("a key is 64 hex digits"))
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
