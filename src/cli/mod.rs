//! The `camwatch` command line. Each subcommand lives in its own file and only parses flags,
//! calls into the library and prints; no business logic here.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "camwatch",
    version,
    about = "Health monitor for video-surveillance camera fleets"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the version and exit.
    Version,
}

/// Runs the command line; returns the process exit code.
pub fn run() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("camwatch {}", env!("CARGO_PKG_VERSION"));
            std::process::ExitCode::SUCCESS
        }
    }
}
