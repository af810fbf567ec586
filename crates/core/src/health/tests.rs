use proptest::prelude::*;

use super::*;
use crate::quality::{FaultKind, FaultSet};

fn obs(at: i64, ok: bool) -> Observation {
    Observation {
        at,
        status: if ok {
            ProbeStatus::Up
        } else {
            ProbeStatus::Down
        },
        failure: (!ok).then_some(FailureKind::ConnectionRefused),
        picture: None,
        detail: String::new(),
        elapsed_ms: 1.0,
    }
}

#[test]
fn confirmed_outage_is_backdated_to_first_failure() {
    let cfg = HealthConfig::default();
    let mut h = DeviceHealth::new();
    let d = h.observe(&obs(0, true), None, &cfg);
    assert_eq!(d.change.unwrap().status, Status::Online);
    let d = h.observe(&obs(300, false), None, &cfg);
    assert_eq!(d.change, None);
    assert_eq!(d.recheck_at, Some(330));
    let d = h.observe(&obs(330, false), None, &cfg);
    assert_eq!(d.change, None);
    assert_eq!(d.recheck_at, Some(360));
    let d = h.observe(&obs(360, false), None, &cfg);
    assert_eq!(
        d.change,
        Some(Change {
            status: Status::Offline,
            at: 300,
            cause: Some(Cause::Failure(FailureKind::ConnectionRefused))
        })
    );
    let d = h.observe(&obs(900, true), None, &cfg);
    assert_eq!(d.change.unwrap().at, 900);
    assert_eq!(h.flaps, 1);
}

#[test]
fn a_blip_is_not_an_outage() {
    let cfg = HealthConfig::default();
    let mut h = DeviceHealth::new();
    h.observe(&obs(0, true), None, &cfg);
    h.observe(&obs(300, false), None, &cfg);
    h.observe(&obs(330, false), None, &cfg);
    let d = h.observe(&obs(360, true), None, &cfg);
    assert_eq!(d.change, None);
    assert_eq!(h.blips, 1);
    assert_eq!(h.status(), Status::Online);
}

#[test]
fn fast_failures_wait_for_the_window() {
    let cfg = HealthConfig::default();
    let mut h = DeviceHealth::new();
    h.observe(&obs(0, false), None, &cfg);
    h.observe(&obs(1, false), None, &cfg);
    let d = h.observe(&obs(2, false), None, &cfg);
    assert_eq!(d.change, None, "3 failures in 2 s do not span 60 s");
    assert_eq!(d.recheck_at, Some(60));
    let d = h.observe(&obs(60, false), None, &cfg);
    assert_eq!(d.change.unwrap().at, 0);
}

#[test]
fn child_of_a_down_parent_says_so() {
    let cfg = HealthConfig::default();
    let parent: DeviceCode = "34010400001180000001".parse().unwrap();
    let mut h = DeviceHealth::new();
    for t in [0, 30, 60] {
        if let Some(c) = h.observe(&obs(t, false), Some(&parent), &cfg).change {
            assert_eq!(
                c.cause.as_ref().map(Cause::to_string).as_deref(),
                Some("parent_down:34010400001180000001")
            );
            return;
        }
    }
    panic!("no outage");
}

#[test]
fn picture_faults_make_it_degraded_and_back() {
    let cfg = HealthConfig::default();
    let mut h = DeviceHealth::new();
    h.observe(&obs(0, true), None, &cfg);
    let mut o = obs(100, true);
    o.picture = Some(Cause::Picture(FaultSet::of(&[FaultKind::Blur])));
    let c = h.observe(&o, None, &cfg).change.unwrap();
    assert_eq!(
        (c.status, c.cause.as_ref().map(Cause::to_string)),
        (Status::Degraded, Some("blur".to_string()))
    );
    let c = h.observe(&obs(200, true), None, &cfg).change.unwrap();
    assert_eq!(c.status, Status::Online);
}

