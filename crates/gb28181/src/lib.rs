//! camwatch-gb28181: camwatch as the GB/T 28181 platform that cameras, NVRs and lower platforms
//! register to. Their registrations, keepalives and catalogs tell camwatch which channels exist
//! and whether they are online, where no RTSP or ONVIF reaches them.
//!
//! | module      | job                                                                     |
//! |-------------|-------------------------------------------------------------------------|
//! | `sip`       | SIP framing, parsing (rsipstack) and writing, with size/header limits   |
//! | `digest`    | digest auth (MD5): challenges, stateless nonces, verifying a response   |
//! | `nonce_count` | digest `nc` per device and nonce: a replayed REGISTER refused (pure) |
//! | `manscdp`   | MANSCDP XML bodies: GB2312/GBK/GB18030/UTF-8, guarded, typed            |
//! | `registrar` | registered peers and their liveness: expiry, keepalives, offline (pure) |
//! | `catalog`   | paged Catalog responses assembled into one catalog (pure)               |
//! | `catalog_lease` | a lower platform's catalog sync under its node lease (pure)          |
//! | `outcomes`  | signalling as health-model outcomes; catalog vs register (pure)        |
//! | `subscription` | catalog subscriptions: start, refresh in dialog, retry (pure)        |
//! | `status_poll` | when to ask each peer for DeviceStatus/DeviceInfo, bounded (pure)     |
//! | `transaction` | our requests' client transactions: UDP retransmission, timeouts (pure) |
//! | `facts_flush` | when a peer's facts are written to the store: changes, keepalives per minute (pure) |
//! | `platform`  | the platform's decisions: a message in, replies and events out (pure)   |
//! | `sdp`       | the INVITE's session descriptions: offer, answer, `y=` SSRC (pure)      |
//! | `ps`        | RTP and MPEG-PS: demuxed to the first keyframe, muxed for the sim (pure) |
//! | `tcp_rtp`   | RTP over TCP (RFC 4571): length-framed packets, bounded (pure)           |
//! | `media`     | the picture probe: INVITE, RTP/PS to a keyframe, BYE (I/O)               |
//! | `server`    | the I/O shell: UDP and TCP sockets, per-peer bounds, the tick           |
//!
//! Everything but `server` is pure and takes time as Unix seconds, so the liveness rules are
//! tested on virtual time. The crate sits beside `camwatch-probes` in the layers: it uses only
//! `camwatch-core`, and must not touch the database or decide a device's debounced status (it
//! reports what the peers said; the monitor's health model decides).

pub mod catalog;
pub mod catalog_lease;
pub mod digest;
pub mod facts_flush;
pub mod manscdp;
pub mod media;
pub mod nonce_count;
pub mod outcomes;
pub mod platform;
pub mod ps;
pub mod registrar;
pub mod sdp;
pub mod server;
pub mod sip;
pub mod status_poll;
pub mod subscription;
pub mod tcp_rtp;
pub mod transaction;
