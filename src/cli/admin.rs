//! `camwatch migrate` and `camwatch config check`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::context::GlobalArgs;
use camwatch_core::config::Config;
use camwatch_core::error::Result;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a config file (default: the one in effect) and print the effective settings.
    Check { file: Option<PathBuf> },
}

pub async fn migrate(g: &GlobalArgs) -> Result<ExitCode> {
    let ctx = g.context().await?;
    println!(
        "{} database at {} is migrated ({} devices)",
        ctx.store.backend(),
        redact_url(&ctx.config.database_url()),
        ctx.store.count_devices().await?
    );
    Ok(ExitCode::SUCCESS)
}

pub fn config(g: &GlobalArgs, cmd: &ConfigCommand) -> Result<ExitCode> {
    let ConfigCommand::Check { file } = cmd;
    let cfg = match file {
        Some(f) => Config::load(f)?,
        None => g.config()?,
    };
    println!("OK");
    print!(
        "{}",
        toml::to_string_pretty(&cfg).expect("config serialises")
    );
    Ok(ExitCode::SUCCESS)
}

/// Hides a password in a database URL for printing.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts() {
        assert_eq!(
            super::redact_url("postgres://u:pw@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(
            super::redact_url("sqlite://data/x.db"),
            "sqlite://data/x.db"
        );
    }
}
