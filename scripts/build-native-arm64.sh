#!/usr/bin/env bash
# Builds the native addon for aarch64 on an x86_64 host: native/magicpak.linux-arm64-gnu.node
# (`npm run build:native:arm64`; test/run.js runs it for test/native/trace-aarch64.test.ts).
#
# With the toolchain test/fixtures/provision.sh unpacks into its cache (nothing installed): bookworm's
# rustc-web and its aarch64 standard library (a rustc reads only the rlibs of its own version, so
# rustup's rustc cannot use Debian's), and the aarch64 cross gcc as the linker. cargo is the one on
# PATH, told to use that rustc (RUSTC). Incremental: a second run without changes takes a second.
set -Eeuo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${MAGICPAK_CACHE:-${XDG_CACHE_HOME:-${HOME:?HOME is not set: set MAGICPAK_CACHE}/.cache}/magicpak-test}
if [ ! -r "$CACHE/env.sh" ]; then
  echo "build-native-arm64: $CACHE/env.sh is missing: run npm run fixtures (test/fixtures/provision.sh) first" >&2
  exit 1
fi
# shellcheck source=/dev/null
. "$CACHE/env.sh"
: "${MAGICPAK_RUSTC_CROSS:?not in $CACHE/env.sh: re-run npm run fixtures}" "${MAGICPAK_RUST_TARGET:?not in $CACHE/env.sh: re-run npm run fixtures}"
command -v cargo >/dev/null || { echo "build-native-arm64: cargo is not on PATH (install Rust)" >&2; exit 1; }
cd "$here/native"
RUSTC="$MAGICPAK_RUSTC_CROSS" \
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER="$MAGICPAK_TOOLS/aarch64-linux-gnu-gcc" \
  exec "$here/node_modules/.bin/napi" build --platform --release --target "$MAGICPAK_RUST_TARGET" "$@"
