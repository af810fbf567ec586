//! Picture confirmation: samples in, confirmed picture problems out. Pure, beside the liveness
//! state machine in `health`, and fed by the monitor after each picture sample.
//!
//! - A problem (a set of picture faults, no media, a bad image) is confirmed once `confirm`
//!   samples in a row agree on it; one normal sample clears it at once (a fault that comes and
//!   goes is not one to send a contractor out for, a repaired camera is repaired).
//! - `frozen` is found here, not in diagnostics: the picture changed from the previous sample
//!   no more than a re-encoding changes a picture (`quality::Still`: the same sensor noise, a
//!   stuck frame however often re-encoded, whatever its OSD clock shows; a live camera's noise is
//!   new every sample). A "no video" screen (`signal_loss`) never changes either; it is signal
//!   loss alone, not frozen as well, which would double its hours in the report.
//! - A sample that says nothing about the picture (the device is unreachable: liveness owns
//!   that) is not fed here at all.

use crate::cause::Cause;
use crate::quality::{FaultKind, FaultSet, Ramp, Still, Thresholds};

/// What one picture sample showed.
// The diagnosed variant carries the 0.5 KiB `Still` summary: a sample is made, fed and dropped
// one at a time per probe, so its size costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PictureSample {
    /// Diagnosed: the faults found in this picture (empty: normal) and its summary for
    /// `frozen` (`None`: a picture too small to tell).
    Diagnosed {
        faults: FaultSet,
        still: Option<Still>,
    },
    /// Media flows but the picture could not be diagnosed (a keyframe the decoder cannot read):
    /// nothing wrong is known.
    Undiagnosed,
    /// The stream negotiates but no picture arrives.
    NoMedia,
    /// The picture arrives but cannot be decoded.
    BadImage,
}

/// One device's picture confirmation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PictureConfirm {
    /// The problem the latest samples agree on, and how many in a row.
    pending: Option<Cause>,
    count: u32,
    confirmed: Option<Cause>,
    last: Option<Box<Still>>,
}

/// Where `frozen` is confirmed: the fleet's default ramp (score ≥ 0.5).
fn frozen_ramp() -> Ramp {
    Thresholds::default().frozen
}

impl PictureConfirm {
    /// The confirmed problem (`Cause::Picture`, `NoMedia` or `BadImage`), if any.
    pub fn confirmed(&self) -> Option<&Cause> {
        self.confirmed.as_ref()
    }

