//! The bundled `data/` is compiled into the binary: rebuild when it changes.
fn main() {
    println!("cargo:rerun-if-changed=data");
}
