fn main() {
    // Built alone, this crate's cdylib is the C library users link as `-lultraslayer`
    // (include/ultraslayer.h): name it so in its ELF header, whatever the file is called
    // (`libultraslayer_capi.so`), so a program linked against a copy asks for `libultraslayer.so`.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libultraslayer.so");
    }
}
