//! The platform's exchanges, message by message, on virtual time (Unix seconds passed in).

use super::*;
use crate::registrar::{OfflineReason, Presence};
use crate::sdp::MediaMode;
use camwatch_core::outcome::ProbeStatus;

const T0: i64 = 1_800_000_000;
const DEV: &str = "34020000001320000001";
const PASSWORD: &str = "12345678";

fn peer() -> Peer {
    Peer::Udp("127.0.0.1:5061".parse().unwrap())
}

fn dev() -> DeviceCode {
    DEV.parse().unwrap()
}

fn platform(policy: UnknownPolicy, known: bool) -> Platform {
    let mut cfg = PlatformConfig {
        shared_password: Some(Password::new(PASSWORD)),
        unknown: policy,
        ..Default::default()
    };
    if known {
        cfg.known.insert(dev());
    }
    Platform::new(cfg, Nonces::new([9; 16]), 0xabc)
}

fn register(cseq: u32, expires: u32, auth: Option<String>) -> Vec<u8> {
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    format!(
        "REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5061;rport;branch=z9hG4bK{cseq}\r\n\
         From: <sip:{DEV}@3402000000>;tag=t1\r\n\
         To: <sip:{DEV}@3402000000>\r\n\
         Call-ID: reg1@127.0.0.1\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <sip:{DEV}@127.0.0.1:5061>\r\n\
         {auth}Expires: {expires}\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn status(out: &Outgoing) -> u16 {
    match sip::parse(&out.bytes).unwrap() {
        Inbound::Response(r) => r.status,
        Inbound::Request(r) => panic!("a request, {:?}", r.method),
    }
}

fn header(out: &Outgoing, name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(&out.bytes).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string))
}

/// Answers the challenge in `challenge` (a 401) with `password`, the qop-less way.
fn answer(challenge: &Outgoing, password: &str, username: &str) -> String {
    let www = header(challenge, "WWW-Authenticate").unwrap();
    let nonce = www
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let mut c = Credentials {
        username: username.into(),
        realm: "3402000000".into(),
        nonce: nonce.into(),
        uri: "sip:34020000002000000001@3402000000".into(),
        response: String::new(),
        qop: None,
        nc: None,
        cnonce: None,
    };
    c.response = c.expected("REGISTER", password);
    format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", algorithm=MD5",
        c.username, c.realm, c.nonce, c.uri, c.response
    )
}

fn keepalive(sn: u32) -> Vec<u8> {
    message(&format!(
        "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Notify>\r\n<CmdType>Keepalive</CmdType>\r\n<SN>{sn}</SN>\r\n<DeviceID>{DEV}</DeviceID>\r\n<Status>OK</Status>\r\n</Notify>\r\n"
    ).into_bytes(), sn)
}

fn message(body: &[u8], cseq: u32) -> Vec<u8> {
    let mut m = format!(
        "MESSAGE sip:34020000002000000001@3402000000 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5061;rport;branch=z9hG4bKm{cseq}\r\n\
         From: <sip:{DEV}@3402000000>;tag=m{cseq}\r\n\
         To: <sip:34020000002000000001@3402000000>\r\n\
         Call-ID: msg{cseq}@127.0.0.1\r\n\
         CSeq: {cseq} MESSAGE\r\n\
         Content-Type: Application/MANSCDP+xml\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    m.extend_from_slice(body);
    m
}

/// Registers DEV at `now`; returns what the 200 came with.
fn registered(p: &mut Platform, now: i64) -> Vec<Outgoing> {
    let out = p.on_message(&register(1, 3600, None), peer(), now);
    assert_eq!(status(&out[0]), 401);
    let auth = answer(&out[0], PASSWORD, DEV);
    let out = p.on_message(&register(2, 3600, Some(auth)), peer(), now);
    assert_eq!(status(&out[0]), 200);
    out
}

#[test]
fn register_challenge_then_ok_then_catalog_query() {
    let mut p = platform(UnknownPolicy::Refuse, true);
    let out = registered(&mut p, T0);
    assert_eq!(header(&out[0], "Expires").as_deref(), Some("3600"));
    // The Catalog query follows the 200.
    assert_eq!(out.len(), 2);
    let Inbound::Request(q) = sip::parse(&out[1].bytes).unwrap() else {
        panic!("not a request")
    };
    assert_eq!(q.method, Method::Message);
    assert!(String::from_utf8_lossy(&q.common.body).contains("<CmdType>Catalog</CmdType>"));
    let events = p.take_events();
    assert!(matches!(
        events[0],
        GbEvent::Presence(Transition {
            presence: Presence::Online,
            at: T0,
            ..
        })
    ));
}

#[test]
fn the_registration_ok_carries_the_date_to_set_the_clock_by() {
    let mut p = platform(UnknownPolicy::Refuse, true);
    // 2027-01-15T08:00:00Z (T0) and 123 ms: 16:00 in Beijing, the default zone.
    let at = T0 * 1000 + 123;
    let out = p.on_message_at(&register(1, 3600, None), peer(), at);
    assert_eq!(
        header(&out[0], "Date"),
        None,
        "a challenge is no time source"
    );
    let auth = answer(&out[0], PASSWORD, DEV);
    let out = p.on_message_at(&register(2, 3600, Some(auth)), peer(), at);
    assert_eq!(status(&out[0]), 200);
    assert_eq!(
        header(&out[0], "Date").as_deref(),
        Some("2027-01-15T16:00:00.123")
    );
    // In the zone the config names.
    let mut utc = platform(UnknownPolicy::Refuse, true);
    utc.cfg.time_zone = jiff::tz::TimeZone::UTC;
    let out = utc.on_message_at(&register(1, 3600, None), peer(), at + 1_000);
    let auth = answer(&out[0], PASSWORD, DEV);
    let out = utc.on_message_at(&register(2, 3600, Some(auth)), peer(), at + 1_000);
    assert_eq!(
        header(&out[0], "Date").as_deref(),
        Some("2027-01-15T08:00:01.123")
    );
}

/// Answers the challenge in `challenge` with `qop=auth` and nonce count `nc`.
fn answer_qop(challenge: &Outgoing, nc: &str) -> String {
    let www = header(challenge, "WWW-Authenticate").unwrap();
    let (_, nonce) = digest::parse_challenge(&www).unwrap();
    let mut c = Credentials {
        username: DEV.into(),
        realm: "3402000000".into(),
        nonce,
        uri: "sip:34020000002000000001@3402000000".into(),
        response: String::new(),
        qop: Some("auth".into()),
        nc: Some(nc.into()),
        cnonce: Some("0a4f113b".into()),
    };
    c.response = c.expected("REGISTER", PASSWORD);
    format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", \
         algorithm=MD5, qop=auth, nc={nc}, cnonce=\"0a4f113b\"",
        c.username, c.realm, c.nonce, c.uri, c.response
    )
}

