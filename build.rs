fn main() {
    // napi's link setup for the addon (the engine and C ABI crates link as ordinary libraries).
    napi_build::setup();
    // The `.node` file is also the C library users link as `-lultraslayer` (docs/c-abi.md): name
    // it so in its ELF header, or a rustc that sets a cdylib's SONAME from the crate (Debian's
    // 1.96 does) makes programs linked against the copy ask for `libultraslayer_node.so` at run time.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libultraslayer.so");
    }
}