/// A slow picture probe reports after a later-started liveness probe: its verdict starts when
/// it is applied, never before the change the liveness probe already made.
#[test]
fn a_late_observation_never_goes_back_in_time() {
    let cfg = HealthConfig::default();
    let mut h = DeviceHealth::new();
    h.observe(&obs(0, false), None, &cfg);
    h.observe(&obs(30, false), None, &cfg);
    h.observe(&obs(60, false), None, &cfg);
    assert_eq!(h.status(), Status::Offline);
    let d = h.observe(&obs(133, true), None, &cfg);
    assert_eq!(d.change.as_ref().map(|c| c.at), Some(133));
    let mut late = obs(112, true);
    late.picture = Some(Cause::Picture(FaultSet::of(&[FaultKind::SignalLoss])));
    let d = h.observe(&late, None, &cfg);
    assert_eq!(
        d.change,
        Some(Change {
            status: Status::Degraded,
            at: 133,
            cause: Some(Cause::Picture(FaultSet::of(&[FaultKind::SignalLoss])))
        })
    );
}

#[test]
fn failures_are_remembered_longer() {
    let cfg = HealthConfig::default();
    let mut h = DeviceHealth::new();
    for t in 0..100 {
        h.observe(&obs(t * 10, t % 2 == 0), None, &cfg);
    }
    let r = h.recent();
    assert_eq!(r.len(), cfg.keep_successes + cfg.keep_failures);
    assert!(r.windows(2).all(|w| w[0].at >= w[1].at));
}

proptest! {
    /// Observations arriving out of order (overlapping probes of different classes) still give
    /// changes in time order, each no earlier than the observation that caused it was applied.
    #[test]
    fn out_of_order_observations_give_ordered_changes(
        steps in prop::collection::vec((-40i64..120, any::<bool>(), any::<bool>()), 1..80)
    ) {
        let cfg = HealthConfig::default();
        let mut h = DeviceHealth::new();
        let (mut t, mut last) = (1000i64, i64::MIN);
        for (dt, ok, faulty) in steps {
            t += dt;
            let mut o = obs(t, ok);
            if ok && faulty {
                o.picture = Some(Cause::Picture(FaultSet::of(&[FaultKind::Blur])));
            }
            if let Some(c) = h.observe(&o, None, &cfg).change {
                prop_assert!(c.at >= last, "change at {} after one at {}", c.at, last);
                last = c.at;
            }
        }
    }

    /// Against a brute-force reading of the same outcomes: an outage is declared exactly when a
    /// run of failures reaches the count and the window, starting at the run's first failure;
    /// changes never go back in time.
    #[test]
    fn matches_the_definition(steps in prop::collection::vec((1i64..120, any::<bool>()), 1..80)) {
        let cfg = HealthConfig::default();
        let mut h = DeviceHealth::new();
        let mut t = 0;
        let mut changes = Vec::new();
        let mut outcomes = Vec::new();
        for (dt, ok) in steps {
            t += dt;
            outcomes.push((t, ok));
            if let Some(c) = h.observe(&obs(t, ok), None, &cfg).change {
                changes.push(c);
            }
        }
        // Expected: walk runs of failures.
        let mut expected = Vec::new();
        let mut down = false;
        let mut up = false;
        let mut run: Vec<i64> = Vec::new();
        for &(t, ok) in &outcomes {
            if ok {
                run.clear();
                if down || !up {
                    expected.push((Status::Online, t));
                }
                down = false;
                up = true;
            } else if !down {
                run.push(t);
                if run.len() as u32 >= cfg.confirm_failures && t - run[0] >= cfg.confirm_window_sec {
                    expected.push((Status::Offline, run[0]));
                    down = true;
                    up = false;
                    run.clear();
                }
            }
        }
        let got: Vec<(Status, i64)> = changes.iter().map(|c| (c.status, c.at)).collect();
        prop_assert_eq!(&got, &expected);
        prop_assert!(got.windows(2).all(|w| w[0].1 <= w[1].1));
    }
}