#[test]
fn a_replayed_register_is_challenged_again_with_a_fresh_nonce() {
    let mut p = platform(UnknownPolicy::Refuse, true);
    let out = p.on_message(&register(1, 3600, None), peer(), T0);
    let auth = answer(&out[0], PASSWORD, DEV);
    let captured = register(2, 3600, Some(auth.clone()));
    assert_eq!(status(&p.on_message(&captured, peer(), T0)[0]), 200);
    // The same bytes again, within the nonce's life: no registration, a new challenge.
    let again = p.on_message(&captured, peer(), T0 + 5);
    assert_eq!(again.len(), 1);
    assert_eq!(status(&again[0]), 401);
    let www = header(&again[0], "WWW-Authenticate").unwrap();
    assert!(!www.contains("stale"));
    assert!(!auth.contains(&digest::parse_challenge(&www).unwrap().1));
    // Answering it registers.
    let fresh = answer(&again[0], PASSWORD, DEV);
    assert_eq!(
        status(&p.on_message(&register(3, 3600, Some(fresh)), peer(), T0 + 5)[0]),
        200
    );
    // A wrong password with the used nonce is still a wrong password (no count is taken).
    let out = p.on_message(&register(4, 3600, None), peer(), T0 + 6);
    let bad = answer(&out[0], "wrong", DEV);
    assert_eq!(
        status(&p.on_message(&register(5, 3600, Some(bad)), peer(), T0 + 6)[0]),
        403
    );
}

#[test]
fn with_qop_the_nonce_count_must_grow() {
    let mut p = platform(UnknownPolicy::Refuse, true);
    let challenge = p.on_message(&register(1, 3600, None), peer(), T0).remove(0);
    let first = answer_qop(&challenge, "00000001");
    assert_eq!(
        status(&p.on_message(&register(2, 3600, Some(first.clone())), peer(), T0)[0]),
        200
    );
    // Re-registering with the same nonce and the next count is fine (RFC 2617 §3.2.2).
    let next = answer_qop(&challenge, "00000002");
    assert_eq!(
        status(&p.on_message(&register(3, 3600, Some(next)), peer(), T0 + 60)[0]),
        200
    );
    // Count 1 again: a replay.
    assert_eq!(
        status(&p.on_message(&register(4, 3600, Some(first)), peer(), T0 + 61)[0]),
        401
    );
    // A count that is no count.
    let bad = answer_qop(&challenge, "xyz");
    let out = p.on_message(&register(5, 3600, Some(bad)), peer(), T0 + 62);
    assert_eq!(status(&out[0]), 400);
    assert!(header(&out[0], "Warning").unwrap().contains("nc"));
}

#[test]
fn wrong_password_and_wrong_username_are_forbidden() {
    let mut p = platform(UnknownPolicy::Refuse, true);
    let out = p.on_message(&register(1, 3600, None), peer(), T0);
    let bad = answer(&out[0], "wrong", DEV);
    let out = p.on_message(&register(2, 3600, Some(bad)), peer(), T0);
    assert_eq!(status(&out[0]), 403);
    let out = p.on_message(&register(3, 3600, None), peer(), T0);
    let other = answer(&out[0], PASSWORD, "34020000001320000002");
    let out = p.on_message(&register(4, 3600, Some(other)), peer(), T0);
    assert_eq!(status(&out[0]), 403);
    let why: Vec<Refusal> = p
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            GbEvent::Refused { why, .. } => Some(why),
            _ => None,
        })
        .collect();
    assert_eq!(why, vec![Refusal::WrongPassword, Refusal::UsernameMismatch]);
    assert_eq!(
        p.state(&dev(), T0).presence,
        Presence::Offline(OfflineReason::NeverRegistered)
    );
}

#[test]
fn stale_and_forged_nonces_are_challenged_again() {
    let mut p = platform(UnknownPolicy::Refuse, true);
    let out = p.on_message(&register(1, 3600, None), peer(), T0);
    let auth = answer(&out[0], PASSWORD, DEV);
    let out = p.on_message(
        &register(2, 3600, Some(auth)),
        peer(),
        T0 + digest::NONCE_TTL_SEC + 1,
    );
    assert_eq!(status(&out[0]), 401);
    assert!(
        header(&out[0], "WWW-Authenticate")
            .unwrap()
            .contains("stale=true")
    );
    let mut other = platform(UnknownPolicy::Refuse, true);
    let forged = answer(
        &other.on_message(&register(1, 3600, None), peer(), T0)[0],
        PASSWORD,
        DEV,
    );
    let out = Platform::new(
        PlatformConfig {
            known: [dev()].into(),
            shared_password: Some(Password::new(PASSWORD)),
            ..Default::default()
        },
        Nonces::new([1; 16]),
        1,
    )
    .on_message(&register(2, 3600, Some(forged)), peer(), T0);
    assert_eq!(status(&out[0]), 401);
}

