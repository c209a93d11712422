//! Link flags for the freestanding kernel binary only (`-bins`), so the host-testable
//! crates of the workspace still link as normal host programs under `cargo test`.
//! Each flag was checked by removing it (see `shared/reference/boot-recipe.md`).
fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let script = std::path::Path::new(&manifest).join("../boot/linker.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    // No crt1/crti: the entry is boot's `_start32`.
    println!("cargo:rustc-link-arg-bins=-nostartfiles");
    // Without -static the image gets a PT_INTERP; with it the linker driver drops `-pie`.
    println!("cargo:rustc-link-arg-bins=-static");
    // The 32-bit boot code uses absolute relocations against its own symbols.
    println!("cargo:rustc-link-arg-bins=-no-pie");
    println!("cargo:rustc-link-arg-bins=-Wl,--build-id=none");
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
}
