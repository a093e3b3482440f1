// `tests/catalog.rs` expands `catalog/*.toml` at compile time (rstest
// `#[files]`); rebuild when a scenario file is added or removed.
fn main() {
    println!("cargo:rerun-if-changed=catalog");
}