#[test]
fn unknown_devices_are_recorded_and_refused_or_accepted() {
    let mut p = platform(UnknownPolicy::Refuse, false);
    let out = p.on_message(&register(1, 3600, None), peer(), T0);
    assert_eq!(status(&out[0]), 403);
    assert_eq!(p.unknown_devices()[&dev()].attempts, 1);
    // Each attempt is published for the persisted review list, before the refusal.
    let events = p.take_events();
    assert!(
        matches!(
            events.as_slice(),
            [
                GbEvent::Unknown { device, at: T0, .. },
                GbEvent::Refused { why: Refusal::Unknown, .. }
            ] if *device == dev()
        ),
        "{events:?}"
    );

    let mut p = platform(UnknownPolicy::Accept, false);
    registered(&mut p, T0);
    assert_eq!(p.unknown_devices()[&dev()].attempts, 2);
    assert_eq!(p.state(&dev(), T0).presence, Presence::Online);
}

#[test]
fn keepalives_keep_it_online_and_three_missed_make_it_offline() {
    let mut p = platform(UnknownPolicy::Refuse, true);
    registered(&mut p, T0);
    p.take_events();
    // Keepalives every 60 s for ten minutes.
    for i in 1..=10u32 {
        let now = T0 + 60 * i64::from(i);
        let out = p.on_message(&keepalive(i), peer(), now);
        assert_eq!(status(&out[0]), 200);
        p.tick(now);
    }
    let last = T0 + 600;
    // Then silence: offline exactly 3 × 60 s after the last one, not a second before.
    p.tick(last + 179);
    assert!(
        p.take_events()
            .iter()
            .all(|e| matches!(e, GbEvent::Keepalive { .. }))
    );
    p.tick(last + 180);
    assert_eq!(
        p.take_events(),
        vec![GbEvent::Presence(Transition {
            device: dev(),
            at: last + 180,
            presence: Presence::Offline(OfflineReason::KeepaliveLost),
        })]
    );
    // A keepalive now is refused so that the device registers again.
    assert_eq!(
        status(&p.on_message(&keepalive(11), peer(), last + 200)[0]),
        403
    );
}

#[test]
fn unregister() {
    let mut p = platform(UnknownPolicy::Refuse, true);
    registered(&mut p, T0);
    p.take_events();
    let out = p.on_message(&register(3, 0, None), peer(), T0 + 10);
    let auth = answer(&out[0], PASSWORD, DEV);
    let out = p.on_message(&register(4, 0, Some(auth)), peer(), T0 + 10);
    assert_eq!(status(&out[0]), 200);
    assert_eq!(
        p.state(&dev(), T0 + 10).presence,
        Presence::Offline(OfflineReason::Unregistered)
    );
}

fn catalog_page(sn: u32, sum: u32, ids: &[u32]) -> Vec<u8> {
    let items: String = ids
        .iter()
        .map(|i| format!("<Item><DeviceID>340200000013100{i:05}</DeviceID><Name>通道{i}</Name><Status>ON</Status></Item>"))
        .collect();
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Response><CmdType>Catalog</CmdType><SN>{sn}</SN>\
         <DeviceID>{DEV}</DeviceID><SumNum>{sum}</SumNum><DeviceList Num=\"{}\">{items}</DeviceList></Response>",
        ids.len()
    );
    encoding_rs::GBK.encode(&xml).0.into_owned()
}

#[test]
fn paged_catalog_becomes_one_catalog() {
    let mut p = platform(UnknownPolicy::Refuse, true);
    registered(&mut p, T0);
    p.take_events();
    for (n, page) in [[1, 2], [3, 4], [5, 0]].iter().enumerate() {
        let ids: Vec<u32> = page.iter().copied().filter(|i| *i != 0).collect();
        let out = p.on_message(
            &message(&catalog_page(1, 5, &ids), 10 + n as u32),
            peer(),
            T0 + 1,
        );
        assert_eq!(status(&out[0]), 200);
    }
    let events = p.take_events();
    let [GbEvent::Catalog(c)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert!(c.complete);
    assert_eq!(c.items.len(), 5);
    assert_eq!(c.items[4].name.as_deref(), Some("通道5"));

    // The channels follow their parent: up while it keeps alive, down with it as cause after.
    let ch: DeviceCode = "34020000001310000003".parse().unwrap();
    let o = p.observe(&ch, T0 + 2).unwrap();
    assert_eq!(o.outcome.status, ProbeStatus::Up);
    let o = p.observe(&ch, T0 + 1000).unwrap();
    assert_eq!(o.outcome.status, ProbeStatus::Down);
    assert_eq!(o.outcome.parent_down, Some(dev()));
    assert_eq!(
        p.observe(&dev(), T0 + 1000).unwrap().outcome.status,
        ProbeStatus::Down
    );
    assert!(
        p.observe(&"34020000001310000099".parse().unwrap(), T0)
            .is_none()
    );
}

#[test]
fn malformed_bodies_get_400_and_garbage_gets_nothing() {
    let mut p = platform(UnknownPolicy::Refuse, true);
    registered(&mut p, T0);
    let out = p.on_message(&message(b"<Notify><CmdType>Keepalive", 5), peer(), T0);
    assert_eq!(status(&out[0]), 400);
    assert!(header(&out[0], "Warning").unwrap().contains("not closed"));
    let bomb = br#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaa">]><Notify>&a;</Notify>"#;
    let out = p.on_message(&message(bomb, 6), peer(), T0);
    assert!(header(&out[0], "Warning").unwrap().contains("DOCTYPE"));
    assert!(p.on_message(b"\x00\x01garbage", peer(), T0).is_empty());
}

#[test]
fn a_flooding_peer_is_dropped_for_the_second_others_are_not() {
    let mut p = platform(UnknownPolicy::Refuse, true);
    let flood = Peer::Udp("127.0.0.9:5060".parse().unwrap());
    for _ in 0..MAX_MESSAGES_PER_SEC {
        assert!(!p.on_message(&register(1, 3600, None), flood, T0).is_empty());
    }
    assert!(p.on_message(&register(1, 3600, None), flood, T0).is_empty());
    assert!(
        !p.on_message(&register(1, 3600, None), peer(), T0)
            .is_empty()
    );
    assert!(
        !p.on_message(&register(1, 3600, None), flood, T0 + 1)
            .is_empty()
    );
    assert_eq!(p.dropped().1, 1);
}

#[test]
fn a_warning_never_carries_a_line_break_or_a_quote() {
    let w = super::warning("bad \"x\"\r\nVia: injected");
    assert_eq!(w, "399 camwatch \"bad 'x'''Via: injected\"");
}

fn notify(event: &str, channel: &str, cseq: u32) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Notify>\r\n<CmdType>Catalog</CmdType>\r\n\
         <SN>{cseq}</SN>\r\n<DeviceID>{DEV}</DeviceID>\r\n<SumNum>1</SumNum>\r\n<DeviceList Num=\"1\">\r\n\
         <Item>\r\n<DeviceID>{channel}</DeviceID>\r\n<Event>{event}</Event>\r\n</Item>\r\n\
         </DeviceList>\r\n</Notify>\r\n"
    );
    String::from_utf8(message(body.as_bytes(), cseq))
        .unwrap()
        .replace("MESSAGE", "NOTIFY")
        .into_bytes()
}

