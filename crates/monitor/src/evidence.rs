//! Evidence frames on disk: the JPEG that confirmed a picture fault, one directory per device
//! under `<data>/evidence`, named `<unix time>-<cause>.jpg` (so name order is time order).
//!
//! Two limits, both applied whenever a frame is written and once a day to every device's
//! directory: at most `keep` frames per device (a flapping camera cannot fill the disk), and
//! none older than `max_age` (the retention the contract's audit needs; a work order carries
//! its own copy of its frame in the database, so an expired file loses no order's proof).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use camwatch_core::clock::Clock;

/// How long and how many evidence frames are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// At most this many frames per device (at least one).
    pub keep: usize,
    /// Frames older than this many seconds go (`None`: no age limit).
    pub max_age: Option<i64>,
}

/// The Unix time a frame's name starts with (`None`: not a frame's name).
fn taken_at(name: &str) -> Option<i64> {
    let stem = name.strip_suffix(".jpg")?;
    stem.split('-').next()?.parse().ok()
}

/// Which of one device's frame names (any order) go at `now`: the expired, then the oldest
/// beyond `keep`. Names that are not frames' are left alone.
pub fn to_remove(names: &[String], now: i64, r: Retention) -> Vec<String> {
    let mut frames: Vec<(i64, &String)> = names
        .iter()
        .filter_map(|n| taken_at(n).map(|t| (t, n)))
        .collect();
    frames.sort();
    let cut = r.max_age.map_or(i64::MIN, |a| now.saturating_sub(a));
    let expired = frames.partition_point(|(t, _)| *t < cut);
    let excess = frames.len().saturating_sub(r.keep.max(1));
    frames[..expired.max(excess)]
        .iter()
        .map(|(_, n)| (*n).clone())
        .collect()
}

/// Applies `r` to one device's directory; the number of frames removed.
fn prune(dir: &Path, now: i64, r: Retention) -> std::io::Result<usize> {
    let names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    let gone = to_remove(&names, now, r);
    for n in &gone {
        std::fs::remove_file(dir.join(n))?;
    }
    Ok(gone.len())
}

/// Writes a frame into `dir` and applies `r` there, off the async workers; failures are logged.
pub(crate) fn keep(dir: PathBuf, name: String, jpeg: bytes::Bytes, r: Retention, now: i64) {
    tokio::task::spawn_blocking(move || {
        let done = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join(&name), &jpeg))
            .and_then(|()| prune(&dir, now, r));
        if let Err(e) = done {
            tracing::warn!("evidence frame {}/{name}: {e}", dir.display());
        }
    });
}

/// Applies `r` to every device directory under `root`: the frames removed. A directory that
/// cannot be read is logged and skipped.
pub fn sweep(root: &Path, now: i64, r: Retention) -> usize {
    let Ok(dirs) = std::fs::read_dir(root) else {
        return 0;
    };
    let mut removed = 0;
    for d in dirs.filter_map(|e| e.ok()) {
        if !d.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        match prune(&d.path(), now, r) {
            Ok(n) => removed += n,
            Err(e) => tracing::warn!("evidence frames in {}: {e}", d.path().display()),
        }
    }
    removed
}

