//! `lockctl`: the lockgate endpoint on the command line; see `lockctl::cli`.

fn main() -> std::process::ExitCode {
    lockctl::cli::main()
}