#[test]
fn subscribes_after_registering_and_matches_the_answer() {
    let mut p = platform(UnknownPolicy::Refuse, true);
    p.subs = Subscriptions::new(600);
    let out = registered(&mut p, T0);
    // 200, the Catalog query, then the SUBSCRIBE.
    assert_eq!(out.len(), 3);
    let Inbound::Request(sub) = sip::parse(&out[2].bytes).unwrap() else {
        panic!("not a request")
    };
    assert_eq!(sub.method, Method::Subscribe);
    assert_eq!(sub.expires, Some(600));
    assert_eq!(header(&out[2], "Event").as_deref(), Some("Catalog"));
    assert!(matches!(
        p.subscription(&dev()),
        Some(SubState::Pending { .. })
    ));
    // The device accepts for 300 s.
    let ok = sip::response(&sub, 200, "OK", "devtag", &[("Expires", "300".into())]);
    assert!(p.on_message(&ok, peer(), T0 + 1).is_empty());
    assert!(matches!(
        p.subscription(&dev()),
        Some(SubState::Active { expires_at, .. }) if expires_at == T0 + 301
    ));
    // Refreshed in the dialog (the device's tag, the next CSeq) 240 s later.
    for (n, at) in [(10, T0 + 100), (11, T0 + 200)] {
        assert_eq!(status(&p.on_message(&keepalive(n), peer(), at)[0]), 200);
    }
    assert!(p.tick(T0 + 240).is_empty());
    let refresh = p.tick(T0 + 241);
    let Inbound::Request(r) = sip::parse(&refresh[0].bytes).unwrap() else {
        panic!("not a request")
    };
    assert_eq!(
        (
            r.common.call_id.as_str(),
            r.common.to_tag.as_deref(),
            r.common.cseq
        ),
        (sub.common.call_id.as_str(), Some("devtag"), 2)
    );
    // Unregistering ends it.
    let challenge = p.on_message(&register(3, 0, None), peer(), T0 + 250);
    let auth = answer(&challenge[0], PASSWORD, DEV);
    let out = p.on_message(&register(4, 0, Some(auth)), peer(), T0 + 250);
    assert_eq!(status(&out[0]), 200);
    assert_eq!(p.subscription(&dev()), None);
}

#[test]
fn a_notify_is_taken_only_from_an_online_peer() {
    let ch = "34020000001310000077";
    let mut p = platform(UnknownPolicy::Refuse, true);
    let out = p.on_message(&notify("ON", ch, 5), peer(), T0);
    assert_eq!(status(&out[0]), 403);
    assert_eq!(p.observe(&ch.parse().unwrap(), T0), None);
    registered(&mut p, T0);
    let out = p.on_message(&notify("VLOST", ch, 6), peer(), T0 + 1);
    assert_eq!(status(&out[0]), 200);
    assert_eq!(
        p.channel_fault(&ch.parse().unwrap(), T0 + 1),
        Some(ChannelFault::VideoLost)
    );
    p.on_message(&notify("ON", ch, 7), peer(), T0 + 2);
    assert_eq!(
        p.channel_fault(&ch.parse().unwrap(), T0 + 2),
        None,
        "ON clears"
    );
    p.on_message(&notify("DEFECT", ch, 8), peer(), T0 + 3);
    assert_eq!(
        p.channel_fault(&ch.parse().unwrap(), T0 + 3),
        Some(ChannelFault::Defect)
    );
    let out = p.on_message(&notify("EXPLODED", ch, 9), peer(), T0 + 4);
    assert_eq!(status(&out[0]), 400);
}

// --- INVITE for live video (platform/invite.rs) ---

fn request_of(out: &Outgoing) -> InRequest {
    match sip::parse(&out.bytes).unwrap() {
        Inbound::Request(r) => r,
        Inbound::Response(r) => panic!("a response, {}", r.status),
    }
}

/// The device's answer to `invite`: `status`, with an SDP answer for a 200.
fn answer_invite(invite: &Outgoing, status: u16) -> Vec<u8> {
    let req = request_of(invite);
    if status == 200 {
        let offer = crate::sdp::Media::parse(&req.common.body).unwrap();
        let sdp = crate::sdp::Media::answer(
            DEV,
            &offer,
            "127.0.0.1".parse().unwrap(),
            5061,
            "0200000001",
        );
        sip::response_with_body(&req, 200, "OK", "dev1", "APPLICATION/SDP", &sdp)
    } else {
        sip::response(&req, status, "Busy Here", "dev1", &[])
    }
}

