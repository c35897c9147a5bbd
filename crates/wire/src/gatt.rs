//! GATT identifiers of the lockgate service: the service UUID and its two characteristics.
//!
//! Every UUID is given twice: as a `u128` (for code that builds or compares UUIDs) and as its
//! canonical lowercase string (for D-Bus and logs). A unit test keeps the two forms in step.
//! The common prefix `6c6f636b-6761-7465` is "lockgate" in ASCII.

/// The lockgate GATT primary service, `6c6f636b-6761-7465-0000-000000000000`.
pub const SERVICE_UUID: u128 = 0x6c6f636b_6761_7465_0000_000000000000;

/// Canonical lowercase string form of [`SERVICE_UUID`].
pub const SERVICE_UUID_STR: &str = "6c6f636b-6761-7465-0000-000000000000";

/// The `rx` characteristic: the gateway writes fragments to the lock here, always with
/// write-with-response (ATT Write Request) so that fragments arrive in order.
pub const RX_CHAR_UUID: u128 = 0x6c6f636b_6761_7465_0000_000000000001;

/// Canonical lowercase string form of [`RX_CHAR_UUID`].
pub const RX_CHAR_UUID_STR: &str = "6c6f636b-6761-7465-0000-000000000001";

/// The `tx` characteristic: the lock sends fragments to the gateway as notifications here.
pub const TX_CHAR_UUID: u128 = 0x6c6f636b_6761_7465_0000_000000000002;

/// Canonical lowercase string form of [`TX_CHAR_UUID`].
pub const TX_CHAR_UUID_STR: &str = "6c6f636b-6761-7465-0000-000000000002";

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(uuid: u128) -> String {
        let hex = format!("{uuid:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    #[test]
    fn string_forms_match_the_u128_values() {
        assert_eq!(canonical(SERVICE_UUID), SERVICE_UUID_STR);
        assert_eq!(canonical(RX_CHAR_UUID), RX_CHAR_UUID_STR);
        assert_eq!(canonical(TX_CHAR_UUID), TX_CHAR_UUID_STR);
    }

    #[test]
    fn uuids_start_with_lockgate_in_ascii() {
        for uuid in [SERVICE_UUID, RX_CHAR_UUID, TX_CHAR_UUID] {
            assert_eq!(&uuid.to_be_bytes()[..8], b"lockgate");
        }
    }

    #[test]
    fn the_three_uuids_are_distinct() {
        assert_ne!(SERVICE_UUID, RX_CHAR_UUID);
        assert_ne!(SERVICE_UUID, TX_CHAR_UUID);
        assert_ne!(RX_CHAR_UUID, TX_CHAR_UUID);
    }
}
