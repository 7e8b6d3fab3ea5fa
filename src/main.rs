//! The `suite` binary: parse the command line, run, map the outcome to Taurus's exit codes.

use std::process::ExitCode;

use clap::Parser;
use suite::cli::{BaselineCommand, Cli, Command, K8sCommand};
use suite::outcome::Outcome;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Validate(args) => suite::runner::validate(args),
        Command::Report(args) => suite::runner::render_reports(args),
        Command::Jmx2yaml(args) => suite::runner::jmx2yaml(args),
        Command::Baseline(BaselineCommand::Save(args)) => suite::runner::baseline::save(args),
        Command::Baseline(BaselineCommand::Show(args)) => suite::runner::baseline::show(args),
        Command::Compare(args) => suite::runner::baseline::compare(args),
        Command::Merge(args) => suite::runner::merge::merge(args),
        Command::K8s(K8sCommand::Render(args)) => suite::k8s::render(*args),
        Command::Run(args) => {
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    suite::errln!("error: cannot start the async runtime: {e}");
                    return Outcome::Error.into();
                }
            };
            match runtime.block_on(suite::runner::run(*args)) {
                Ok(outcome) => outcome,
                Err(e) => {
                    suite::errln!("error: {e:#}");
                    Outcome::Error
                }
            }
        }
    };
    outcome.into()
}