#[test]
fn an_invite_is_routed_offered_acked_and_ended() {
    let mut p = platform(UnknownPolicy::Refuse, true);
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    // Not registered yet: the platform knows no way to it.
    assert_eq!(
        p.invite(dev(), MediaMode::Udp, ip, 30_000, "0200000001", T0)
            .unwrap_err(),
        InviteError::Unknown
    );
    let other: DeviceCode = "34020000001310000077".parse().unwrap();
    assert_eq!(
        p.invite(other, MediaMode::Udp, ip, 30_000, "0200000001", T0)
            .unwrap_err(),
        InviteError::Unknown
    );
    registered(&mut p, T0);
    let inv = p
        .invite(dev(), MediaMode::Udp, ip, 30_000, "0200000001", T0)
        .unwrap();
    assert_eq!(inv.via, dev());
    let req = request_of(&inv.request);
    assert_eq!(req.method, Method::Invite);
    assert_eq!(
        header(&inv.request, "Subject").as_deref(),
        Some(&*format!("{DEV}:0200000001,34020000002000000001:0"))
    );
    let offer = crate::sdp::Media::parse(&req.common.body).unwrap();
    assert_eq!((offer.session.as_str(), offer.port), ("Play", 30_000));
    assert_eq!(offer.ssrc.as_deref(), Some("0200000001"));
    let tx = inv.request.tx.clone().unwrap();
    assert_eq!(tx.key.method, Method::Invite);
    assert_eq!(p.open_invites(), 1);

    // 200: ACKed in the dialog, the answer handed over once.
    let ok = answer_invite(&inv.request, 200);
    let out = p.on_message(&ok, peer(), T0);
    assert_eq!(out.len(), 1);
    let ack = request_of(&out[0]);
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.common.to_tag.as_deref(), Some("dev1"));
    assert_eq!(ack.common.call_id, inv.call_id);
    assert!(out[0].tx.is_none());
    let answers = p.take_invite_answers();
    assert!(
        matches!(&answers[..], [(c, InviteAnswer::Accepted { sdp })] if *c == inv.call_id && !sdp.is_empty())
    );
    // The 200 heard again: ACKed again, no second answer.
    let out = p.on_message(&ok, peer(), T0);
    assert_eq!(request_of(&out[0]).method, Method::Ack);
    assert!(p.take_invite_answers().is_empty());

    // BYE: in the dialog, tracked, the dialog gone.
    let bye = p.bye(&inv.call_id).unwrap();
    let r = request_of(&bye);
    assert_eq!((r.method, r.common.cseq), (Method::Bye, 2));
    assert_eq!(r.common.to_tag.as_deref(), Some("dev1"));
    assert_eq!(bye.tx.unwrap().what, Pending::Bye { device: dev() });
    assert_eq!(p.open_invites(), 0);
    assert!(p.bye(&inv.call_id).is_none());
}

#[test]
fn a_refused_or_unanswered_invite_is_reported_and_forgotten() {
    let mut p = platform(UnknownPolicy::Refuse, true);
    registered(&mut p, T0);
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let inv = p
        .invite(dev(), MediaMode::Udp, ip, 30_000, "0200000001", T0)
        .unwrap();
    let out = p.on_message(&answer_invite(&inv.request, 486), peer(), T0);
    // The ACK of a failure belongs to the INVITE's transaction: the same branch.
    let ack = request_of(&out[0]);
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(
        ack.common.branch(),
        inv.request.tx.as_ref().map(|t| t.key.branch.as_str())
    );
    assert_eq!(
        p.take_invite_answers(),
        vec![(inv.call_id.clone(), InviteAnswer::Refused { status: 486 })]
    );
    assert_eq!(p.open_invites(), 0);

    let inv = p
        .invite(dev(), MediaMode::Udp, ip, 30_000, "0200000002", T0)
        .unwrap();
    let what = inv.request.tx.clone().unwrap().what;
    p.no_answer(what, T0 + 32);
    assert_eq!(
        p.take_invite_answers(),
        vec![(inv.call_id, InviteAnswer::NoAnswer)]
    );
    assert_eq!(p.open_invites(), 0);
}

#[test]
fn a_200_after_the_probe_gave_up_is_ended_at_once() {
    let mut p = platform(UnknownPolicy::Refuse, true);
    registered(&mut p, T0);
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let inv = p
        .invite(dev(), MediaMode::Udp, ip, 30_000, "0200000001", T0)
        .unwrap();
    assert!(p.bye(&inv.call_id).is_none());
    let out = p.on_message(&answer_invite(&inv.request, 200), peer(), T0 + 3);
    let methods: Vec<Method> = out.iter().map(|o| request_of(o).method).collect();
    assert_eq!(methods, vec![Method::Ack, Method::Bye]);
    assert!(p.take_invite_answers().is_empty());
    assert_eq!(p.open_invites(), 0);
}

#[test]
fn a_channel_is_invited_through_its_parent_while_online_and_on() {
    let mut p = platform(UnknownPolicy::Refuse, true);
    registered(&mut p, T0);
    let ch: DeviceCode = "34020000001310000001".parse().unwrap();
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    p.channels.insert(ch, (dev(), ChannelStatus::Off));
    assert_eq!(
        p.invite(ch, MediaMode::Udp, ip, 1, "0200000001", T0)
            .unwrap_err(),
        InviteError::Off
    );
    p.channels.insert(ch, (dev(), ChannelStatus::On));
    let inv = p
        .invite(ch, MediaMode::Udp, ip, 1, "0200000001", T0)
        .unwrap();
    assert_eq!(inv.via, dev());
    assert_eq!(inv.request.to, peer());
    assert!(
        request_of(&inv.request)
            .uri
            .starts_with(&format!("sip:{ch}@"))
    );
    // The parent's keepalives stop: it is offline, and so is the way to its channels.
    let late = T0 + 60 * 3 + 1;
    assert_eq!(
        p.media_route(&ch, late).unwrap_err(),
        InviteError::Offline { via: dev() }
    );
}

