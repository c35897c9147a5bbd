//! Fuzz target: the command and event codecs and the pairing message codecs. Decoding never panics, and
//! anything that decodes re-encodes to the same bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lockgate_e2e::command::{Request, Response};
use lockgate_e2e::event::Event;
use lockgate_e2e::pairing::{PairConfirm, PairDone, PairReply, PairStart};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = Request::decode(data) {
        assert_eq!(request.encode(), data);
    }
    if let Ok(response) = Response::decode(data) {
        assert_eq!(response.encode(), data);
    }
    if let Ok(event) = Event::decode(data) {
        assert_eq!(event.encode(), data);
    }
    if let Ok(m) = PairStart::decode(data) {
        assert_eq!(m.encode(), data);
    }
    if let Ok(m) = PairReply::decode(data) {
        assert_eq!(m.encode(), data);
    }
    if let Ok(m) = PairConfirm::decode(data) {
        assert_eq!(m.encode(), data);
    }
    if let Ok(m) = PairDone::decode(data) {
        assert_eq!(m.encode(), data);
    }
});
