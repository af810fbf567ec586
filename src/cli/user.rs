//! `camwatch user`: the accounts of the HTTP API and console, from the command line — add,
//! passwd, list, disable/enable, unlock, and API tokens. Whoever can run this holds the
//! database and its key, so the CLI acts as a local administrator (`cli:<os user>` in the
//! audit log); the rules (names, the password rule, scopes) are the same as over HTTP, since
//! both go through `camwatch_access::Accounts`.
//!
//! Passwords are typed at a prompt with echo off, or read from the first line of standard
//! input with `--password-stdin` (scripts); never from a flag, which `ps` would show.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};

use super::context::{Context, GlobalArgs};
use camwatch_access::{Accounts, Actor, NewAccount, Policy, TokenSpec};
use camwatch_core::access::scope::parse_regions;
use camwatch_core::access::{PasswordState, RegionPrefix, Role, Scope, TokenAccess};
use camwatch_core::clock::SystemClock;
use camwatch_core::error::{Error, Result};
use camwatch_core::secret::Password;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. It must change its password at the first login.
    Add(AddArgs),
    /// Set a user's password (it must be changed at the next login unless --no-change-required).
    Passwd(PasswdArgs),
    /// Every user with role, scope and state.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: no login; its sessions end and its tokens stop working.
    Disable { name: String },
    /// Enable a disabled user again.
    Enable { name: String },
    /// Lift a login lock (after too many failed logins).
    Unlock { name: String },
    /// API tokens for integrations: issue, list, revoke.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    pub name: String,
    /// admin, operator, contractor or auditor.
    #[arg(long)]
    pub role: String,
    /// Civil-code prefixes the user sees (repeat or separate with commas; default: all).
    #[arg(long, value_delimiter = ',')]
    pub region: Vec<String>,
    /// The maintainer (运维单位) a contractor stands for; required for contractors only.
    #[arg(long)]
    pub maintainer: Option<String>,
    #[command(flatten)]
    pub input: PasswordInput,
    /// Generate a one-time password and print it, instead of asking for one.
    #[arg(long, conflicts_with = "password_stdin")]
    pub generate_password: bool,
}

#[derive(Debug, Args)]
pub struct PasswdArgs {
    pub name: String,
    #[command(flatten)]
    pub input: PasswordInput,
    /// The password set is final: no change asked at the next login.
    #[arg(long)]
    pub no_change_required: bool,
}

#[derive(Debug, Args)]
pub struct PasswordInput {
    /// Read the password from the first line of standard input instead of a prompt.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token for a user; it is printed once and stored only as a hash.
    Issue(IssueArgs),
    /// Tokens (of one user, or everyone's), newest first; never their values.
    List {
        user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id.
    Revoke { id: i64 },
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The user the token acts as.
    pub user: String,
    /// What it is for ("city platform", "contractor ticketing").
    #[arg(long)]
    pub name: String,
    /// read_only or full (whatever the user's role permits).
    #[arg(long, default_value = "read_only")]
    pub access: String,
    /// Narrow the user's scope to these prefixes (repeat or separate with commas).
    #[arg(long, value_delimiter = ',')]
    pub region: Vec<String>,
    /// RFC 3339 expiry (default: until revoked).
    #[arg(long)]
    pub expires: Option<String>,
}

/// The CLI's actor: the OS user.
pub fn cli_actor() -> Actor {
    Actor::Cli {
        os_user: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
    }
}

pub(crate) fn accounts(ctx: &Context) -> Result<Accounts> {
    Accounts::new(ctx.store.clone(), Arc::new(SystemClock), Policy::default())
}

fn regions(v: &[String]) -> Result<Vec<RegionPrefix>> {
    let mut out = Vec::new();
    for r in v {
        out.extend(parse_regions(r).map_err(|e| Error::invalid(format!("--region: {e}")))?);
    }
    Ok(out)
}

/// Reads a password: a line of stdin, or a prompt (twice) with echo off.
fn read_password(input: &PasswordInput, confirm: bool) -> Result<Password> {
    if input.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Error::invalid(format!("reading the password from stdin: {e}")))?;
        let p = line.trim_end_matches(['\n', '\r']).to_string();
        if p.is_empty() {
            return Err(Error::invalid("--password-stdin: the first line is empty"));
        }
        return Ok(Password::new(p));
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::invalid(
            "no terminal to ask for the password: use --password-stdin",
        ));
    }
    let p = prompt("Password: ")?;
    if confirm && prompt("Again: ")? != p {
        return Err(Error::invalid("the two passwords differ"));
    }
    Ok(Password::new(p))
}

