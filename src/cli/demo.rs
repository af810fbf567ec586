//! `camwatch demo`: the README's first command.
//!
//! Today it builds a fresh data directory, generates a realistic 2,000-channel register,
//! imports it and prints the fleet by district and contractor. Once the simulator and the
//! scheduler land it will start a simulated fleet, monitor it with a live view, and write the
//! period's report on exit (issue "End to end").

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::error::{Error, Result};
use crate::registry::export::to_csv;
use crate::registry::generate::generate;
use crate::secret::SecretKey;
use crate::store::{self, DeviceFilter};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Data directory (default: a new one under the system temp directory).
    #[arg(long = "data-dir")]
    pub data_dir: Option<PathBuf>,
    /// Channels in the simulated fleet.
    #[arg(long, default_value_t = 2000)]
    pub channels: u64,
}

pub async fn run(args: &DemoArgs) -> Result<ExitCode> {
    let dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => {
            let mut b = [0u8; 4];
            getrandom::fill(&mut b).map_err(|e| Error::internal(e.to_string()))?;
            std::env::temp_dir().join(format!("camwatch-demo-{}", hex::encode(b)))
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::invalid(format!("{}: {e}", dir.display())))?;
    println!("camwatch demo: data directory {}", dir.display());
    let register = dir.join("register.csv");
    let devices = generate(args.channels, 1);
    std::fs::write(&register, to_csv(&devices, true))
        .map_err(|e| Error::invalid(format!("{}: {e}", register.display())))?;
    println!(
        "generated a register of {} channels ({} records with their NVRs): {}",
        args.channels,
        devices.len(),
        register.display()
    );
    let key =
        SecretKey::load(&dir.join("secret.key")).map_err(|e| Error::invalid(e.to_string()))?;
    let store = store::connect(
        &format!("sqlite://{}", dir.join("camwatch.db").display()),
        key,
    )
    .await?;
    let s = super::device::import_file(store.as_ref(), &register, false, false).await?;
    let c = s.written.unwrap_or_default();
    println!(
        "imported: {} new, {} rejected",
        c.inserted, s.parsed.rejected_rows
    );

    let all = store.list_devices(&DeviceFilter::default()).await?;
    let mut by: BTreeMap<(String, String), (u64, u64, i64)> = BTreeMap::new();
    for d in &all {
        let e = by
            .entry((
                d.region().to_string(),
                d.maintainer.clone().unwrap_or_default(),
            ))
            .or_default();
        if d.kind.is_parent() {
            e.1 += 1;
        } else {
            e.0 += 1;
            e.2 += d.monthly_fee_fen.unwrap_or(0) + d.monthly_link_fee_fen.unwrap_or(0);
        }
    }
    println!(
        "\n{:<8} {:<24} {:>8} {:>6} {:>14}",
        "region", "contractor", "channels", "NVRs", "monthly fees"
    );
    for ((region, m), (ch, nvr, fen)) in by {
        println!(
            "{region:<8} {m:<24} {ch:>8} {nvr:>6} {:>14}",
            crate::registry::values::format_money(fen)
        );
    }
    println!(
        "\nNext: the simulated fleet and live monitoring join this demo as they land (see README)."
    );
    Ok(ExitCode::SUCCESS)
}
