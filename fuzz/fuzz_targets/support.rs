//! Fuzz target: the support channel's parsers and the gateway's state machine. Decoding never
//! panics and anything that decodes re-encodes to the same bytes; the gateway, fed the input
//! as a sequence of messages, never panics and never opens a session without the code.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lockgate_support::command::{Notice, Request};
use lockgate_support::gateway::{Event, GatewaySupport};
use lockgate_support::Message;
use rand_chacha::rand_core::SeedableRng;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        assert_eq!(m.encode(), data);
    }
    let _ = Request::decode(data);
    let _ = Notice::decode(data);

    let rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let mut gateway = GatewaySupport::new("fuzz", 60_000, Default::default(), rng);
    let _ = gateway.start_code(0, 60_000);
    // Messages separated by 0xff bytes, each a millisecond later.
    for (now, message) in data.split(|b| *b == 0xff).enumerate() {
        let out = gateway.handle(now as u64, message);
        assert!(!out
            .events
            .iter()
            .any(|e| matches!(e, Event::SessionStarted { .. })));
    }
});
