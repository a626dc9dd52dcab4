//! Running child processes with the command line echoed first, so a CI
//! log shows exactly what to paste to reproduce a failure.

use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// Runs `cmd` with inherited stdio; an error when it cannot start or exits
/// non-zero.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let line = display(cmd);
    println!("$ {line}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{line}` (is it installed and on PATH?)"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` quietly and returns its stdout, or `None` when the program is
/// missing or fails: for probes such as `wasm-bindgen --version`.
pub(crate) fn probe(cmd: &mut Command) -> Option<String> {
    let output = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8(output.stdout).ok()
}

/// The command as a shell-like line; arguments with spaces are quoted.
pub(crate) fn display(cmd: &Command) -> String {
    let mut line = String::new();
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            line.push_str(&format!(
                "{}={} ",
                key.to_string_lossy(),
                quote(&value.to_string_lossy())
            ));
        }
    }
    line.push_str(&quote(&short_program(cmd.get_program())));
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&quote(&arg.to_string_lossy()));
    }
    line
}

/// `cargo` rather than the toolchain path in `$CARGO`: the line is for
/// pasting into a shell, where rustup picks the same toolchain.
fn short_program(program: &std::ffi::OsStr) -> String {
    let path = std::path::Path::new(program);
    match path.file_name() {
        Some(name) if name == "cargo" => "cargo".to_owned(),
        _ => program.to_string_lossy().into_owned(),
    }
}

fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@+,".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_only_what_needs_it() {
        let mut cmd = Command::new("cargo");
        cmd.args(["clippy", "--", "-D", "warnings", "a b", "it's"])
            .env("CHROMIUM", "/usr/bin/chromium");
        assert_eq!(
            display(&cmd),
            r"CHROMIUM=/usr/bin/chromium cargo clippy -- -D warnings 'a b' 'it'\''s'"
        );
    }

    #[test]
    fn display_shortens_the_toolchain_cargo_only() {
        let cmd = Command::new("/root/.rustup/toolchains/stable/bin/cargo");
        assert_eq!(display(&cmd), "cargo");
        let cmd = Command::new("/usr/bin/chromium");
        assert_eq!(display(&cmd), "/usr/bin/chromium");
    }

    #[test]
    fn run_reports_a_failing_exit_status() {
        let err = run(&mut Command::new("false")).unwrap_err();
        assert!(err.to_string().contains("`false` failed"), "{err}");
    }

    #[test]
    fn run_reports_a_missing_program() {
        let err = run(&mut Command::new("fluxlive-no-such-program")).unwrap_err();
        assert!(err.to_string().contains("could not start"), "{err}");
    }

    #[test]
    fn probe_returns_stdout_of_success_only() {
        assert_eq!(
            probe(Command::new("echo").arg("hi")).as_deref(),
            Some("hi\n")
        );
        assert_eq!(probe(&mut Command::new("false")), None);
    }
}