/// One line from the terminal with echo off.
fn prompt(label: &str) -> Result<String> {
    eprint!("{label}");
    let _ = std::io::stderr().flush();
    let fd = libc::STDIN_FILENO;
    // SAFETY: tcgetattr/tcsetattr read and write the struct passed, on stdin (a terminal).
    let saved = unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) != 0 {
            return Err(Error::invalid("cannot read the terminal's settings"));
        }
        let saved = t;
        t.c_lflag &= !libc::ECHO;
        t.c_lflag |= libc::ECHONL;
        libc::tcsetattr(fd, libc::TCSANOW, &t);
        saved
    };
    let mut line = String::new();
    let r = std::io::stdin().lock().read_line(&mut line);
    // SAFETY: restores the settings read above.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    r.map_err(|e| Error::invalid(format!("reading the password: {e}")))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

fn user_json(u: &camwatch_store::User) -> serde_json::Value {
    serde_json::json!({
        "id": u.id,
        "name": u.name,
        "role": u.role.as_str(),
        "regions": u.scope.regions().iter().map(RegionPrefix::as_str).collect::<Vec<_>>(),
        "maintainer": u.scope.maintainer(),
        "must_change_password": u.password == PasswordState::MustChange,
        "disabled_at": u.disabled_at,
        "created_at": u.created_at,
        "updated_at": u.updated_at,
    })
}

fn token_json(t: &camwatch_store::TokenRecord) -> serde_json::Value {
    serde_json::json!({
        "id": t.id,
        "user": t.user_name,
        "name": t.name,
        "access": t.access.as_str(),
        "regions": t.regions.iter().map(RegionPrefix::as_str).collect::<Vec<_>>(),
        "created_at": t.created_at,
        "last_used_at": t.last_used_at,
        "expires_at": t.expires_at,
        "revoked_at": t.revoked_at,
    })
}

fn at(t: Option<i64>) -> String {
    t.map_or_else(|| "-".into(), camwatch_store::fmt_at)
}

