//! `camwatch bench quality`: the picture diagnostics' cost per frame on one core — a 1080p (and
//! a 4K) JPEG's DC-only decode + every detector, as the monitor runs them: against the approved
//! baseline (measured once, as the monitor holds it) and, for `frozen`, the previous sample's
//! summary (`Still`, kept from the sample before) — as the CPU time of the measuring thread (`CLOCK_THREAD_CPUTIME_ID`), not the wall
//! clock: on a machine other jobs load, the wall clock counts the time the thread waited for a
//! core (criterion's figures moved by 1.7× with load), its CPU time does not. `jpeg-decoder`'s
//! full-size decode of the same JPEG runs in the same rounds as the reference peer, so what
//! load still changes (shared caches, the clock speed) shows in its figure too; it decodes on
//! worker threads of its own, so its figure is the whole process's CPU time over the decode
//! (nothing else in the process works meanwhile).

use std::process::ExitCode;
use std::time::Instant;

use camwatch_core::error::{Error, Result};
use camwatch_core::quality::{Baseline, Still, Thresholds, diagnose, from_jpeg};
use camwatch_synth::picture::{Scene, render_scene, to_jpeg};

/// The CPU time of `clock` (this thread's, or the process's), in nanoseconds.
fn cpu_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; the clock id is a constant Linux knows.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    debug_assert_eq!(rc, 0);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A street scene with sensor noise (so the JPEG has a camera's entropy), panned by `pan`.
fn frame(w: u32, h: u32, pan: u32) -> Vec<u8> {
    let mut img = render_scene(Scene::Street, w, h, pan);
    let mut z = 0x2545_F491_4F6C_DD1Du64 ^ pan as u64;
    for v in img.data.iter_mut() {
        z ^= z << 13;
        z ^= z >> 7;
        z ^= z << 17;
        *v = v.saturating_add((z % 9) as u8).saturating_sub(4);
    }
    to_jpeg(&img, 85)
}

/// Per-frame figures of one measured step, in milliseconds.
#[derive(Default)]
struct Samples {
    cpu: Vec<f64>,
    wall: Vec<f64>,
}

impl Samples {
    /// Times `f` by this thread's CPU time.
    fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        self.time_by(libc::CLOCK_THREAD_CPUTIME_ID, f)
    }

    fn time_by<T>(&mut self, clock: libc::clockid_t, f: impl FnOnce() -> T) -> T {
        let (c0, w0) = (cpu_ns(clock), Instant::now());
        let out = std::hint::black_box(f());
        self.cpu.push((cpu_ns(clock) - c0) as f64 / 1e6);
        self.wall.push(w0.elapsed().as_secs_f64() * 1e3);
        out
    }
}

/// (min, median) of `v`.
fn min_median(v: &[f64]) -> (f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (s[0], s[s.len() / 2])
}

/// The four steps, measured in turn in each round so that load falls on all alike.
struct Steps {
    whole: Samples,
    decode: Samples,
    detectors: Samples,
    reference: Samples,
}

fn measure(w: u32, h: u32, frames: usize) -> Result<Steps> {
    // Four pans of the scene in turn: the decoder does not see one byte string over and over.
    let jpegs: Vec<Vec<u8>> = (0..4).map(|p| frame(w, h, p * 7)).collect();
    let thumb = |j: &[u8]| from_jpeg(j).map_err(|e| Error::internal(e.to_string()));
    // The approved baseline is measured once, when the monitor loads it.
    let base = Baseline::new(&thumb(&jpegs[0])?);
    let t = Thresholds::default();
    let mut prev: Option<Still> = Still::from_thumb(&thumb(&jpegs[jpegs.len() - 1])?);
    let mut s = Steps {
        whole: Samples::default(),
        decode: Samples::default(),
        detectors: Samples::default(),
        reference: Samples::default(),
    };
    for i in 0..frames {
        let jpeg = &jpegs[i % jpegs.len()];
        let still = s.whole.time(|| {
            let th = from_jpeg(jpeg).expect("the bench's JPEG decodes");
            let d = diagnose(&th, None, Some(&base), &t);
            let frozen = d
                .metrics
                .still
                .zip(prev)
                .and_then(|(s, p)| s.change_from(&p));
            std::hint::black_box((&d, frozen));
            d.metrics.still
        });
        let th = s
            .decode
            .time(|| from_jpeg(jpeg).expect("the bench's JPEG decodes"));
        s.detectors.time(|| {
            let d = diagnose(&th, None, Some(&base), &t);
            let frozen = d
                .metrics
                .still
                .zip(prev)
                .and_then(|(s, p)| s.change_from(&p));
            (d, frozen)
        });
        // Its worker threads' time too.
        s.reference.time_by(libc::CLOCK_PROCESS_CPUTIME_ID, || {
            jpeg_decoder::Decoder::new(std::io::Cursor::new(jpeg))
                .decode()
                .expect("the bench's JPEG decodes")
        });
        prev = still;
    }
    Ok(s)
}

pub async fn run(frames: usize, uhd: bool) -> Result<ExitCode> {
    if frames == 0 {
        return Err(Error::invalid("--frames must be at least 1"));
    }
    let mut sizes = vec![("1080p", 1920, 1080)];
    if uhd {
        sizes.push(("4K", 3840, 2160));
    }
    for (name, w, h) in sizes {
        // One thread, measured alone: its CPU time is the cost on one core.
        let s = tokio::task::spawn_blocking(move || measure(w, h, frames))
            .await
            .map_err(|e| Error::internal(e.to_string()))??;
        println!(
            "{name} JPEG, {frames} frames, CPU time per frame (the measuring thread's; the peer's: \
             the process's), wall clock median in brackets:"
        );
        let row = |label: &str, x: &Samples| {
            let (min, med) = min_median(&x.cpu);
            let (_, wall) = min_median(&x.wall);
            println!("  {label:<38} min {min:6.2} ms  median {med:6.2} ms  ({wall:.2} ms)");
        };
        row("DC-only decode + every detector", &s.whole);
        row("  DC-only decode", &s.decode);
        row("  every detector", &s.detectors);
        row("jpeg-decoder full-size decode (peer)", &s.reference);
        let (_, whole) = min_median(&s.whole.cpu);
        let (_, peer) = min_median(&s.reference.cpu);
        println!(
            "  decode + detectors / the peer's full-size decode: {:.2} (medians)",
            whole / peer
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_and_median_of_samples() {
        assert_eq!(min_median(&[3.0, 1.0, 2.0]), (1.0, 2.0));
        assert_eq!(min_median(&[5.0]), (5.0, 5.0));
    }

    #[test]
    fn thread_cpu_time_grows_with_work() {
        let thread_cpu_ns = || cpu_ns(libc::CLOCK_THREAD_CPUTIME_ID);
        let t0 = thread_cpu_ns();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(thread_cpu_ns() > t0, "{x}");
    }
}