#[test]
fn an_unanswered_query_is_asked_again_at_the_next_keepalive() {
    let mut p = platform(UnknownPolicy::Refuse, true);
    registered(&mut p, T0);
    p.no_answer(
        Pending::Query {
            device: dev(),
            query: Query::Catalog,
        },
        T0 + 32,
    );
    let out = p.on_message(&keepalive(1), peer(), T0 + 60);
    assert_eq!(status(&out[0]), 200);
    assert_eq!(
        out.len(),
        2,
        "the keepalive's 200 and the Catalog query again"
    );
    let q = request_of(&out[1]);
    assert_eq!(q.method, Method::Message);
    assert!(String::from_utf8_lossy(&q.common.body).contains("<CmdType>Catalog</CmdType>"));
    assert!(matches!(
        out[1].tx.as_ref().map(|t| &t.what),
        Some(Pending::Query {
            query: Query::Catalog,
            ..
        })
    ));
    // Asked once: the next keepalive is only answered.
    assert_eq!(p.on_message(&keepalive(2), peer(), T0 + 120).len(), 1);
}

/// The facts `camwatch probe` and the API show: registration, keepalives and the rule in
/// force, the last catalog with its pages, the last DeviceInfo; a channel sees its parent's.
#[test]
fn facts_tell_registration_keepalives_catalog_and_info() {
    use camwatch_core::signalling::{OnOff, SipPresence, SipTransport};
    let mut p = platform(UnknownPolicy::Refuse, true);
    assert!(p.facts(&dev(), T0).is_none(), "never heard of");
    registered(&mut p, T0);
    let f = p.facts(&dev(), T0).unwrap();
    assert_eq!(f.channel, None);
    let peer_facts = &f.peer;
    assert_eq!(peer_facts.presence, SipPresence::Online);
    assert_eq!(peer_facts.transport, Some(SipTransport::Udp));
    assert_eq!(peer_facts.addr, Some(peer().addr()));
    assert_eq!(peer_facts.registered_at, Some(T0));
    assert_eq!(peer_facts.expires_at, Some(T0 + 3600));
    assert_eq!(peer_facts.last_keepalive, None);
    assert_eq!(
        (
            peer_facts.keepalive_interval_sec,
            peer_facts.keepalive_misses
        ),
        (60, 3)
    );
    assert_eq!(peer_facts.offline_at, Some(T0 + 180));
    assert!(peer_facts.catalog.is_none() && peer_facts.info.is_none());

    for (n, ids) in [vec![1, 2], vec![3]].iter().enumerate() {
        p.on_message(
            &message(&catalog_page(7, 3, ids), 10 + n as u32),
            peer(),
            T0 + 1,
        );
    }
    let info = format!(
        "<?xml version=\"1.0\"?>\r\n<Response><CmdType>DeviceInfo</CmdType><SN>8</SN>\
         <DeviceID>{DEV}</DeviceID><Manufacturer>Hikvision</Manufacturer><Model>DS-2CD</Model>\
         <Firmware>V5.5</Firmware><Channel>3</Channel></Response>"
    );
    p.on_message(&message(info.as_bytes(), 20), peer(), T0 + 2);
    p.on_message(&keepalive(21), peer(), T0 + 60);

    let f = p.facts(&dev(), T0 + 130).unwrap().peer;
    let c = f.catalog.unwrap();
    assert_eq!(
        (c.at, c.channels, c.announced, c.pages, c.complete),
        (T0 + 1, 3, 3, 2, true)
    );
    let i = f.info.unwrap();
    assert_eq!(i.at, T0 + 2);
    assert_eq!(i.manufacturer.as_deref(), Some("Hikvision"));
    assert_eq!(i.model.as_deref(), Some("DS-2CD"));
    assert_eq!(i.firmware.as_deref(), Some("V5.5"));
    assert_eq!(i.channels, Some(3));
    assert_eq!(f.last_keepalive, Some(T0 + 60));
    // 70 s after the keepalive: one interval missed, offline at +180 s after it.
    assert_eq!(f.missed_now, 1);
    assert_eq!(f.offline_at, Some(T0 + 240));

    // Silent since: offline from the instant of the third miss, the last keepalive kept.
    let f = p.facts(&dev(), T0 + 1000).unwrap().peer;
    assert_eq!(f.presence, SipPresence::KeepaliveLost);
    assert_eq!(f.offline_at, Some(T0 + 240));
    assert_eq!(f.last_keepalive, Some(T0 + 60));
    assert_eq!(f.missed_now, 15);

    // A channel: its parent's facts and the Status the parent reported.
    let ch: DeviceCode = "34020000001310000002".parse().unwrap();
    let f = p.facts(&ch, T0 + 100).unwrap();
    assert_eq!(f.channel, Some(OnOff::On));
    assert_eq!(f.peer.code, dev());
    assert_eq!(f.peer.presence, SipPresence::Online);
}

/// A catalog given up at its deadline counts the pages that came.
#[test]
fn facts_of_a_partial_catalog() {
    let mut p = platform(UnknownPolicy::Refuse, true);
    registered(&mut p, T0);
    p.on_message(&message(&catalog_page(3, 10, &[1, 2]), 10), peer(), T0 + 1);
    p.on_message(&keepalive(11), peer(), T0 + 100);
    p.tick(T0 + 1 + crate::catalog::CATALOG_DEADLINE_SEC);
    let c = p.facts(&dev(), T0 + 130).unwrap().peer.catalog.unwrap();
    assert_eq!(
        (c.channels, c.announced, c.pages, c.complete),
        (2, 10, 1, false)
    );
}

fn device_status(sn: u32, record: &str, encode: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Response><CmdType>DeviceStatus</CmdType><SN>{sn}</SN>\
         <DeviceID>{DEV}</DeviceID><Result>OK</Result><Online>ONLINE</Online><Status>OK</Status>\
         <Encode>{encode}</Encode><Record>{record}</Record></Response>"
    )
    .into_bytes()
}

/// The CmdTypes of the queries among `out`.
fn queries(out: &[Outgoing]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match sip::parse(&o.bytes).ok()? {
            Inbound::Request(r) if r.method == Method::Message => {
                let body = String::from_utf8_lossy(&r.common.body).into_owned();
                let from = body.find("<CmdType>")? + 9;
                Some(body[from..from + body[from..].find('<')?].to_string())
            }
            _ => None,
        })
        .collect()
}

