//! Command-line parsing. Hand-rolled: five subcommands and four flags do
//! not justify a parser dependency in a tool every CI run compiles first.

use anyhow::{bail, Context, Result};

use crate::steps::StepId;

/// Where `cargo xtask demo` listens unless told otherwise.
pub(crate) const DEFAULT_DEMO_ADDR: &str = "127.0.0.1:3000";

pub(crate) const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  demo [--addr HOST:PORT] [-- ARGS...]
        build the DevTools panel and extension if needed, then run the demo
        with the debug channel on (default address 127.0.0.1:3000)
  test [--quick] [--only STEP]... [--list]
        install missing tools, build everything, run every check CI runs
        --quick      skip tool installation and the browser end-to-end tests
        --only STEP  run only this step (repeatable); --list shows the steps
  panel [--force]
        build the Yew panel into dist/panel/ (skipped when up to date)
  dist [--force]
        build the panel, then the Chrome and Firefox extensions in dist/
  tools
        install what is missing: wasm32 target, wasm-bindgen CLI at the
        Cargo.lock version, Chromium, npm packages
  help  show this text";

/// What the user asked for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Demo { addr: String, extra: Vec<String> },
    Test(TestOpts),
    Panel { force: bool },
    Dist { force: bool },
    Tools,
    Help,
}

/// Options of `cargo xtask test`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct TestOpts {
    pub(crate) quick: bool,
    pub(crate) only: Vec<StepId>,
    pub(crate) list: bool,
}

pub(crate) fn parse(args: &[String]) -> Result<Command> {
    let Some((name, rest)) = args.split_first() else {
        return Ok(Command::Help);
    };
    match name.as_str() {
        "demo" => parse_demo(rest),
        "test" => parse_test(rest).map(Command::Test),
        "panel" => parse_force(rest, "panel").map(|force| Command::Panel { force }),
        "dist" => parse_force(rest, "dist").map(|force| Command::Dist { force }),
        "tools" => no_args(rest, "tools").map(|()| Command::Tools),
        "help" | "--help" | "-h" => Ok(Command::Help),
        other => bail!("unknown command `{other}`"),
    }
}

fn parse_demo(args: &[String]) -> Result<Command> {
    let mut addr = DEFAULT_DEMO_ADDR.to_owned();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--addr" => {
                addr = iter
                    .next()
                    .context("`--addr` needs a value, e.g. --addr 127.0.0.1:3000")?
                    .clone();
            }
            "--" => {
                return Ok(Command::Demo {
                    addr,
                    extra: iter.cloned().collect(),
                })
            }
            other => match other.strip_prefix("--addr=") {
                Some(value) => addr = value.to_owned(),
                None => bail!("unknown option `{other}` for `demo`"),
            },
        }
    }
    Ok(Command::Demo {
        addr,
        extra: Vec::new(),
    })
}

fn parse_test(args: &[String]) -> Result<TestOpts> {
    let mut opts = TestOpts::default();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--quick" => opts.quick = true,
            "--list" => opts.list = true,
            "--only" => {
                let name = iter
                    .next()
                    .context("`--only` needs a step name (see `cargo xtask test --list`)")?;
                opts.only.push(step_named(name)?);
            }
            other => match other.strip_prefix("--only=") {
                Some(name) => opts.only.push(step_named(name)?),
                None => bail!("unknown option `{other}` for `test`"),
            },
        }
    }
    Ok(opts)
}

fn step_named(name: &str) -> Result<StepId> {
    StepId::from_name(name).with_context(|| {
        format!(
            "unknown step `{name}`; steps are: {}",
            StepId::ALL.map(StepId::name).join(", ")
        )
    })
}

fn parse_force(args: &[String], command: &str) -> Result<bool> {
    match args {
        [] => Ok(false),
        [flag] if flag == "--force" => Ok(true),
        [other, ..] => bail!("unknown option `{other}` for `{command}`"),
    }
}

fn no_args(args: &[String], command: &str) -> Result<()> {
    match args.first() {
        None => Ok(()),
        Some(other) => bail!("`{command}` takes no options (got `{other}`)"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Command> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn no_arguments_shows_help() {
        assert_eq!(parse_strs(&[]).unwrap(), Command::Help);
    }

    #[test]
    fn demo_defaults_to_port_3000_and_takes_addr_in_both_spellings() {
        assert_eq!(
            parse_strs(&["demo"]).unwrap(),
            Command::Demo {
                addr: DEFAULT_DEMO_ADDR.into(),
                extra: vec![]
            }
        );
        for args in [
            &["demo", "--addr", "127.0.0.1:8080"][..],
            &["demo", "--addr=127.0.0.1:8080"][..],
        ] {
            assert_eq!(
                parse_strs(args).unwrap(),
                Command::Demo {
                    addr: "127.0.0.1:8080".into(),
                    extra: vec![]
                }
            );
        }
    }

    #[test]
    fn demo_passes_arguments_after_double_dash() {
        assert_eq!(
            parse_strs(&["demo", "--", "--foo", "bar"]).unwrap(),
            Command::Demo {
                addr: DEFAULT_DEMO_ADDR.into(),
                extra: vec!["--foo".into(), "bar".into()]
            }
        );
    }

    #[test]
    fn demo_addr_without_value_is_an_error() {
        let err = parse_strs(&["demo", "--addr"]).unwrap_err();
        assert!(err.to_string().contains("--addr"), "{err}");
    }

    #[test]
    fn test_collects_quick_and_repeated_only() {
        let Command::Test(opts) =
            parse_strs(&["test", "--quick", "--only", "fmt", "--only=clippy"]).unwrap()
        else {
            panic!("expected test command");
        };
        assert!(opts.quick);
        assert_eq!(opts.only, vec![StepId::Fmt, StepId::Clippy]);
    }

    #[test]
    fn unknown_step_lists_the_known_ones() {
        let err = parse_strs(&["test", "--only", "nope"]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("nope") && text.contains("clippy-wasm"),
            "{text}"
        );
    }

    #[test]
    fn unknown_command_and_option_are_rejected() {
        assert!(parse_strs(&["deploy"]).is_err());
        assert!(parse_strs(&["panel", "--fast"]).is_err());
        assert!(parse_strs(&["tools", "x"]).is_err());
        assert_eq!(
            parse_strs(&["dist", "--force"]).unwrap(),
            Command::Dist { force: true }
        );
    }
}
