//! `bench`: figures of lockgated with mosquitto and locksim, side by side in one run (see
//! `lockgate_systest::bench`). `cargo run --release -p lockgate-systest --bin bench --
//! [--quick] [PART...]`.

use lockgate_systest::bench::{self, Options};

fn main() -> anyhow::Result<()> {
    let options = Options::parse(std::env::args().skip(1))?;
    bench::main(options)
}