    /// Feeds one sample; `confirm` is the number of agreeing samples needed (at least 1).
    /// Returns the new confirmed problem when it changed (`Some(None)`: cleared).
    pub fn sample(&mut self, s: PictureSample, confirm: u32) -> Option<Option<Cause>> {
        let verdict = match s {
            PictureSample::NoMedia => Some(Cause::NoMedia),
            PictureSample::BadImage => Some(Cause::BadImage),
            PictureSample::Undiagnosed => None,
            PictureSample::Diagnosed { mut faults, still } => {
                let change = still
                    .as_ref()
                    .zip(self.last.as_deref())
                    .and_then(|(s, l)| s.change_from(l));
                if change.is_some_and(|c| frozen_ramp().score(c) >= 0.5)
                    && !faults.contains(FaultKind::SignalLoss)
                {
                    faults.insert(FaultKind::Frozen);
                }
                self.last = still.map(Box::new);
                Cause::picture(faults)
            }
        };
        if self.pending == verdict {
            self.count = self.count.saturating_add(1);
        } else {
            self.pending = verdict.clone();
            self.count = 1;
        }
        let want = if self.count >= confirm.max(1) || verdict.is_none() {
            verdict
        } else {
            self.confirmed.clone()
        };
        if want == self.confirmed {
            return None;
        }
        self.confirmed = want.clone();
        Some(want)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The summary of picture number `n`: one static scene, its sensor noise drawn anew for
    /// each `n` (a live camera's samples); the same `n`, the same picture.
    fn still(n: u64) -> Option<Still> {
        let (w, h) = (96usize, 64usize);
        let mut z = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let rgb = (0..w * h)
            .flat_map(|i| {
                z ^= z << 13;
                z ^= z >> 7;
                z ^= z << 17;
                let v = (40 + (i % w) + (i / w) % 30) as i64 + (z % 9) as i64 - 4;
                [v as u8; 3]
            })
            .collect();
        Still::from_thumb(&crate::quality::Thumb {
            width: w,
            height: h,
            rgb,
            scale: 1,
        })
    }

    fn diag(kinds: &[FaultKind], n: u64) -> PictureSample {
        PictureSample::Diagnosed {
            faults: FaultSet::of(kinds),
            still: still(n),
        }
    }
    fn blur() -> Cause {
        Cause::Picture(FaultSet::of(&[FaultKind::Blur]))
    }

    #[test]
    fn a_fault_is_confirmed_by_agreeing_samples_and_cleared_by_one_normal() {
        let mut p = PictureConfirm::default();
        assert_eq!(p.sample(diag(&[FaultKind::Blur], 1), 2), None);
        assert_eq!(p.sample(diag(&[FaultKind::Blur], 2), 2), Some(Some(blur())));
        assert_eq!(p.confirmed(), Some(&blur()));
        assert_eq!(p.sample(diag(&[FaultKind::Blur], 3), 2), None);
        assert_eq!(p.sample(diag(&[], 4), 2), Some(None));
        assert_eq!(p.confirmed(), None);
    }

    #[test]
    fn a_changed_set_needs_its_own_confirmation() {
        let mut p = PictureConfirm::default();
        p.sample(diag(&[FaultKind::Blur], 1), 2);
        p.sample(diag(&[FaultKind::Blur], 2), 2);
        // Blur and noise once: not yet; blur stays confirmed.
        let both = &[FaultKind::Blur, FaultKind::Noise];
        assert_eq!(p.sample(diag(both, 3), 2), None);
        assert_eq!(p.confirmed(), Some(&blur()));
        assert_eq!(
            p.sample(diag(both, 4), 2),
            Some(Some(Cause::Picture(FaultSet::of(both))))
        );
    }

    #[test]
    fn an_unchanged_picture_is_frozen_but_a_no_video_screen_is_not() {
        let mut p = PictureConfirm::default();
        p.sample(diag(&[], 7), 2);
        p.sample(diag(&[], 7), 2);
        assert_eq!(
            p.sample(diag(&[], 7), 2),
            Some(Some(Cause::Picture(FaultSet::of(&[FaultKind::Frozen]))))
        );
        let mut p = PictureConfirm::default();
        let lost = &[FaultKind::SignalLoss];
        for _ in 0..3 {
            p.sample(diag(lost, 9), 2);
        }
        assert_eq!(p.confirmed(), Some(&Cause::Picture(FaultSet::of(lost))));
    }

    #[test]
    fn no_media_and_bad_image_are_confirmed_like_faults() {
        let mut p = PictureConfirm::default();
        assert_eq!(p.sample(PictureSample::NoMedia, 2), None);
        assert_eq!(
            p.sample(PictureSample::NoMedia, 2),
            Some(Some(Cause::NoMedia))
        );
        assert_eq!(p.sample(PictureSample::BadImage, 2), None);
        assert_eq!(
            p.sample(PictureSample::BadImage, 2),
            Some(Some(Cause::BadImage))
        );
        // A picture that cannot be diagnosed says nothing is wrong.
        assert_eq!(p.sample(PictureSample::Undiagnosed, 2), Some(None));
    }

    #[test]
    fn confirm_of_one_confirms_at_once() {
        let mut p = PictureConfirm::default();
        assert_eq!(p.sample(diag(&[FaultKind::Blur], 1), 1), Some(Some(blur())));
        let mut p = PictureConfirm::default();
        assert_eq!(p.sample(diag(&[FaultKind::Blur], 1), 0), Some(Some(blur())));
    }

    fn sample() -> impl Strategy<Value = PictureSample> {
        prop_oneof![
            (0u16..8, 0u64..3).prop_map(|(bits, fp)| PictureSample::Diagnosed {
                faults: [FaultKind::Blur, FaultKind::Noise, FaultKind::SignalLoss]
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| bits & (1 << i) != 0)
                    .map(|(_, k)| k)
                    .collect(),
                still: still(fp),
            }),
            Just(PictureSample::Undiagnosed),
            Just(PictureSample::NoMedia),
            Just(PictureSample::BadImage),
        ]
    }

    proptest! {
        /// Whatever the samples: a newly confirmed problem was the verdict of the last
        /// `confirm` samples; a change is reported exactly when the confirmed problem changes;
        /// a normal sample always leaves nothing confirmed.
        #[test]
        fn confirmation_invariants(samples in prop::collection::vec(sample(), 0..40), confirm in 1u32..4) {
            let mut p = PictureConfirm::default();
            let mut verdicts: Vec<Option<Cause>> = Vec::new();
            for s in samples {
                let before = p.confirmed().cloned();
                let changed = p.sample(s, confirm);
                let after = p.confirmed().cloned();
                prop_assert_eq!(changed.is_some(), before != after);
                verdicts.push(p.pending.clone());
                // A problem newly confirmed was the verdict of the last `confirm` samples.
                if changed.is_some() && after.is_some() {
                    let n = confirm as usize;
                    prop_assert!(verdicts.len() >= n);
                    prop_assert!(verdicts[verdicts.len() - n..].iter().all(|v| *v == after));
                }
                if p.pending.is_none() {
                    prop_assert_eq!(after, None);
                }
            }
        }
    }
}
