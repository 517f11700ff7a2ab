//! Generates `include/offtrack.h` from the crate's C API with cbindgen.

fn main() {
    link_with_identical_code_folding();
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(format!("{crate_dir}/cbindgen.toml"))
        .expect("cbindgen.toml is valid");
    match cbindgen::generate_with_config(&crate_dir, config) {
        Ok(bindings) => {
            bindings.write_to_file(format!("{crate_dir}/include/offtrack.h"));
        }
        Err(e) => panic!("cbindgen could not generate include/offtrack.h: {e}"),
    }
}

/// Links the shared library with identical-code folding where the linker
/// is lld: generic code that compiles to the same bytes is kept once (about
/// 24 KB of the stripped library). Rust links `x86_64-unknown-linux-gnu`
/// with its own lld by default since 1.90 (our minimum); other native Linux
/// builds use lld when it is installed. Elsewhere nothing changes but the
/// size. Only the cdylib: the static library is linked by the host.
fn link_with_identical_code_folding() {
    println!("cargo:rerun-if-env-changed=PATH");
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    if target != host || !target.contains("-linux-") {
        return;
    }
    if target == "x86_64-unknown-linux-gnu" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,--icf=all");
        return;
    }
    let has_lld = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("ld.lld").is_file()));
    if has_lld {
        println!("cargo:rustc-cdylib-link-arg=-fuse-ld=lld");
        println!("cargo:rustc-cdylib-link-arg=-Wl,--icf=all");
    }
}
