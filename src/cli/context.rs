//! What every subcommand that touches data needs: the config, the data directory and the store,
//! resolved from the global flags.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use camwatch_core::config::Config;
use camwatch_core::error::{Error, Result};
use camwatch_core::secret::SecretKey;
use camwatch_store::{AuditEntry, Store};

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Config file (default: ./camwatch.toml when it exists).
    #[arg(long, global = true, env = "CAMWATCH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL, overriding the config (sqlite://PATH or postgres://…).
    #[arg(long, global = true, env = "CAMWATCH_DB")]
    pub db: Option<String>,
    /// Data directory, overriding the config.
    #[arg(long, global = true, env = "CAMWATCH_DATA")]
    pub data: Option<PathBuf>,
}

impl GlobalArgs {
    /// The effective configuration: file (if any) overridden by flags.
    pub fn config(&self) -> Result<Config> {
        let mut cfg = match &self.config {
            Some(p) => Config::load(p)?,
            None if std::path::Path::new("camwatch.toml").exists() => {
                Config::load(std::path::Path::new("camwatch.toml"))?
            }
            None => Config::default(),
        };
        if let Some(d) = &self.data {
            cfg.data.dir = d.clone();
        }
        if let Some(u) = &self.db {
            cfg.database.url = u.clone();
        }
        Ok(cfg)
    }

    pub async fn context(&self) -> Result<Context> {
        let config = self.config()?;
        std::fs::create_dir_all(&config.data.dir).map_err(|e| {
            Error::invalid(format!("data directory {}: {e}", config.data.dir.display()))
        })?;
        let key = SecretKey::load(&config.key_file()).map_err(|e| Error::invalid(e.to_string()))?;
        let store = camwatch_store::connect(&config.database_url(), key).await?;
        Ok(Context {
            data_dir: config.data.dir.clone(),
            config,
            store,
        })
    }
}

pub struct Context {
    pub config: Config,
    pub data_dir: PathBuf,
    pub store: Arc<dyn Store>,
}

impl Context {
    /// Records a state change in the audit log, attributed to the OS user running the CLI.
    pub async fn audit(&self, action: &str, target: &str, detail: serde_json::Value) -> Result<()> {
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        self.store
            .append_audit(&AuditEntry {
                at: jiff::Timestamp::now().as_second(),
                actor: format!("cli:{user}"),
                action: action.to_string(),
                target: target.to_string(),
                detail: detail.to_string(),
            })
            .await
    }

    /// A register device and the credentials to reach it (its own, else its parent's: NVR
    /// channels log in with the NVR's account); an error naming the code when it is unknown.
    pub async fn device_with_creds(
        &self,
        code: &camwatch_core::registry::DeviceCode,
    ) -> Result<(
        camwatch_core::registry::Device,
        Option<camwatch_core::registry::Device>,
        Option<camwatch_probes::Credentials>,
    )> {
        let d = self
            .store
            .get_device(code)
            .await?
            .ok_or_else(|| Error::invalid(format!("{code}: not in the register")))?;
        let parent = match d.parent {
            Some(p) => self.store.get_device(&p).await?,
            None => None,
        };
        let owners = parent.iter().map(|p| (p.code, p)).collect();
        let creds = camwatch_monitor::creds_for(&d, &owners);
        Ok((d, parent, creds))
    }
}
