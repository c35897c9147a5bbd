//! The support throttle's durable state: `<state_dir>/support.json`, replaced atomically
//! (mode 0600) before the gateway answers an attempt, so a restart never resets the
//! throttle. It holds no code and no key: `{"version":1,"failures":2,"last_attempt_ms":...}`.

use lockgate_support::LimiterState;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::Path;

/// The file's name in the state directory.
pub const STATE_FILE: &str = "support.json";
/// The file format's version.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    #[serde(flatten)]
    throttle: LimiterState,
}

/// Why the file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// It could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// It is not a support state file of this version.
    #[error("{path}: not a support state file: {message}")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads the throttle state; a missing file is a fresh gateway.
pub fn load(path: &Path) -> Result<LimiterState, StateError> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(LimiterState::default()),
        Err(source) => {
            return Err(StateError::Read {
                path: path.display().to_string(),
                source,
            })
        }
    };
    let corrupt = |message: String| StateError::Corrupt {
        path: path.display().to_string(),
        message,
    };
    let file: StateFile = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
    if file.version != VERSION {
        return Err(corrupt(format!(
            "version {} (expected {VERSION})",
            file.version
        )));
    }
    Ok(file.throttle)
}

/// Replaces the file with `state`, atomically and durably.
pub fn save(path: &Path, state: LimiterState) -> io::Result<()> {
    let file = StateFile {
        version: VERSION,
        throttle: state,
    };
    let text = serde_json::to_vec(&file).map_err(io::Error::other)?;
    crate::atomic::write_file(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_state_round_trips_through_a_0600_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATE_FILE);
        assert_eq!(load(&path).unwrap(), LimiterState::default());
        let state = LimiterState {
            failures: 3,
            last_attempt_ms: 1_760_000_000_000,
        };
        save(&path, state).unwrap();
        assert_eq!(load(&path).unwrap(), state);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            r#"{"version":1,"failures":3,"last_attempt_ms":1760000000000}"#
        );
    }

    #[test]
    fn a_corrupt_or_foreign_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATE_FILE);
        for text in [
            "garbage",
            r#"{"version":2,"failures":0,"last_attempt_ms":0}"#,
            r#"{"version":1,"failures":0}"#,
        ] {
            std::fs::write(&path, text).unwrap();
            assert!(
                matches!(load(&path), Err(StateError::Corrupt { .. })),
                "{text}"
            );
        }
    }
}
