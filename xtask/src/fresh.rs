//! "Is this build output newer than everything it was made from?"
//! Used to skip the slow wasm release build when nothing changed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Directories never counted as inputs: build output and dependencies.
const IGNORED_DIRS: [&str; 4] = ["target", "node_modules", ".git", "dist"];

/// Outcome of a freshness check, with the reason shown to the user.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Freshness {
    Fresh,
    Stale(String),
}

/// `Fresh` when every output exists and the oldest output is newer than the
/// newest file under `inputs` (files or directories, walked recursively;
/// missing inputs are ignored).
pub(crate) fn check(inputs: &[PathBuf], outputs: &[PathBuf]) -> io::Result<Freshness> {
    let mut oldest_output: Option<(SystemTime, &Path)> = None;
    for output in outputs {
        let modified = match fs::metadata(output) {
            Ok(meta) => meta.modified()?,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Ok(Freshness::Stale(format!("{} is missing", output.display())));
            }
            Err(err) => return Err(err),
        };
        if oldest_output.is_none_or(|(time, _)| modified < time) {
            oldest_output = Some((modified, output));
        }
    }
    let Some((oldest, oldest_path)) = oldest_output else {
        return Ok(Freshness::Stale("no outputs to compare".into()));
    };
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    for input in inputs {
        newest_under(input, &mut newest)?;
    }
    match newest {
        Some((time, path)) if time >= oldest => Ok(Freshness::Stale(format!(
            "{} changed after {} was built",
            path.display(),
            oldest_path.display()
        ))),
        _ => Ok(Freshness::Fresh),
    }
}

fn newest_under(path: &Path, newest: &mut Option<(SystemTime, PathBuf)>) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    if meta.is_dir() {
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            let name = entry.file_name();
            if IGNORED_DIRS.iter().any(|ignored| name == *ignored) {
                continue;
            }
            newest_under(&entry.path(), newest)?;
        }
    } else {
        let modified = meta.modified()?;
        if newest.as_ref().is_none_or(|(time, _)| modified > *time) {
            *newest = Some((modified, path.to_path_buf()));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use std::time::Duration;

    /// A scratch directory under the system temp dir, removed on drop.
    pub(crate) struct Scratch(pub(crate) PathBuf);

    impl Scratch {
        pub(crate) fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "xtask-test-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn write_at(path: &Path, secs_after_epoch: u64) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b"x").unwrap();
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(secs_after_epoch);
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(time)
            .unwrap();
    }

    #[test]
    fn fresh_when_outputs_are_newer_than_every_nested_input() {
        let dir = Scratch::new("fresh");
        let src = dir.0.join("src");
        write_at(&src.join("a/b/lib.rs"), 1_000);
        write_at(&src.join("c.rs"), 1_100);
        write_at(&dir.0.join("out/panel.wasm"), 2_000);
        write_at(&dir.0.join("out/panel.js"), 1_500);
        let outputs = [dir.0.join("out/panel.wasm"), dir.0.join("out/panel.js")];
        assert_eq!(check(&[src], &outputs).unwrap(), Freshness::Fresh);
    }

    #[test]
    fn stale_when_a_deep_input_is_newer_than_the_oldest_output() {
        let dir = Scratch::new("stale");
        let src = dir.0.join("src");
        write_at(&src.join("a/b/lib.rs"), 1_600);
        write_at(&dir.0.join("out/panel.wasm"), 2_000);
        write_at(&dir.0.join("out/panel.js"), 1_500);
        let outputs = [dir.0.join("out/panel.wasm"), dir.0.join("out/panel.js")];
        let Freshness::Stale(reason) = check(&[src], &outputs).unwrap() else {
            panic!("expected stale");
        };
        assert!(
            reason.contains("lib.rs") && reason.contains("panel.js"),
            "{reason}"
        );
    }

    #[test]
    fn stale_when_an_output_is_missing() {
        let dir = Scratch::new("missing");
        write_at(&dir.0.join("in.rs"), 1_000);
        let outputs = [dir.0.join("out/panel.wasm")];
        let result = check(&[dir.0.join("in.rs")], &outputs).unwrap();
        assert!(matches!(result, Freshness::Stale(r) if r.contains("missing")));
    }

    #[test]
    fn build_output_directories_are_not_inputs() {
        let dir = Scratch::new("ignored");
        let src = dir.0.join("crate");
        write_at(&src.join("src/lib.rs"), 1_000);
        write_at(&src.join("target/debug/huge"), 9_000);
        write_at(&src.join("node_modules/x/index.js"), 9_000);
        write_at(&dir.0.join("out.wasm"), 2_000);
        assert_eq!(
            check(&[src], &[dir.0.join("out.wasm")]).unwrap(),
            Freshness::Fresh
        );
    }
}