/// DeviceInfo and DeviceStatus asked within a minute of registering, DeviceStatus again every
/// interval; the answer's Record becomes the recording fact, an event when it changes.
#[test]
fn device_status_polls_and_recording_changes() {
    use camwatch_core::signalling::OnOff;
    let mut cfg = PlatformConfig {
        shared_password: Some(Password::new(PASSWORD)),
        status_poll: crate::status_poll::PollConfig {
            interval_sec: 600,
            at_once: 8,
        },
        ..Default::default()
    };
    cfg.known.insert(dev());
    let mut p = Platform::new(cfg, Nonces::new([9; 16]), 0xabc);
    registered(&mut p, T0);
    let mut asked = Vec::new();
    let mut t = T0;
    while asked.is_empty() && t < T0 + 60 {
        asked = queries(&p.tick(t));
        t += 1;
    }
    assert_eq!(asked, ["DeviceInfo", "DeviceStatus"]);
    let polled_at = t - 1;
    p.take_events();
    p.on_message(
        &message(&device_status(5, "OFF", "ON"), 30),
        peer(),
        polled_at + 1,
    );
    let events = p.take_events();
    let recording: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            GbEvent::Recording { previous, now, .. } => Some((*previous, *now)),
            _ => None,
        })
        .collect();
    assert_eq!(recording.len(), 1, "{events:?}");
    assert_eq!(recording[0].0, None);
    assert_eq!(
        (
            recording[0].1.record,
            recording[0].1.encode,
            recording[0].1.status
        ),
        (OnOff::Off, OnOff::On, OnOff::On)
    );
    // The same again: no event, the fact keeps its start.
    for t in polled_at + 2..polled_at + 540 {
        p.on_message(&keepalive(t as u32), peer(), t);
        assert!(
            queries(&p.tick(t)).is_empty(),
            "asked again at +{}",
            t - polled_at
        );
    }
    let mut next = None;
    for t in polled_at + 540..=polled_at + 661 {
        p.on_message(&keepalive(t as u32), peer(), t);
        if queries(&p.tick(t)) == ["DeviceStatus"] {
            next = Some(t);
            break;
        }
    }
    let next = next.expect("asked again within interval ± 10 %");
    p.take_events();
    p.on_message(&message(&device_status(6, "OFF", "ON"), 31), peer(), next);
    assert!(
        !p.take_events()
            .iter()
            .any(|e| matches!(e, GbEvent::Recording { .. }))
    );
    let f = p.facts(&dev(), next).unwrap().peer.recording.unwrap();
    assert_eq!(
        (f.record, f.since, f.checked_at),
        (OnOff::Off, polled_at + 1, next)
    );
    // Recording back on: an event naming what it was.
    p.on_message(
        &message(&device_status(7, "ON", "ON"), 32),
        peer(),
        next + 1,
    );
    let events = p.take_events();
    let Some(GbEvent::Recording { previous, now, .. }) = events
        .iter()
        .find(|e| matches!(e, GbEvent::Recording { .. }))
    else {
        panic!("{events:?}")
    };
    assert_eq!(previous.unwrap().record, OnOff::Off);
    assert_eq!((now.record, now.since), (OnOff::On, next + 1));
}

/// `Record`, `Encode` and `Status` read from real documents, whatever their case; anything
/// outside ON/OFF (or OK/ERROR) is unknown, never on.
#[test]
fn recording_is_parsed_from_device_status() {
    use camwatch_core::signalling::OnOff;
    let parse = |xml: &str| facts::recording_of(&manscdp::parse(xml.as_bytes()).unwrap());
    let doc = |inner: &str| {
        format!(
            "<?xml version=\"1.0\"?><Response><CmdType>DeviceStatus</CmdType><SN>1</SN>\
             <DeviceID>{DEV}</DeviceID>{inner}</Response>"
        )
    };
    assert_eq!(
        parse(&doc(
            "<Status>OK</Status><Encode>ON</Encode><Record>OFF</Record>"
        )),
        Some((OnOff::Off, OnOff::On, OnOff::On))
    );
    assert_eq!(
        parse(&doc(
            "<Status>ERROR</Status><Encode> off </Encode><Record>on</Record>"
        )),
        Some((OnOff::On, OnOff::Off, OnOff::Off))
    );
    assert_eq!(
        parse(&doc("<Record>RECORDING</Record>")),
        Some((OnOff::Unknown, OnOff::Unknown, OnOff::Unknown))
    );
    assert_eq!(
        parse(&format!(
            "<?xml version=\"1.0\"?><Response><CmdType>DeviceInfo</CmdType><SN>1</SN><DeviceID>{DEV}</DeviceID></Response>"
        )),
        None
    );
}

/// A peer whose catalog sync is leased: not asked for its catalog (nor subscribed to) before
/// this node holds the lease; asked and subscribed at its next keepalive after; after the
/// lease is given up, nothing more is asked and the subscription is not refreshed.
#[test]
fn a_leased_catalog_is_synced_only_under_its_lease() {
    let mut p = platform(UnknownPolicy::Refuse, true);
    p.cfg.catalog_leased.insert(dev());
    p.subs = Subscriptions::new(600);
    assert!(!p.may_sync_catalog(&dev()));
    let out = registered(&mut p, T0);
    assert_eq!(out.len(), 1, "only the 200");
    let out = p.on_message(&keepalive(1), peer(), T0 + 10);
    assert_eq!(out.len(), 1, "only the keepalive's 200");

    p.hold_catalog(dev(), true, T0 + 15);
    assert!(p.may_sync_catalog(&dev()));
    let out = p.on_message(&keepalive(2), peer(), T0 + 20);
    assert_eq!(queries(&out), ["Catalog"]);
    let sub = request_of(out.last().unwrap());
    assert_eq!(sub.method, Method::Subscribe);
    // Held again: nothing new.
    p.hold_catalog(dev(), true, T0 + 25);
    assert_eq!(p.on_message(&keepalive(3), peer(), T0 + 30).len(), 1);

    let ok = sip::response(&sub, 200, "OK", "devtag", &[("Expires", "300".into())]);
    assert!(p.on_message(&ok, peer(), T0 + 21).is_empty());
    p.hold_catalog(dev(), false, T0 + 40);
    assert!(!p.may_sync_catalog(&dev()));
    assert_eq!(p.subscription(&dev()), None);
    assert!(
        p.tick(T0 + 300)
            .iter()
            .all(|o| queries(std::slice::from_ref(o)).is_empty()
                && !String::from_utf8_lossy(&o.bytes).starts_with("SUBSCRIBE"))
    );
    assert_eq!(p.on_message(&keepalive(4), peer(), T0 + 60).len(), 1);
    // A peer that is not leased is synced as ever.
    let mut free = platform(UnknownPolicy::Refuse, true);
    assert!(free.may_sync_catalog(&dev()));
    assert_eq!(queries(&registered(&mut free, T0)), ["Catalog"]);
}

