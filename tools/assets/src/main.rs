//! `lockgate-assets <dir>`: writes the man pages (gzipped, one per command and subcommand,
//! as `git` has them) and the bash, zsh and fish completions of `lockgated`, `lockgate` and
//! `lockctl`, generated from the clap definitions the binaries parse, so that they cannot
//! drift apart. `packaging/build-debs.sh` runs it before `cargo deb`; the packages install
//! what it wrote:
//!
//! ```text
//! <dir>/man/lockgated.8.gz  lockgate.1.gz  lockgate-pair.1.gz ...  lockctl.1.gz ...
//! <dir>/completions/bash/{lockgate,lockctl}.bash
//! <dir>/completions/zsh/{_lockgate,_lockctl}
//! <dir>/completions/fish/{lockgate,lockctl}.fish
//! ```

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Extra sections of a page: (title, roff body).
type Extra = &'static [(&'static str, &'static str)];

const LOCKGATED_EXTRA: Extra = &[
    (
        "FILES",
        ".TP\n/etc/lockgate/lockgate.toml\nThe configuration (mode 0640, root:lockgate). \
         Every key can be overridden from the environment: LOCKGATE_<SECTION>__<KEY>.\n\
         .TP\n/var/lib/lockgate/\nPaired locks, the spool of frames not yet published, the \
         support throttle (mode 0700, owned by lockgate).\n\
         .TP\n/run/lockgate/control.sock\nThe control socket that lockgate(1) talks to.\n",
    ),
    (
        "SIGNALS",
        ".TP\nSIGHUP\nRead the configuration again; an invalid one is reported and changes \
         nothing.\n.TP\nSIGTERM, SIGINT\nStop gracefully: the spool is flushed, links are \
         closed, the broker is told the gateway is offline.\n",
    ),
    (
        "SEE ALSO",
        "lockgate(1), lockctl(1), systemctl(1), journalctl(1); \
         /usr/share/doc/lockgate/GATEWAY.md.gz\n",
    ),
];

const LOCKGATE_EXTRA: Extra = &[(
    "SEE ALSO",
    "lockgated(8), lockctl(1); /usr/share/doc/lockgate/GATEWAY.md.gz\n",
)];

const LOCKCTL_EXTRA: Extra = &[
    (
        "FILES",
        ".TP\n~/.config/lockctl/\nThe key store and lockctl.toml (directory 0700, files \
         0600); $LOCKCTL_CONFIG_DIR or --config-dir elsewhere.\n",
    ),
    (
        "EXIT STATUS",
        "0 success; 1 refused (by the lock, or a support code or session); 2 bad usage; 3 \
         settings or key store; 4 the MQTT broker; 5 the gateway offline or unknown; 6 the lock \
         unreachable through the gateway; 7 no answer in time.\n",
    ),
    (
        "SEE ALSO",
        "lockgate(1), lockgated(8); /usr/share/doc/lockctl/LOCKCTL.md.gz\n",
    ),
];

fn main() -> Result<()> {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .context("usage: lockgate-assets <output directory>")?
        .into();
    let written = generate(&dir)?;
    println!("{} files in {}", written.len(), dir.display());
    Ok(())
}

/// Writes every page and completion under `dir`; the files written.
fn generate(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let commands = [
        (lockgate::cli::LockgatedCli::command(), "8", LOCKGATED_EXTRA),
        (lockgate::cli::LockgateCli::command(), "1", LOCKGATE_EXTRA),
        (lockctl::cli::args::Cli::command(), "1", LOCKCTL_EXTRA),
    ];
    let man = dir.join("man");
    std::fs::create_dir_all(&man)?;
    for (command, section, extra) in commands {
        let mut command = command;
        command.build();
        man_pages(&command, "", section, extra, &man, &mut written)?;
        if command.get_name() != "lockgated" {
            completions(&mut command, dir, &mut written)?;
        }
    }
    Ok(written)
}

/// The page of `command` (named `<prefix><name>`) and of each of its subcommands.
fn man_pages(
    command: &clap::Command,
    prefix: &str,
    section: &str,
    extra: Extra,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<()> {
    let name = format!("{prefix}{}", command.get_name());
    let page = command.clone().name(name.clone());
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .section(section)
        .render(&mut roff)?;
    for (title, body) in extra {
        roff.extend_from_slice(format!(".SH \"{title}\"\n{body}").as_bytes());
    }
    let path = dir.join(format!("{name}.{section}.gz"));
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(&roff)?;
    std::fs::write(&path, gz.finish()?).with_context(|| path.display().to_string())?;
    written.push(path);
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        man_pages(sub, &format!("{name}-"), section, &[], dir, written)?;
    }
    Ok(())
}

fn completions(command: &mut clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> Result<()> {
    let name = command.get_name().to_owned();
    for (shell, sub) in [
        (Shell::Bash, "bash"),
        (Shell::Zsh, "zsh"),
        (Shell::Fish, "fish"),
    ] {
        let out = dir.join("completions").join(sub);
        std::fs::create_dir_all(&out)?;
        let path = clap_complete::generate_to(shell, command, &name, &out)?;
        written.push(path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    fn page(dir: &Path, name: &str) -> String {
        let bytes = std::fs::read(dir.join("man").join(name)).unwrap();
        let mut text = String::new();
        GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn pages_and_completions_cover_every_command() {
        let dir = tempfile::tempdir().unwrap();
        let written = generate(dir.path()).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for expected in [
            "lockgated.8.gz",
            "lockgate.1.gz",
            "lockgate-pair.1.gz",
            "lockgate-support-start.1.gz",
            "lockctl.1.gz",
            "lockctl-support.1.gz",
            "lockctl-users-invite.1.gz",
            "lockgate.bash",
            "_lockgate",
            "lockgate.fish",
            "lockctl.bash",
            "_lockctl",
            "lockctl.fish",
        ] {
            assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
        }
        let daemon = page(dir.path(), "lockgated.8.gz");
        assert!(daemon.contains(".TH lockgated 8"), "{daemon}");
        assert!(daemon.contains("/etc/lockgate/lockgate.toml"));
        assert!(daemon.contains("SIGHUP"));
        let pair = page(dir.path(), "lockgate-pair.1.gz");
        assert!(pair.contains("passkey"), "{pair}");
        let bash =
            std::fs::read_to_string(dir.path().join("completions/bash/lockctl.bash")).unwrap();
        assert!(
            bash.contains("support"),
            "lockctl's bash completion lacks support"
        );
    }
}
