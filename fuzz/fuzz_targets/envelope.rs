//! Fuzz target: `Header::parse` on arbitrary bytes. If it accepts, re-encoding the header must
//! give back the input's first 14 bytes, and the body must be the rest.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lockgate_wire::envelope::{Header, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok((header, body)) = Header::parse(data) {
        assert_eq!(data.get(..HEADER_LEN), Some(&header.encode()[..]));
        assert_eq!(data.get(HEADER_LEN..), Some(body));
    }
});
