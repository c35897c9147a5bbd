//! `docs/vectors/fragmentation.json`: frames of a fixed pattern fragmented at several MTUs, and
//! reassembly scenarios with the outcome of every pushed fragment.

use std::time::Instant;

use lockgate_wire::frag::{
    fragments, FragmentHeader, Reassembler, DEFAULT_FRAGMENT_TIMEOUT, MAX_FRAME,
};
use serde::{Deserialize, Serialize};

use crate::{load_or_write, unhex};

const FRAME_LENS: [usize; 6] = [1, 19, 20, 100, 600, 1500];
const MTUS: [u16; 5] = [23, 27, 185, 247, 517];
const PATTERN: &str = "byte i of an n-byte frame is (7 * i + 3) mod 256";

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FragmentationFile {
    description: String,
    pattern: String,
    frames: Vec<FrameVector>,
    reassembly: Vec<ReassemblyVector>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrameVector {
    len: usize,
    frame: String,
    fragmentations: Vec<Fragmentation>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fragmentation {
    mtu: u16,
    fragments: Vec<String>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReassemblyVector {
    name: String,
    max_frame: usize,
    steps: Vec<Step>,
}

/// One fragment pushed, and its outcome: `none`, `frame:<hex>` or `error:<reason>`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    fragment: String,
    outcome: String,
}

fn pattern_frame(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((7 * i + 3) % 256) as u8).collect()
}

fn fragment_hex(frame: &[u8], mtu: u16) -> Vec<String> {
    fragments(frame, mtu).unwrap().map(hex::encode).collect()
}

fn h(first: bool, last: bool, seq: u8) -> u8 {
    FragmentHeader { first, last, seq }.to_byte()
}

/// Reassembly scenarios as `(name, max_frame, fragments)`; outcomes come from the code.
fn reassembly_inputs() -> Vec<(&'static str, usize, Vec<Vec<u8>>)> {
    let f = |len| -> Vec<Vec<u8>> { fragments(&pattern_frame(len), 23).unwrap().collect() };
    let (three, six) = (f(50), f(100));
    let pick = |from: &[Vec<u8>], which: &[usize]| which.iter().map(|&i| from[i].clone()).collect();
    let interrupting = [vec![six[0].clone()], three.clone()].concat();
    vec![
        ("one_fragment_frame", MAX_FRAME, f(1)),
        ("three_fragment_frame", MAX_FRAME, three.clone()),
        (
            "empty_fragment",
            MAX_FRAME,
            vec![vec![], vec![h(true, true, 0)]],
        ),
        (
            "continuation_without_first",
            MAX_FRAME,
            pick(&three, &[1, 2]),
        ),
        ("first_interrupts_a_frame", MAX_FRAME, interrupting),
        (
            "duplicate_drops_the_frame",
            MAX_FRAME,
            pick(&six, &[0, 1, 1, 2, 5]),
        ),
        (
            "gap_drops_the_frame",
            MAX_FRAME,
            pick(&six, &[0, 2, 3, 5, 4]),
        ),
        (
            "first_with_nonzero_sequence_is_a_gap",
            MAX_FRAME,
            vec![vec![h(true, false, 3), 1]],
        ),
        ("too_large_is_reported_once", 40, six.clone()),
        ("frame_of_exactly_max_frame", 100, six),
    ]
}

fn outcome(result: Result<Option<Vec<u8>>, lockgate_wire::ReassemblyError>) -> String {
    match result {
        Ok(None) => "none".into(),
        Ok(Some(frame)) => format!("frame:{}", hex::encode(frame)),
        Err(e) => format!("error:{}", e.reason()),
    }
}

fn run_steps(max_frame: usize, fragments: &[Vec<u8>]) -> Vec<Step> {
    let mut r = Reassembler::new(max_frame, DEFAULT_FRAGMENT_TIMEOUT);
    let now = Instant::now();
    let step = |fragment: &Vec<u8>| Step {
        fragment: hex::encode(fragment),
        outcome: outcome(r.push(fragment, now)),
    };
    fragments.iter().map(step).collect()
}

fn generate_fragmentation() -> FragmentationFile {
    let frames = FRAME_LENS.iter().map(|&len| {
        let frame = pattern_frame(len);
        let fragmentations = MTUS
            .iter()
            .map(|&mtu| Fragmentation {
                mtu,
                fragments: fragment_hex(&frame, mtu),
            })
            .collect();
        FrameVector {
            len,
            frame: hex::encode(&frame),
            fragmentations,
        }
    });
    let reassembly = reassembly_inputs()
        .into_iter()
        .map(|(name, max_frame, fragments)| ReassemblyVector {
            name: name.into(),
            max_frame,
            steps: run_steps(max_frame, &fragments),
        });
    FragmentationFile {
        description: "lockgate fragmentation vectors: frames, their fragments at several ATT \
            MTUs (each fragment is one ATT payload), and reassembly scenarios with the outcome \
            of each pushed fragment (all pushed at the same instant)."
            .into(),
        pattern: PATTERN.into(),
        frames: frames.collect(),
        reassembly: reassembly.collect(),
    }
}

#[test]
fn fragmentation_vectors_match_the_code_byte_for_byte() {
    let file = load_or_write("fragmentation.json", generate_fragmentation());
    for vector in &file.frames {
        let frame = unhex(&vector.frame);
        assert_eq!(
            frame,
            pattern_frame(vector.len),
            "frame of {} bytes",
            vector.len
        );
        for case in &vector.fragmentations {
            assert_eq!(
                fragment_hex(&frame, case.mtu),
                case.fragments,
                "mtu {}",
                case.mtu
            );
            let mut r = Reassembler::default();
            let pushed: Vec<_> = case
                .fragments
                .iter()
                .map(|f| r.push(&unhex(f), Instant::now()))
                .collect();
            assert_eq!(
                pushed.last(),
                Some(&Ok(Some(frame.clone()))),
                "mtu {}",
                case.mtu
            );
        }
    }
    for vector in &file.reassembly {
        let fragments: Vec<_> = vector.steps.iter().map(|s| unhex(&s.fragment)).collect();
        assert_eq!(
            run_steps(vector.max_frame, &fragments),
            vector.steps,
            "{}",
            vector.name
        );
    }
}
