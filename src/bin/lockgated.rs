//! `lockgated`: the gateway daemon. In this version it only reports its version.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        None | Some("--version") | Some("-V") => {
            println!("lockgated {}", lockgate::VERSION);
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("lockgated: unknown argument {other:?}; try --version");
            ExitCode::from(2)
        }
    }
}