/// A device the register gains while the platform runs (a catalog listed it) may register at
/// once; learnt as leased (an NVR or lower platform on a node of several), it is synced only
/// under its lease, like one of the register at start, and its duty is wanted at once only
/// when it registered before it was learnt.
#[test]
fn a_device_learnt_while_running_registers_and_a_parent_is_leased() {
    let mut p = platform(UnknownPolicy::Refuse, false);
    let out = p.on_message(&register(1, 3600, None), peer(), T0);
    assert_eq!(status(&out[0]), 403, "unknown at first");
    assert!(
        !p.learn_device(dev(), None, true, T0 + 1),
        "not online: nothing to want yet"
    );
    assert!(p.knows_device(&dev()));
    assert!(
        !p.may_sync_catalog(&dev()),
        "leased: synced only under the lease"
    );
    assert_eq!(
        registered(&mut p, T0 + 2).len(),
        1,
        "registers; no catalog query yet"
    );
    assert!(!p.learn_device(dev(), None, true, T0 + 3), "learnt once");
    p.hold_catalog(dev(), true, T0 + 4);
    assert_eq!(
        queries(&p.on_message(&keepalive(1), peer(), T0 + 5)),
        ["Catalog"]
    );

    // Accepted as unknown and online before a catalog listed it: its duty is wanted at once.
    let mut accepting = platform(UnknownPolicy::Accept, false);
    assert_eq!(queries(&registered(&mut accepting, T0)), ["Catalog"]);
    assert!(accepting.learn_device(dev(), None, true, T0 + 1));
    assert!(!accepting.may_sync_catalog(&dev()));
    // Its own password, when the register has one, is the one it must use.
    let mut own = platform(UnknownPolicy::Refuse, false);
    own.learn_device(dev(), Some(Password::new("own-password")), false, T0);
    let out = own.on_message(&register(1, 3600, None), peer(), T0);
    let shared = answer(&out[0], PASSWORD, DEV);
    assert_eq!(
        status(&own.on_message(&register(2, 3600, Some(shared)), peer(), T0)[0]),
        403
    );
    assert!(own.may_sync_catalog(&dev()), "not leased: synced freely");
}

/// A lease taken while the peer is offline asks nothing until it registers, then as usual.
#[test]
fn a_lease_taken_while_offline_waits_for_the_registration() {
    let mut p = platform(UnknownPolicy::Refuse, true);
    p.cfg.catalog_leased.insert(dev());
    p.hold_catalog(dev(), true, T0);
    assert_eq!(queries(&registered(&mut p, T0 + 5)), ["Catalog"]);
    assert_eq!(
        p.on_message(&keepalive(1), peer(), T0 + 10).len(),
        1,
        "asked once"
    );
}

/// Facts stored before a restart are shown until the peer is heard again, as history: not
/// registered now, `stored_at` set; only for register devices; the live facts win once it
/// registers.
#[test]
fn facts_from_before_a_restart_are_history_until_the_peer_is_heard() {
    let mut p = platform(UnknownPolicy::Refuse, true);
    let stored = camwatch_core::signalling::PeerFacts {
        code: dev(),
        presence: camwatch_core::signalling::SipPresence::Online,
        offline_at: Some(T0 - 10),
        transport: Some(camwatch_core::signalling::SipTransport::Udp),
        addr: Some("127.0.0.1:5061".parse().unwrap()),
        registered_at: Some(T0 - 3600),
        expires_at: Some(T0),
        last_keepalive: Some(T0 - 100),
        keepalive_interval_sec: 60,
        keepalive_misses: 3,
        missed_now: 1,
        catalog: None,
        info: None,
        recording: None,
        stored_at: Some(T0 - 90),
    };
    let stranger: DeviceCode = "34020000001320000099".parse().unwrap();
    p.remember(vec![
        stored.clone(),
        camwatch_core::signalling::PeerFacts {
            code: stranger,
            ..stored.clone()
        },
    ]);
    let f = p.facts(&dev(), T0 + 10).unwrap();
    assert_eq!(f.channel, None);
    assert_eq!(
        (
            f.peer.presence,
            f.peer.offline_at,
            f.peer.missed_now,
            f.peer.stored_at
        ),
        (
            camwatch_core::signalling::SipPresence::NeverRegistered,
            None,
            0,
            Some(T0 - 90)
        )
    );
    assert_eq!(f.peer.registered_at, Some(T0 - 3600));
    assert!(p.facts(&stranger, T0).is_none(), "not in the register");
    // Its liveness is not taken from history: unheard of, so "not registered".
    assert!(p.observe(&dev(), T0 + 10).is_none());
    registered(&mut p, T0 + 20);
    let f = p.facts(&dev(), T0 + 20).unwrap();
    assert_eq!(
        (f.peer.presence, f.peer.stored_at),
        (camwatch_core::signalling::SipPresence::Online, None)
    );
}
