//! `camwatch demo`: a simulated fleet, the monitor watching it, a live view, and the period's
//! report on exit.

pub mod view;
