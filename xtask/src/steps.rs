//! The steps of `cargo xtask test`: what each runs and why, which steps it
//! needs, running them in order with timings, and the summary table.

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::cli::TestOpts;
use crate::workspace::{self, Workspace};
use crate::{dist, panel, process, tools};

/// One step of the pipeline, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepId {
    Tools,
    Fmt,
    Panel,
    Dist,
    Clippy,
    ClippyWasm,
    DemoBuild,
    CargoTest,
    TestClient,
    TestE2e,
}

impl StepId {
    pub(crate) const ALL: [StepId; 10] = [
        StepId::Tools,
        StepId::Fmt,
        StepId::Panel,
        StepId::Dist,
        StepId::Clippy,
        StepId::ClippyWasm,
        StepId::DemoBuild,
        StepId::CargoTest,
        StepId::TestClient,
        StepId::TestE2e,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            StepId::Tools => "tools",
            StepId::Fmt => "fmt",
            StepId::Panel => "panel",
            StepId::Dist => "dist",
            StepId::Clippy => "clippy",
            StepId::ClippyWasm => "clippy-wasm",
            StepId::DemoBuild => "demo-build",
            StepId::CargoTest => "cargo-test",
            StepId::TestClient => "test-client",
            StepId::TestE2e => "test-e2e",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|step| step.name() == name)
    }

    fn why(self) -> &'static str {
        match self {
            StepId::Tools => "install what is missing: wasm32 target, wasm-bindgen CLI, Chromium, npm packages",
            StepId::Fmt => "formatting is checked before anything slow",
            StepId::Panel => "build the Yew panel into dist/panel/ (served by the runtime, packed in the extension)",
            StepId::Dist => "assemble the Chrome and Firefox extensions in dist/",
            StepId::Clippy => "lint every crate and target on the host, warnings are errors",
            StepId::ClippyWasm => "lint the panel for the target it ships on",
            StepId::DemoBuild => "build the demo binary the JavaScript and browser tests spawn (with the test targets)",
            StepId::CargoTest => "run every Rust test in the workspace",
            StepId::TestClient => "run the JavaScript client tests (node --test client/test/)",
            StepId::TestE2e => "run the browser end-to-end tests in headless Chromium (node --test tests/e2e/)",
        }
    }

    /// Steps whose failure makes this one pointless when both run.
    fn needs(self) -> &'static [StepId] {
        match self {
            StepId::Dist => &[StepId::Panel],
            StepId::ClippyWasm => &[StepId::Tools],
            StepId::Panel => &[StepId::Tools],
            StepId::TestClient => &[StepId::DemoBuild],
            StepId::TestE2e => &[StepId::Tools, StepId::Dist, StepId::DemoBuild],
            _ => &[],
        }
    }

    /// `--quick` is for a developer's edit loop: no installs, no browser.
    fn skipped_by_quick(self) -> bool {
        matches!(self, StepId::Tools | StepId::TestE2e)
    }
}

/// How one step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

/// One row of the summary.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) id: StepId,
    pub(crate) outcome: Outcome,
    pub(crate) elapsed: Duration,
}

/// The steps to run, or the reason each other step is left out.
pub(crate) fn plan(opts: &TestOpts) -> Vec<(StepId, Option<&'static str>)> {
    StepId::ALL
        .into_iter()
        .filter_map(|step| {
            if !opts.only.is_empty() {
                return opts.only.contains(&step).then_some((step, None));
            }
            if opts.quick && step.skipped_by_quick() {
                return Some((step, Some("--quick")));
            }
            Some((step, None))
        })
        .collect()
}

pub(crate) fn list() -> String {
    let mut text = String::new();
    for step in StepId::ALL {
        let quick = if step.skipped_by_quick() {
            " [not with --quick]"
        } else {
            ""
        };
        let _ = writeln!(text, "{:<12} {}{quick}", step.name(), step.why());
    }
    text
}

