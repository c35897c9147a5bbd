//! Where the binaries under test come from: `locksim`, `lockgated`, `lockgate` and `lockctl`.
//!
//! Cargo builds only the binaries of the package under test, and `CARGO_BIN_EXE_*` exists
//! only for those, so `cargo test -p lockgate-systest` alone would leave them missing or
//! stale. Before the first test of a test process, [`binaries`] therefore runs
//! `cargo build -p locksim -p lockgate -p lockctl --bins` itself, with the cargo that runs the tests
//! (`$CARGO`), for the target and profile of the running executable (found from
//! `std::env::current_exe()`: `<target>/[<triple>/]<profile>/deps/<test>` for a test,
//! `<target>/[<triple>/]<profile>/<bin>` for a binary of this package such as `bench`), into
//! a target directory of their own below it, `<target>/systest-bins` (see [`BINS_TARGET`]).
//! Cargo's own lock serialises it with other builds, and it is a no-op when they are up to
//! date. This is done once per process (a `OnceLock`: the one process-wide state of the
//! harness, because every test of the process needs the same answer) and before a test's
//! clock starts.
//!
//! `SYSTEST_BIN_DIR=<dir>` skips the build and takes the binaries from `<dir>`
//! (installed packages, or a build made elsewhere).

use anyhow::{anyhow, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Environment variable naming a directory with prebuilt binaries.
/// (Not `LOCKGATE_*`: the gateway reads those as configuration overrides.)
pub const BIN_DIR_VAR: &str = "SYSTEST_BIN_DIR";

/// The target directory of the binaries under test, inside the running executable's: one of
/// their own, because cargo unifies features per build. Built into the same directory,
/// `-p locksim -p lockgate` and `lockgate-systest` compiled their shared dependencies (rumqttc
/// and the crates above it) with different features, so each build redid what the other had
/// done: minutes a run in release.
const BINS_TARGET: &str = "systest-bins";

/// The longest the build may take (the target directory may be shared and busy).
const BUILD_LIMIT: Duration = Duration::from_secs(30 * 60);

/// Paths of the binaries under test.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// The simulated locks.
    pub locksim: PathBuf,
    /// The gateway daemon.
    pub lockgated: PathBuf,
    /// The gateway's admin CLI.
    pub lockgate: PathBuf,
    /// The endpoint CLI.
    pub lockctl: PathBuf,
}

/// The binaries, built if needed (once per process).
pub fn binaries() -> Result<&'static Binaries> {
    static BINARIES: OnceLock<Result<Binaries, String>> = OnceLock::new();
    BINARIES
        .get_or_init(|| locate().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow!("{e}"))
}

fn locate() -> Result<Binaries> {
    let dir = match std::env::var_os(BIN_DIR_VAR) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let exe = std::env::current_exe()?;
            build(&profile_dir_of(&exe)?)?
        }
    };
    let find = |name: &str| -> Result<PathBuf> {
        let path = dir.join(name);
        match path.is_file() {
            true => Ok(path),
            false => Err(anyhow!(
                "{} is missing; run `cargo build -p locksim -p lockgate -p lockctl --bins` with that \
                 target directory and profile, or point {BIN_DIR_VAR} at a directory holding it",
                path.display()
            )),
        }
    };
    Ok(Binaries {
        locksim: find("locksim")?,
        lockgated: find("lockgated")?,
        lockgate: find("lockgate")?,
        lockctl: find("lockctl")?,
    })
}

/// The profile directory (`<target>/[<triple>/]<profile>`) of the running executable: a test
/// lives in its `deps/`, a binary of the package (`src/bin/*`, run with `cargo run`) in the
/// directory itself.
fn profile_dir_of(exe: &Path) -> Result<PathBuf> {
    let parent = exe
        .parent()
        .ok_or_else(|| anyhow!("{} has no parent directory", exe.display()))?;
    let dir = match parent.file_name().and_then(|n| n.to_str()) {
        Some("deps") => parent.parent(),
        _ => Some(parent),
    };
    dir.map(Path::to_path_buf)
        .ok_or_else(|| anyhow!("{} is not in <target>/<profile>", exe.display()))
}

