//! Published test vectors: `docs/vectors/{fragmentation,envelope,advertisement}.json`.
//!
//! Each test checks the code against the file byte for byte (fragmenting, reassembling,
//! encoding, decoding) and checks that the file holds exactly the vectors this test generates.
//!
//! To regenerate the files after a deliberate format change, run
//! `LOCKGATE_WRITE_VECTORS=1 cargo test -p lockgate-wire --test vectors`: the tests then write
//! the files instead of comparing. Review the diff before committing it.

use std::path::PathBuf;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

#[path = "vectors/advertisement.rs"]
mod advertisement;
#[path = "vectors/envelope.rs"]
mod envelope;
#[path = "vectors/fragmentation.rs"]
mod fragmentation;

fn vector_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/vectors")
        .join(name)
}

/// Writes `generated` if `LOCKGATE_WRITE_VECTORS=1`, else returns the file's vectors after
/// checking they equal `generated`.
pub(crate) fn load_or_write<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    name: &str,
    generated: T,
) -> T {
    let path = vector_path(name);
    if std::env::var("LOCKGATE_WRITE_VECTORS").as_deref() == Ok("1") {
        let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
        return generated;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let from_file: T = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    assert_eq!(
        from_file, generated,
        "{name} differs from the code; see the top of vectors.rs"
    );
    from_file
}

pub(crate) fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap()
}

/// Bytes that must be rejected, and the error's name.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InvalidVector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) company_id: Option<u16>,
    pub(crate) bytes: String,
    pub(crate) error: String,
}