/// Runs the planned steps in order, prints the summary, and says whether
/// every step that ran passed.
pub(crate) fn run(ws: &Workspace, opts: &TestOpts) -> bool {
    let planned = plan(opts);
    let runnable = planned.iter().filter(|(_, skip)| skip.is_none()).count();
    let mut records: Vec<Record> = Vec::new();
    let mut index = 0;
    for (step, skip) in planned {
        if let Some(reason) = skip {
            records.push(Record {
                id: step,
                outcome: Outcome::Skipped(reason.to_owned()),
                elapsed: Duration::ZERO,
            });
            continue;
        }
        index += 1;
        println!("\n==> [{index}/{runnable}] {}: {}", step.name(), step.why());
        let blocker = step.needs().iter().find(|needed| {
            records
                .iter()
                .any(|r| r.id == **needed && !matches!(r.outcome, Outcome::Passed))
        });
        let started = Instant::now();
        let outcome = match blocker {
            Some(needed) => {
                Outcome::Skipped(format!("needs `{}`, which did not pass", needed.name()))
            }
            None => match run_step(ws, step) {
                Ok(()) => Outcome::Passed,
                Err(err) => Outcome::Failed(format!("{err:#}")),
            },
        };
        let elapsed = started.elapsed();
        match &outcome {
            Outcome::Passed => println!("<== {} passed in {}", step.name(), duration(elapsed)),
            Outcome::Failed(why) => {
                println!("<== {} FAILED in {}: {why}", step.name(), duration(elapsed))
            }
            Outcome::Skipped(why) => println!("<== {} skipped: {why}", step.name()),
        }
        records.push(Record {
            id: step,
            outcome,
            elapsed,
        });
    }
    print!("\n{}", summary(&records));
    records
        .iter()
        .all(|r| !matches!(r.outcome, Outcome::Failed(_)))
}

fn run_step(ws: &Workspace, step: StepId) -> Result<()> {
    match step {
        StepId::Tools => tools::ensure_all(ws),
        StepId::Fmt => cargo(ws, &["fmt", "--all", "--", "--check"]),
        StepId::Panel => panel::build(ws, false),
        StepId::Dist => dist::build(ws).map(drop),
        // --keep-going: one crate's lint errors must not hide another's.
        StepId::Clippy => cargo(
            ws,
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--keep-going",
                "--",
                "-D",
                "warnings",
            ],
        ),
        StepId::ClippyWasm => cargo(
            ws,
            &[
                "clippy",
                "-p",
                "fluxlive-devtools",
                "--target",
                "wasm32-unknown-unknown",
                "--",
                "-D",
                "warnings",
            ],
        ),
        StepId::DemoBuild => {
            // Built together with every test target: features then unify as
            // in `cargo test --workspace`, which reuses this build instead of
            // compiling tokio, axum and the runtime a second time (measured:
            // `-p fluxlive-demo` alone rebuilt 45 crates for the tests).
            cargo(ws, &["build", "--workspace", "--bins", "--tests"])?;
            let binary = ws.demo_binary();
            if !binary.is_file() {
                bail!(
                    "cargo built fluxlive-demo but {} is missing",
                    binary.display()
                );
            }
            Ok(())
        }
        // Every crate's failures in one run, not just the first crate's.
        StepId::CargoTest => cargo(ws, &["test", "--workspace", "--no-fail-fast"]),
        StepId::TestClient => npm_test(ws, "test:client", "client/test"),
        StepId::TestE2e => npm_test(ws, "test:e2e", "tests/e2e"),
    }
}

fn cargo(ws: &Workspace, args: &[&str]) -> Result<()> {
    process::run(workspace::cargo().current_dir(&ws.root).args(args))
}

fn npm_test(ws: &Workspace, script: &str, dir: &str) -> Result<()> {
    if !ws.path(dir).is_dir() {
        bail!("{dir}/ does not exist: there are no tests for `npm run {script}` to run");
    }
    if !ws.path("node_modules").is_dir() {
        bail!("node_modules/ is missing: run `cargo xtask tools` (or `npm ci`) first");
    }
    process::run(
        Command::new("npm")
            .current_dir(&ws.root)
            .args(["run", script])
            .env("CHROMIUM", tools::chromium_path())
            .env("FLUXLIVE_DEMO_BIN", ws.demo_binary()),
    )
}

