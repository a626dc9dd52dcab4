//! `cargo xtask`: the developer and CI entry point of the fluxlive workspace.
//!
//! `cargo xtask demo` builds the DevTools panel and extension and runs the
//! demo with the debug channel on; `cargo xtask test` installs what is
//! missing, builds everything and runs every check CI runs.

mod cli;
mod demo;
mod dist;
mod fresh;
mod lockfile;
mod panel;
mod process;
mod steps;
mod tools;
mod wasm_bindgen_cli;
mod workspace;

use std::process::ExitCode;

use cli::Command;
use workspace::Workspace;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match cli::parse(&args) {
        Ok(command) => command,
        Err(err) => {
            eprintln!("error: {err}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    match run(command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    let ws = Workspace::locate()?;
    match command {
        Command::Help => {
            println!("{}", cli::USAGE);
            Ok(ExitCode::SUCCESS)
        }
        Command::Tools => {
            tools::ensure_all(&ws)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Panel { force } => {
            tools::ensure_wasm_toolchain(&ws)?;
            panel::build(&ws, force)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dist { force } => {
            tools::ensure_wasm_toolchain(&ws)?;
            panel::build(&ws, force)?;
            dist::build(&ws)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { addr, extra } => demo::run(&ws, &addr, &extra),
        Command::Test(opts) => {
            if opts.list {
                print!("{}", steps::list());
                return Ok(ExitCode::SUCCESS);
            }
            let all_passed = steps::run(&ws, &opts);
            Ok(if all_passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
