use super::*;
use proptest::prelude::*;

/// An H.264 "frame": SPS, PPS and an IDR slice (the bytes of the slice are not decoded here).
fn idr(len: usize) -> Vec<u8> {
    let mut f = vec![
        0, 0, 0, 1, 0x67, 0x42, 0x00, 0x1E, 0, 0, 0, 1, 0x68, 0xCE, 0x38, 0x80,
    ];
    f.extend_from_slice(&[0, 0, 0, 1, 0x65]);
    f.extend((0..len).map(|i| (i % 251) as u8 | 1));
    f
}

fn p_frame(len: usize) -> Vec<u8> {
    let mut f = vec![0, 0, 0, 1, 0x41];
    f.extend((0..len).map(|i| (i % 13) as u8 | 1));
    f
}

/// A stream as a device sends it: two P frames (no keyframe yet), the keyframe, another P.
fn stream(key_len: usize) -> (Vec<u8>, Vec<u8>) {
    let key = idr(key_len);
    let mut s = mux_frame(Codec::H264, &p_frame(300), 0, false);
    s.extend(mux_frame(Codec::H264, &p_frame(500), 3600, false));
    s.extend(mux_frame(Codec::H264, &key, 7200, true));
    s.extend(mux_frame(Codec::H264, &p_frame(200), 10_800, false));
    (s, key)
}

#[test]
fn the_first_keyframe_is_found_across_pes_packets() {
    // Larger than one PES packet: split in three by the muxer, joined by the demuxer.
    let (s, key) = stream(150_000);
    let mut d = Demuxer::new();
    let au = d.push(&s, false).unwrap().expect("keyframe");
    assert_eq!(au.codec, Codec::H264);
    assert_eq!(au.annex_b, key);
    // Nothing more after the first keyframe.
    assert_eq!(d.push(&s, true).unwrap(), None);
}

#[test]
fn the_marker_ends_a_frame_without_waiting_for_the_next_pack() {
    let key = idr(1000);
    let ps = mux_frame(Codec::H265, &key, 0, true);
    let mut d = Demuxer::new();
    assert_eq!(d.push(&ps, false).unwrap(), None);
    // The PSM said H.265; a H.264-typed slice is not an H.265 IRAP...
    let mut d = Demuxer::new();
    assert_eq!(d.push(&ps, true).unwrap(), None);
    // ...and an H.264 one under an H.264 map is.
    let ps = mux_frame(Codec::H264, &key, 0, true);
    let mut d = Demuxer::new();
    assert_eq!(d.push(&ps, true).unwrap().unwrap().annex_b, key);
}

#[test]
fn h265_irap_is_a_keyframe() {
    // VPS, SPS, PPS, IDR_W_RADL (type 19).
    let mut f = Vec::new();
    for t in [32u8, 33, 34, 19] {
        f.extend_from_slice(&[0, 0, 0, 1, t << 1, 1, 0xAA, 0xBB]);
    }
    let mut d = Demuxer::new();
    let au = d
        .push(&mux_frame(Codec::H265, &f, 0, true), true)
        .unwrap()
        .unwrap();
    assert_eq!(au.codec, Codec::H265);
    assert!(is_keyframe(Codec::H265, &au.annex_b));
    assert!(!is_keyframe(Codec::H265, &p_frame(10)));
}

#[test]
fn garbage_is_a_clear_error() {
    let mut d = Demuxer::new();
    let e = d
        .push(b"hello, this is not a program stream", false)
        .unwrap_err();
    assert!(matches!(e, PsError::NoStartCode { at: 0, .. }), "{e}");
    let mut d = Demuxer::new();
    let e = d.push(&[0, 0, 1, 0x42, 0, 0], false).unwrap_err();
    assert_eq!(e, PsError::BadStreamId { at: 0, id: 0x42 });
    // A video PES whose header claims more than the packet.
    let mut d = Demuxer::new();
    let e = d
        .push(&[0, 0, 1, 0xE0, 0, 3, 0x80, 0x80, 9], false)
        .unwrap_err();
    assert!(matches!(e, PsError::BadPes { .. }), "{e}");
}