/// Sweeps `root` at start and then once a day of `clock` time, for as long as it runs: a
/// device with no new frame still loses its expired ones.
pub(crate) async fn sweeper(root: PathBuf, r: Retention, clock: Arc<dyn Clock>) {
    loop {
        let now = clock.now().as_second();
        let root2 = root.clone();
        match tokio::task::spawn_blocking(move || sweep(&root2, now, r)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "evidence frames past retention removed"),
            Err(e) => tracing::warn!("evidence sweep: {e}"),
        }
        clock.sleep(Duration::from_secs(86_400)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = 86_400;

    fn names(times: &[i64]) -> Vec<String> {
        times.iter().map(|t| format!("{t}-blur.jpg")).collect()
    }

    #[test]
    fn expired_frames_go_and_the_newest_stay_within_the_count() {
        let now = 100 * DAY;
        let r = Retention {
            keep: 3,
            max_age: Some(30 * DAY),
        };
        // Two expired, four young: the expired go, then the oldest young one (count 3).
        let n = names(&[
            now - 40 * DAY,
            now - 31 * DAY,
            now - 29 * DAY,
            now - 2 * DAY,
            now - DAY,
            now,
        ]);
        assert_eq!(
            to_remove(&n, now, r),
            names(&[now - 40 * DAY, now - 31 * DAY, now - 29 * DAY])
        );
        // Exactly at the age limit stays.
        assert!(to_remove(&names(&[now - 30 * DAY]), now, r).is_empty());
        // No age limit: the count alone.
        let r = Retention {
            keep: 2,
            max_age: None,
        };
        assert_eq!(
            to_remove(&n, now, r),
            names(&[
                now - 40 * DAY,
                now - 31 * DAY,
                now - 29 * DAY,
                now - 2 * DAY
            ])
        );
    }

    #[test]
    fn other_files_are_left_alone() {
        let n = vec![
            "notes.txt".to_string(),
            "x-blur.jpg".to_string(),
            "1-blur.jpg".to_string(),
        ];
        let r = Retention {
            keep: 5,
            max_age: Some(DAY),
        };
        assert_eq!(to_remove(&n, 10 * DAY, r), vec!["1-blur.jpg".to_string()]);
    }

    #[test]
    fn a_sweep_prunes_every_device_directory() {
        let root = tempfile::tempdir().unwrap();
        let now = 400 * DAY;
        for (dev, times) in [
            ("a", vec![now - 100 * DAY, now - DAY]),
            ("b", vec![now - 91 * DAY]),
        ] {
            let d = root.path().join(dev);
            std::fs::create_dir_all(&d).unwrap();
            for n in names(&times) {
                std::fs::write(d.join(n), b"jpeg").unwrap();
            }
        }
        std::fs::write(root.path().join("stray.jpg"), b"x").unwrap();
        let r = Retention {
            keep: 5,
            max_age: Some(90 * DAY),
        };
        assert_eq!(sweep(root.path(), now, r), 2);
        let left: Vec<_> = std::fs::read_dir(root.path().join("a"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, names(&[now - DAY]));
        assert_eq!(std::fs::read_dir(root.path().join("b")).unwrap().count(), 0);
        assert!(
            root.path().join("stray.jpg").exists(),
            "only device directories"
        );
        // A missing root is no error.
        assert_eq!(sweep(&root.path().join("none"), now, r), 0);
    }

    proptest! {
        #[test]
        fn what_stays_is_young_newest_and_within_the_count(
            times in proptest::collection::vec(0i64..1000, 0..40),
            keep in 1usize..10,
            age in proptest::option::of(0i64..1000),
        ) {
            let now = 1000;
            let n = names(&times);
            let r = Retention { keep, max_age: age };
            let gone = to_remove(&n, now, r);
            let mut stay: Vec<i64> = times.clone();
            for g in &gone {
                let t = taken_at(g).unwrap();
                let i = stay.iter().position(|x| *x == t).unwrap();
                stay.remove(i);
            }
            prop_assert!(stay.len() <= keep);
            if let Some(a) = age {
                prop_assert!(stay.iter().all(|t| *t >= now - a));
            }
            // Nothing removed is newer than something kept.
            let oldest_kept = stay.iter().min().copied().unwrap_or(i64::MAX);
            prop_assert!(gone.iter().all(|g| taken_at(g).unwrap() <= oldest_kept));
            // Removed only when needed: without the removal, a limit would be broken.
            if !gone.is_empty() {
                let young = times.iter().filter(|t| age.is_none_or(|a| **t >= now - a)).count();
                prop_assert!(times.len() > keep || young < times.len());
            }
        }
    }
}