/// The cargo arguments that build for the target directory and profile of `profile_dir`, into
/// [`BINS_TARGET`] below that target directory, and the directory the binaries land in: `--target-dir`, maybe `--target`, and
/// the profile.
fn layout(profile_dir: &Path) -> Result<(Vec<String>, PathBuf)> {
    let parent = profile_dir
        .parent()
        .ok_or_else(|| anyhow!("no target directory above {}", profile_dir.display()))?;
    // Cargo keeps `.rustc_info.json` at the root of a target directory; one level lower sits
    // a `--target <triple>` build.
    let (root, triple) = match parent.join(".rustc_info.json").exists() {
        true => (parent, None),
        false => (
            parent.parent().unwrap_or(parent),
            parent.file_name().and_then(|n| n.to_str()),
        ),
    };
    let bins = root.join(BINS_TARGET);
    let mut out = bins.clone();
    let mut args = vec!["--target-dir".to_owned(), bins.display().to_string()];
    if let Some(triple) = triple {
        args.extend(["--target".to_owned(), triple.to_owned()]);
        out.push(triple);
    }
    let profile = profile_dir.file_name().and_then(|n| n.to_str());
    if let Some(profile) = profile.filter(|p| *p != "debug") {
        args.extend(["--profile".to_owned(), profile.to_owned()]);
    }
    out.push(profile.unwrap_or("debug"));
    Ok((args, out))
}

/// Builds the binaries for the profile of `profile_dir`; the directory they are in.
fn build(profile_dir: &Path) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // Canonical: cargo identifies path packages by their path, and `a/b/../..` would make
    // every crate of the workspace a new package to build.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let workspace = workspace
        .canonicalize()
        .map_err(|e| anyhow!("{}: {e}", workspace.display()))?;
    let (args, out) = layout(profile_dir)?;
    let mut command = Command::new(&cargo);
    command
        .current_dir(&workspace)
        .args([
            "build", "--quiet", "-p", "locksim", "-p", "lockgate", "-p", "lockctl", "--bins",
        ])
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| anyhow!("running {command:?}: {e}"))?;
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut s) = stderr {
            let _ = std::io::Read::read_to_string(&mut s, &mut text);
        }
        text
    });
    let deadline = Instant::now() + BUILD_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(anyhow!("{command:?} took longer than {BUILD_LIMIT:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let errors = reader.join().unwrap_or_default();
    match status.success() {
        true => Ok(out),
        false => Err(anyhow!(
            "building the binaries under test failed ({command:?}, {status}):\n{errors}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{layout, profile_dir_of};
    use std::path::Path;

    #[test]
    fn tests_live_in_deps_and_binaries_in_the_profile_directory() {
        let test = Path::new("/t/release/deps/relay-0123abcd");
        assert_eq!(profile_dir_of(test).unwrap(), Path::new("/t/release"));
        let bin = Path::new("/t/release/bench");
        assert_eq!(profile_dir_of(bin).unwrap(), Path::new("/t/release"));
        let cross = Path::new("/t/aarch64-unknown-linux-gnu/debug/deps/relay-01");
        assert_eq!(
            profile_dir_of(cross).unwrap(),
            Path::new("/t/aarch64-unknown-linux-gnu/debug")
        );
    }

    #[test]
    fn the_binaries_build_in_a_target_directory_of_their_own_with_triple_and_profile() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join(".rustc_info.json"), "{}").unwrap();
        let bins = root.path().join("systest-bins");
        let target = bins.display().to_string();
        let (args, out) = layout(&root.path().join("debug")).unwrap();
        assert_eq!(args, ["--target-dir", &target]);
        assert_eq!(out, bins.join("debug"));
        let cross = root.path().join("aarch64-unknown-linux-gnu/release");
        let (args, out) = layout(&cross).unwrap();
        assert_eq!(
            args,
            [
                "--target-dir",
                &target,
                "--target",
                "aarch64-unknown-linux-gnu",
                "--profile",
                "release"
            ]
        );
        assert_eq!(out, bins.join("aarch64-unknown-linux-gnu/release"));
    }
}