#[test]
fn a_stream_without_keyframes_is_cut_at_its_bound() {
    let p = mux_frame(Codec::H264, &p_frame(60_000), 0, false);
    let mut d = Demuxer::new();
    let mut err = None;
    for _ in 0..(MAX_BEFORE_KEYFRAME / p.len() + 2) {
        if let Err(e) = d.push(&p, true) {
            err = Some(e);
            break;
        }
    }
    assert_eq!(
        err,
        Some(PsError::NoKeyframe {
            limit: MAX_BEFORE_KEYFRAME
        })
    );
}

#[test]
fn a_frame_over_the_bound_is_refused() {
    let big = idr(MAX_FRAME + 10);
    let mut d = Demuxer::new();
    assert_eq!(
        d.push(&mux_frame(Codec::H264, &big, 0, true), true),
        Err(PsError::FrameTooLarge { limit: MAX_FRAME })
    );
}

#[test]
fn after_a_loss_the_next_pack_is_found() {
    let (s, key) = stream(5000);
    let mut d = Demuxer::new();
    // The first P frame arrives cut (a lost packet), then the rest of the stream.
    assert_eq!(d.push(&s[..100], false).unwrap(), None);
    d.lost();
    let au = d.push(&s[150..], false).unwrap().unwrap();
    assert_eq!(au.annex_b, key);
}

#[test]
fn rtp_round_trip() {
    let ps = mux_frame(Codec::H264, &idr(5000), 0, true);
    let mut seq = 65_534;
    let packets = packetize(&ps, &mut seq, 90_000, 0x1234, 1400);
    assert_eq!(seq, 65_534u16.wrapping_add(packets.len() as u16));
    let mut joined = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        let r = rtp(p).unwrap();
        assert_eq!(r.marker, i + 1 == packets.len());
        assert_eq!(
            (r.payload_type, r.ssrc, r.timestamp),
            (PT_PS, 0x1234, 90_000)
        );
        assert_eq!(r.seq, 65_534u16.wrapping_add(i as u16));
        joined.extend_from_slice(r.payload);
    }
    assert_eq!(joined, ps);
    assert_eq!(rtp(&[0x80; 5]), Err(RtpError::Short(5)));
    assert_eq!(rtp(&[0x40; 12]), Err(RtpError::Version(1)));
    // Padding claiming more bytes than there are.
    let mut p = packets[0].clone();
    p[0] |= 0x20;
    *p.last_mut().unwrap() = 255;
    p.truncate(40);
    *p.last_mut().unwrap() = 255;
    assert_eq!(rtp(&p), Err(RtpError::Truncated));
}

proptest! {
    /// Any split of a valid stream into pieces (RTP payloads) gives the same access unit.
    #[test]
    fn any_split_gives_the_same_keyframe(cuts in proptest::collection::vec(0usize..20_000, 0..40), key_len in 1usize..70_000) {
        let (s, key) = stream(key_len);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % s.len()).collect();
        cuts.push(0);
        cuts.push(s.len());
        cuts.sort_unstable();
        cuts.dedup();
        let mut d = Demuxer::new();
        let mut found = None;
        for w in cuts.windows(2) {
            if let Some(au) = d.push(&s[w[0]..w[1]], false).unwrap() {
                prop_assert!(found.is_none());
                found = Some(au);
            }
        }
        prop_assert_eq!(found.map(|a| a.annex_b), Some(key));
    }

    /// Arbitrary bytes, in arbitrary pieces, with losses and markers anywhere: an answer or
    /// an error, never a panic, and never more buffered than one PES packet and one piece.
    #[test]
    fn garbage_never_panics(pieces in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..3000), any::<bool>(), any::<bool>()), 0..20)) {
        let mut d = Demuxer::new();
        for (bytes, marker, lost) in pieces {
            if lost {
                d.lost();
            }
            let _ = d.push(&bytes, marker);
            prop_assert!(d.buf.len() <= 65_541 + 3000);
            let _ = rtp(&bytes);
        }
    }

    /// Valid streams with bytes flipped: never a panic.
    #[test]
    fn mutated_streams_never_panic(pos in 0usize..10_000, byte in any::<u8>(), key_len in 1usize..5000) {
        let (mut s, _) = stream(key_len);
        let i = pos % s.len();
        s[i] = byte;
        let mut d = Demuxer::new();
        let _ = d.push(&s, true);
    }
}
