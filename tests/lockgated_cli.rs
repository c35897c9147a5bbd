//! The `lockgated` binary: prints its version, refuses unknown arguments.

use std::process::Command;

#[test]
fn lockgated_prints_its_version() {
    let out = Command::new(env!("CARGO_BIN_EXE_lockgated"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("lockgated {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn lockgated_refuses_an_unknown_argument_with_exit_code_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_lockgated"))
        .arg("--frobnicate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--frobnicate"));
}
