//! The demo's output: numbered steps with the time since the start, and the side-by-side
//! table of what the gateway relayed and what the endpoints read in clear.

use std::time::Instant;

/// One frame the gateway relayed, as the observer saw it.
pub struct Frame {
    /// Towards the endpoint (`up`, from the lock) or towards the lock (`down`).
    pub up: bool,
    /// Its topic below the gateway's base.
    pub topic: String,
    /// Its payload's size in bytes.
    pub size: usize,
    /// Its envelope header, decoded (the only part the gateway can read).
    pub header: String,
    /// The first bytes after the header: sealed, or a SPAKE2 message while pairing.
    pub body: Vec<u8>,
}

/// One step of the walk-through: the frames relayed meanwhile and what the endpoint read.
pub struct Row {
    /// What was done.
    pub step: String,
    /// The observer's inbox index when it began.
    pub from: usize,
    /// The lock frames relayed during it.
    pub frames: Vec<Frame>,
    /// What the endpoint read in clear.
    pub clear: Vec<String>,
}

/// Prints steps with timings.
pub struct Narrator {
    started: Instant,
    steps: u32,
}

impl Narrator {
    pub fn new() -> Self {
        Narrator {
            started: Instant::now(),
            steps: 0,
        }
    }

    /// A numbered step, with the seconds since the start.
    pub fn step(&mut self, text: &str) {
        self.steps += 1;
        let t = self.started.elapsed().as_secs_f64();
        println!("[{t:6.2}s] {:>2}. {text}", self.steps);
    }

    /// A detail under the last step.
    pub fn detail(&self, text: &str) {
        println!("              {text}");
    }

    /// The side-by-side table.
    pub fn table(&self, rows: &[Row]) {
        const LEFT: usize = 68;
        println!();
        let relayed = "RELAYED BY THE GATEWAY (all it can see)";
        println!("{relayed:<LEFT$} | READ BY THE ENDPOINT (in clear)");
        let columns = "dir  topic  size  envelope header  body (hex)";
        println!("{columns:<LEFT$} |");
        println!("{}-+-{}", "-".repeat(LEFT), "-".repeat(44));
        for row in rows {
            let title = format!("## {}", row.step);
            println!("{title:<LEFT$} |");
            let left: Vec<String> = row.frames.iter().map(frame_line).collect();
            let lines = left.len().max(row.clear.len());
            for i in 0..lines {
                let l = left.get(i).map(String::as_str).unwrap_or("");
                let r = row.clear.get(i).map(String::as_str).unwrap_or("");
                println!("{l:<LEFT$} | {r}");
            }
        }
        println!();
        println!(
            "The gateway reads the topic and the 14-byte envelope header (kind, auth id, counter);"
        );
        println!("session bodies are sealed with keys only the lock and the endpoint hold. While pairing,");
        println!(
            "the bodies are SPAKE2 messages, and the endpoint's name travels in the first one"
        );
        println!(
            "(PairStart: it is the SPAKE2 identity); the label code never leaves the endpoint."
        );
    }
}

fn frame_line(f: &Frame) -> String {
    let dir = match f.up {
        true => "up  ",
        false => "down",
    };
    // `<lock id>/up/<auth id>`: the lock id shortened to its first 6 digits.
    let topic = match f.topic.split_once('/') {
        Some((lock, rest)) if lock.len() > 6 => format!("{}…/{rest}", &lock[..6]),
        _ => f.topic.clone(),
    };
    format!(
        "{dir} {topic:<22} {:>3} B  {:<13} {}…",
        f.size,
        f.header,
        hex::encode(&f.body)
    )
}
