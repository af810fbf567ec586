//! camwatch-synth: synthetic camera pictures for the simulator and for tests. Scenes (street,
//! entrance, parking…) rendered at any size, picture faults applied to them, and encoders that
//! turn them into what cameras send: JPEG snapshots, H.264 (PCM macroblocks) and H.265 streams.
//!
//! It depends on nothing of camwatch's, so the picture diagnostics' unit tests can use it
//! without pulling in the simulator's network code.

pub mod hevc;
pub mod picture;