pub async fn run(g: &GlobalArgs, cmd: &UserCommand) -> Result<ExitCode> {
    let by = cli_actor();
    match cmd {
        UserCommand::Add(a) => {
            let role: Role = a.role.parse().map_err(Error::invalid)?;
            let scope = Scope::new(regions(&a.region)?, a.maintainer.clone());
            let password = if a.generate_password {
                None
            } else {
                Some(read_password(&a.input, true)?)
            };
            let ctx = g.context().await?;
            let (u, generated) = accounts(&ctx)?
                .create_user(
                    &by,
                    &NewAccount {
                        name: a.name.clone(),
                        role,
                        scope,
                        password,
                    },
                )
                .await?;
            println!("user {} added: {}, scope {}", u.name, u.role, u.scope);
            if let Some(p) = generated {
                println!(
                    "one-time password (must be changed at the first login): {}",
                    p.expose()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Passwd(a) => {
            let password = read_password(&a.input, true)?;
            let ctx = g.context().await?;
            let state = if a.no_change_required {
                PasswordState::Current
            } else {
                PasswordState::MustChange
            };
            accounts(&ctx)?
                .reset_password(&by, &a.name, &password, state)
                .await?;
            println!("password of {} set; its sessions have ended", a.name);
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::List { json } => {
            let ctx = g.context().await?;
            let users = accounts(&ctx)?.list_users(&by).await?;
            if *json {
                let v: Vec<_> = users.iter().map(user_json).collect();
                println!("{}", serde_json::to_string_pretty(&v).expect("JSON"));
            } else {
                for u in &users {
                    let mut state = Vec::new();
                    if u.disabled_at.is_some() {
                        state.push("disabled");
                    }
                    if u.password == PasswordState::MustChange {
                        state.push("must change password");
                    }
                    println!(
                        "{:<20} {:<10} {:<30} {}",
                        u.name,
                        u.role.as_str(),
                        u.scope.to_string(),
                        state.join(", ")
                    );
                }
                if users.is_empty() {
                    println!("no users yet (the first `camwatch serve` creates an admin)");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Disable { name } => {
            let ctx = g.context().await?;
            accounts(&ctx)?.disable(&by, name).await?;
            println!("user {name} disabled; its sessions have ended");
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Enable { name } => {
            let ctx = g.context().await?;
            accounts(&ctx)?.enable(&by, name).await?;
            println!("user {name} enabled");
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Unlock { name } => {
            let ctx = g.context().await?;
            accounts(&ctx)?.unlock(&by, name).await?;
            println!("{name} may log in again");
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Token(t) => token(g, &by, t).await,
    }
}

async fn token(g: &GlobalArgs, by: &Actor, cmd: &TokenCommand) -> Result<ExitCode> {
    match cmd {
        TokenCommand::Issue(a) => {
            let access: TokenAccess = a.access.parse().map_err(Error::invalid)?;
            let expires_at = a
                .expires
                .as_deref()
                .map(|s| {
                    camwatch_core::history::csv::parse_instant(s)
                        .map_err(|e| Error::invalid(format!("--expires: {e}")))
                })
                .transpose()?;
            let spec = TokenSpec {
                name: a.name.clone(),
                access,
                regions: regions(&a.region)?,
                expires_at,
            };
            let ctx = g.context().await?;
            let t = accounts(&ctx)?.issue_token(by, &a.user, &spec).await?;
            eprintln!(
                "token {} issued for {} ({}); it is shown once, keep it secret:",
                t.id, a.user, access
            );
            println!("{}", t.token.expose());
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::List { user, json } => {
            let ctx = g.context().await?;
            let list = accounts(&ctx)?.list_tokens(by, user.as_deref()).await?;
            if *json {
                let v: Vec<_> = list.iter().map(token_json).collect();
                println!("{}", serde_json::to_string_pretty(&v).expect("JSON"));
            } else {
                for t in &list {
                    println!(
                        "{:>5}  {:<20} {:<24} {:<10} regions {:<16} last used {}  expires {}{}",
                        t.id,
                        t.user_name,
                        t.name,
                        t.access.as_str(),
                        if t.regions.is_empty() {
                            "(user's)".to_string()
                        } else {
                            t.regions
                                .iter()
                                .map(RegionPrefix::as_str)
                                .collect::<Vec<_>>()
                                .join(" ")
                        },
                        at(t.last_used_at),
                        at(t.expires_at),
                        t.revoked_at
                            .map(|r| format!("  revoked {}", camwatch_store::fmt_at(r)))
                            .unwrap_or_default()
                    );
                }
                if list.is_empty() {
                    println!("no tokens");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::Revoke { id } => {
            let ctx = g.context().await?;
            if accounts(&ctx)?.revoke_token(by, *id).await? {
                println!("token {id} revoked");
            } else {
                println!("token {id} was already revoked");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// At the first start (no users at all), creates the admin and prints its one-time password
/// on standard error; nothing otherwise.
pub async fn ensure_first_admin(ctx: &Context) -> Result<()> {
    if let Some(first) = accounts(ctx)?.ensure_first_admin().await? {
        eprintln!(
            "camwatch: first start: created the user {} with the one-time password {}\n\
             camwatch: it must be changed at the first login (or now: camwatch user passwd {})",
            first.name,
            first.password.expose(),
            first.name
        );
    }
    Ok(())
}
