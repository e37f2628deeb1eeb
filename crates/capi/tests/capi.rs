//! The C ABI from outside: a C program (tests/c/roundtrip.c) compiled with gcc against the built
//! library and the header, the Python ctypes example, and the header against the library's
//! exports.
//!
//! Which library: the `libultraslayer_capi.so` cargo built for this run beside this test binary
//! (this crate's cdylib, with no napi in it), copied as `libultraslayer.so` so C links it by the
//! name users use (`-lultraslayer`). The shipped Node binary is the C library too: napi is built
//! with its `dyn-symbols` feature (napi symbols are looked up at module init, none is left
//! undefined), and __test__/capi.test.js runs the same C program and the ctypes example against
//! the very `.node` file Node loads.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const LIB_FILE: &str = "libultraslayer.so";
const BUILT_FILE: &str = "libultraslayer_capi.so";

/// This crate (tests/c).
fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The repository (include/, examples/).
fn repo_dir() -> PathBuf {
    manifest_dir().join("../..")
}

/// Scratch space cargo gives integration tests (inside the target dir, so CARGO_TARGET_DIR holds).
fn scratch() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("capi");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn mentions_napi(lib: &Path) -> bool {
    let bytes = std::fs::read(lib).unwrap();
    bytes.windows(5).any(|w| w == b"napi_")
}

/// A directory holding this run's C library as `libultraslayer.so`.
fn c_library_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // This test binary lives in <target>/<profile>/deps; cargo puts the cdylib it built for
        // this run beside it, together with the rlib this binary links. (Not the copy in
        // <target>/<profile>: only `cargo build` refreshes that one, `cargo test` leaves it stale.)
        let exe = std::env::current_exe().unwrap();
        let built = exe.parent().unwrap().join(BUILT_FILE);
        assert!(built.exists(), "{} was not built beside the test binary", built.display());
        assert!(!mentions_napi(&built), "{} references napi", built.display());
        let dir = scratch().join("lib");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&built, dir.join(LIB_FILE)).unwrap();
        dir
    })
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}", out.status);
    stdout
}

fn gcc_available() -> bool {
    Command::new("gcc").arg("--version").output().is_ok_and(|o| o.status.success())
}

#[test]
fn c_program_round_trips_through_the_c_abi() {
    assert!(gcc_available(), "gcc is needed to compile tests/c/roundtrip.c");
    let lib = c_library_dir();
    let exe = scratch().join("roundtrip");
    run(Command::new("gcc")
        .args(["-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-pthread"])
        .arg("-I")
        .arg(repo_dir().join("include"))
        .arg(manifest_dir().join("tests/c/roundtrip.c"))
        .arg("-o")
        .arg(&exe)
        .arg("-L")
        .arg(lib)
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-lultraslayer"));
    // cargo's LD_LIBRARY_PATH lists <target>/<profile>, whose libultraslayer.so may be stale, and
    // it would win over the rpath: run with the rpath alone.
    let stdout = run(Command::new(&exe).env_remove("LD_LIBRARY_PATH"));
    print!("{stdout}");
    assert_eq!(stdout.lines().last(), Some("ok"));
}

#[test]
fn header_compiles_as_cpp_and_strict_c() {
    let header = repo_dir().join("include/ultraslayer.h");
    run(Command::new("gcc").args(["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fsyntax-only", "-x", "c"]).arg(&header));
    if Command::new("g++").arg("--version").output().is_ok_and(|o| o.status.success()) {
        run(Command::new("g++").args(["-std=c++11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-x", "c++"]).arg(&header));
    }
}

/// Every function the header declares is exported, and every exported `us_` symbol is declared.
#[test]
fn header_declares_exactly_the_exported_functions() {
    let header = std::fs::read_to_string(repo_dir().join("include/ultraslayer.h")).unwrap();
    let mut declared: Vec<String> = header
        .lines()
        .filter(|l| !l.trim_start().starts_with('*') && !l.trim_start().starts_with("/*") && l.contains('('))
        .filter_map(|l| {
            let before_paren = &l[..l.find('(')?];
            let name = before_paren.rsplit(|c: char| !(c.is_alphanumeric() || c == '_')).next()?;
            name.starts_with("us_").then(|| name.to_string())
        })
        .collect();
    declared.sort();
    declared.dedup();

    let lib = c_library_dir().join(LIB_FILE);
    let nm = run(Command::new("nm").args(["-D", "--defined-only"]).arg(&lib));
    let mut exported: Vec<String> =
        nm.lines().filter_map(|l| l.split_whitespace().last()).filter(|s| s.starts_with("us_")).map(str::to_string).collect();
    exported.sort();
    exported.dedup();
    assert_eq!(declared, exported);
}

#[test]
fn python_ctypes_example_runs() {
    let lib = c_library_dir().join(LIB_FILE);
    let stdout = run(Command::new("python3")
        .arg(repo_dir().join("examples/ctypes_example.py"))
        .env("ULTRASLAYER_LIB", &lib)
        .env_remove("LD_LIBRARY_PATH"));
    print!("{stdout}");
    assert_eq!(stdout.lines().last(), Some("ok"));
}
