fn main() {
    // Only the Node binding needs napi's link setup; the plain engine (cargo test
    // --no-default-features, examples) links as an ordinary Rust library.
    if std::env::var_os("CARGO_FEATURE_NODE").is_some() {
        napi_build::setup();
    }
}
