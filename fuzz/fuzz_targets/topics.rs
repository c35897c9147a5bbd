//! Fuzz target: `Topics::parse` on arbitrary UTF-8, both raw and under the base. Whatever it
//! accepts must build back to the same topic string.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lockgate_wire::topics::Topics;

fuzz_target!(|text: &str| {
    let Ok(topics) = Topics::for_gateway("gw1") else {
        return;
    };
    for candidate in [text.to_owned(), format!("lockgate/gw1/{text}")] {
        if let Ok(topic) = topics.parse(&candidate) {
            assert_eq!(topics.build(&topic).as_deref(), Ok(candidate.as_str()));
        }
    }
});