/// The table printed at the end; its last line is `N passed, N failed`.
pub(crate) fn summary(records: &[Record]) -> String {
    let mut text = String::from("step          result     time  note\n");
    let mut total = Duration::ZERO;
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for record in records {
        total += record.elapsed;
        let (result, note) = match &record.outcome {
            Outcome::Passed => {
                passed += 1;
                ("passed", String::new())
            }
            Outcome::Failed(why) => {
                failed += 1;
                ("FAILED", first_line(why))
            }
            Outcome::Skipped(why) => {
                skipped += 1;
                ("skipped", why.clone())
            }
        };
        let _ = writeln!(
            text,
            "{:<13} {:<7} {:>8}  {note}",
            record.id.name(),
            result,
            duration(record.elapsed)
        );
        // Keep the note readable but never hide where a failure came from.
        text.truncate(text.trim_end().len());
        text.push('\n');
    }
    let _ = writeln!(text, "{:<13} {:<7} {:>8}", "total", "", duration(total));
    if skipped > 0 {
        let _ = writeln!(text, "{skipped} skipped");
    }
    let _ = writeln!(text, "{passed} passed, {failed} failed");
    text
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

/// `4.2s`, `3m07s`.
pub(crate) fn duration(elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = elapsed.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_step_name_round_trips() {
        for step in StepId::ALL {
            assert_eq!(StepId::from_name(step.name()), Some(step));
        }
        assert_eq!(StepId::from_name("nope"), None);
    }

    #[test]
    fn needed_steps_run_earlier() {
        for step in StepId::ALL {
            let position = StepId::ALL.iter().position(|s| *s == step).unwrap();
            for needed in step.needs() {
                let needed_position = StepId::ALL.iter().position(|s| s == needed).unwrap();
                assert!(
                    needed_position < position,
                    "{} needs {}",
                    step.name(),
                    needed.name()
                );
            }
        }
    }

    #[test]
    fn full_plan_runs_everything_in_order() {
        let plan = plan(&TestOpts::default());
        assert_eq!(plan.len(), StepId::ALL.len());
        assert!(plan.iter().all(|(_, skip)| skip.is_none()));
        assert_eq!(plan.first().unwrap().0, StepId::Tools);
        assert_eq!(plan.last().unwrap().0, StepId::TestE2e);
    }

    #[test]
    fn quick_plan_marks_installs_and_browser_tests_skipped() {
        let plan = plan(&TestOpts {
            quick: true,
            ..TestOpts::default()
        });
        let skipped: Vec<_> = plan
            .iter()
            .filter(|(_, skip)| skip.is_some())
            .map(|(step, _)| *step)
            .collect();
        assert_eq!(skipped, vec![StepId::Tools, StepId::TestE2e]);
    }

    #[test]
    fn only_keeps_workspace_order_whatever_the_flag_order() {
        let plan = plan(&TestOpts {
            only: vec![StepId::CargoTest, StepId::Fmt],
            quick: true,
            list: false,
        });
        assert_eq!(plan, vec![(StepId::Fmt, None), (StepId::CargoTest, None)]);
    }

    #[test]
    fn summary_counts_steps_and_ends_with_the_tally() {
        let records = [
            Record {
                id: StepId::Fmt,
                outcome: Outcome::Passed,
                elapsed: Duration::from_millis(800),
            },
            Record {
                id: StepId::Clippy,
                outcome: Outcome::Failed("`cargo clippy` failed (exit status: 101)\nmore".into()),
                elapsed: Duration::from_secs(125),
            },
            Record {
                id: StepId::TestE2e,
                outcome: Outcome::Skipped("--quick".into()),
                elapsed: Duration::ZERO,
            },
        ];
        let text = summary(&records);
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.last(), Some(&"1 passed, 1 failed"));
        assert!(text.contains("1 skipped"));
        let clippy = lines.iter().find(|l| l.starts_with("clippy")).unwrap();
        assert!(
            clippy.contains("FAILED") && clippy.contains("2m05s"),
            "{clippy}"
        );
        assert!(clippy.ends_with("(exit status: 101)"), "{clippy}");
        assert!(lines
            .iter()
            .any(|l| l.starts_with("total") && l.contains("2m05s")));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(Duration::from_millis(4_240)), "4.2s");
        assert_eq!(duration(Duration::from_secs(187)), "3m07s");
    }
}
