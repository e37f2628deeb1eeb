fn main() {
    // napi's link setup for the addon (the engine and C ABI crates link as ordinary libraries).
    napi_build::setup();
}
