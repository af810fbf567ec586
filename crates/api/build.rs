//! The console's files (`web/`) are compiled into the binary (rust-embed), which Cargo does not
//! see as inputs: without this, a change to a page or a style would be served only after some
//! Rust change rebuilt the crate.

fn main() {
    for path in [
        "../../web/index.html",
        "../../web/favicon.svg",
        "../../web/js",
        "../../web/css",
        "../../web/vendor",
    ] {
        println!("cargo:rerun-if-changed={path}");
    }
}
