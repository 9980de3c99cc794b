#!/usr/bin/env bash
# Build UPX 4.2.4 as WebAssembly (wasm/upx.wasm + wasm/upx.cjs), the compressor magicpak ships.
#
#   bash wasm/build.sh            build from source and (re)write the artifact in wasm/
#   bash wasm/build.sh --verify   build from source in a fresh directory and check that the
#                                 committed artifact is byte-identical (changes nothing in wasm/)
#
# Nothing is installed into the system. The source (Debian's upx-ucl_4.2.4.orig.tar.xz, the
# unmodified upstream tarball, from trixie) and the toolchain (bookworm's emscripten 3.1.6 and
# whatever of its dependency closure this machine lacks: clang-14, lld-14, binaryen, node-acorn)
# are fetched with a PRIVATE apt configuration and unpacked with dpkg-deb into a cache:
#
#   ${MAGICPAK_WASM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/magicpak-wasm}
#
# Users and CI never run this: the artifact is committed. See wasm/README.md.
set -Eeuo pipefail
umask 022
export LC_ALL=C DEBIAN_FRONTEND=noninteractive TZ=UTC SOURCE_DATE_EPOCH=0

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/private-apt.sh
. "$HERE/../scripts/private-apt.sh"

# ---------------------------------------------------------------------------- pins
UPX_VERSION=4.2.4
UPX_TARBALL=upx-ucl_${UPX_VERSION}.orig.tar.xz
UPX_SHA256=5ed6561607d27fb4ef346fc19f08a93696fa8fa127081e7a7114068306b8e1c4
UPX_SRC_SUITE=trixie            # bookworm has no upx-ucl
TOOLCHAIN_SUITE=bookworm
TOOLCHAIN_PKGS="emscripten"     # 3.1.6~dfsg-5 in bookworm; its closure is added as needed
EMSCRIPTEN_VERSION=3.1.6
# Bump when the recipe changes in a way that must rebuild the cached toolchain.
RECIPE_VERSION=1

# Compile and link settings (see wasm/README.md for why each is there).
CFLAGS_COMMON="-O2 -DNDEBUG -fexceptions"
LDFLAGS_EM="-O2 -fexceptions -sDISABLE_EXCEPTION_CATCHING=0 \
 -sENVIRONMENT=node -sNODERAWFS=1 \
 -sMODULARIZE=1 -sEXPORT_NAME=createUpx -sINVOKE_RUN=0 -sEXIT_RUNTIME=1 \
 -sEXPORTED_RUNTIME_METHODS=callMain \
 -sNODEJS_CATCH_EXIT=0 -sNODEJS_CATCH_REJECTION=0 \
 -sWASM_ASYNC_COMPILATION=0 \
 -sALLOW_MEMORY_GROWTH=1 -sINITIAL_MEMORY=64MB -sTOTAL_STACK=8MB"

MODE=build
case "${1:-}" in
  "") ;;
  --verify) MODE=verify ;;
  -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--verify]" >&2; exit 2 ;;
esac

CACHE=${MAGICPAK_WASM_CACHE:-${XDG_CACHE_HOME:-${HOME:?HOME is not set: set MAGICPAK_WASM_CACHE}/.cache}/magicpak-wasm}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
SYS_STATUS=/var/lib/dpkg/status
PY=/usr/bin/python3   # emscripten's tools run with the system python, not a pyenv shim
NODE=$(command -v node || true)

STEP=startup
log() { printf '[wasm] %s\n' "$*" >&2; }
die() { printf '[wasm] ERROR (step: %s): %s\n' "$STEP" "$*" >&2; exit 1; }
trap 'rc=$?; printf "[wasm] ERROR (step: %s): command failed (exit %s) at line %s: %s\n" "$STEP" "$rc" "$LINENO" "$BASH_COMMAND" >&2; exit $rc' ERR

run_logged() { # run_logged NAME CMD... : output to a log; on failure show its tail and die
  local name=$1; shift
  local lf="$CACHE/logs/$name.log"
  if ! "$@" >"$lf" 2>&1 </dev/null; then
    tail -n 40 "$lf" >&2 || true
    die "'$*' failed (full log: $lf)"
  fi
}

# ---------------------------------------------------------------------------- preflight
STEP=preflight
case "$CACHE" in /*) ;; *) die "cache path must be absolute: $CACHE" ;; esac
for c in apt-get dpkg-deb tar xz sha256sum cmake make cmp "$PY" /usr/lib/apt/apt-helper; do
  command -v "$c" >/dev/null 2>&1 || die "required command not found: $c"
done
[ -n "$NODE" ] || die "node not found on PATH"
[ -r "$KEYRING" ] || die "Debian archive keyring not found: $KEYRING"
[ "$(dpkg --print-architecture)" = amd64 ] || die "the recipe is written for an amd64 build host"
mkdir -p "$CACHE"/{logs,src,stamps}
exec 9>"$CACHE/.lock"
flock -w 1800 9 || die "could not lock $CACHE/.lock (another build running?)"

# ---------------------------------------------------------------------------- private apt
# Binary packages from bookworm (the toolchain); source packages from trixie (only deb-src,
# so trixie never replaces a bookworm binary). Own state, cache, lists and status file.
STEP=apt
A="$CACHE/apt"
mkdir -p "$A"/etc/{sources.list.d,apt.conf.d,preferences.d,trusted.gpg.d} "$A"/lists/partial \
         "$A"/archives/partial "$A"/cache "$A"/state "$A"/log
[ -f "$A/state/status" ] || : >"$A/state/status"
cat >"$A/etc/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: $TOOLCHAIN_SUITE $TOOLCHAIN_SUITE-updates
Components: main
Signed-By: $KEYRING

Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $UPX_SRC_SUITE
Components: main
Signed-By: $KEYRING
EOF
private_apt_conf "$A" amd64 wasm/build.sh >"$A/apt.conf"
apt_() { APT_CONFIG="$A/apt.conf" apt-get -q -y "$@"; }
UPDATED=
apt_update() {
  [ -n "$UPDATED" ] && return 0
  log "apt-get update (private)"
  run_logged apt-update apt_ update
  UPDATED=1
}

# ---------------------------------------------------------------------------- source
STEP=source
TARBALL="$CACHE/src/$UPX_TARBALL"
check_tarball() { [ -s "$TARBALL" ] && [ "$(sha256sum "$TARBALL" | cut -d' ' -f1)" = "$UPX_SHA256" ]; }
if ! check_tarball; then
  rm -f "$TARBALL"
  apt_update
  uri=$(APT_CONFIG="$A/apt.conf" apt-get -q source --print-uris "upx-ucl" 2>/dev/null </dev/null \
        | awk -v f="$UPX_TARBALL" '$2 == f { gsub("'"'"'", "", $1); print $1 }' | head -n1)
  [ -n "$uri" ] || die "apt knows no $UPX_TARBALL in $UPX_SRC_SUITE (deb-src); has upx-ucl moved on from $UPX_VERSION?"
  log "downloading $uri"
  # apt-helper checks the pinned hash while it downloads; only the orig tarball is needed
  # (the .dsc and .debian.tar.xz of this version may be missing on the mirror).
  run_logged download-source /usr/lib/apt/apt-helper -c "$A/apt.conf" download-file "$uri" "$TARBALL" "SHA256:$UPX_SHA256"
  check_tarball || die "$TARBALL does not have the pinned sha256 $UPX_SHA256"
fi
log "source: $UPX_TARBALL sha256 $UPX_SHA256 (checked)"

# ---------------------------------------------------------------------------- toolchain
# bookworm's emscripten plus whatever of its dependency closure this machine lacks (closure
# computed against the real dpkg status, read only), unpacked into $CACHE/toolchain.
STEP=toolchain
TC="$CACHE/toolchain"
TC_KEY="v=$RECIPE_VERSION suite=$TOOLCHAIN_SUITE pkgs=$TOOLCHAIN_PKGS"
if [ ! -f "$CACHE/stamps/toolchain" ] || [ "$(cat "$CACHE/stamps/toolchain")" != "$TC_KEY" ] || [ ! -d "$TC" ]; then
  apt_update
  # shellcheck disable=SC2086
  out=$(apt_ -o "Dir::State::status=$SYS_STATUS" -s install --no-install-recommends $TOOLCHAIN_PKGS 2>&1 </dev/null) \
    || { printf '%s\n' "$out" | tail -n 20 >&2; die "apt could not resolve $TOOLCHAIN_PKGS"; }
  names=$(printf '%s\n' "$out" | awk '$1 == "Inst" { print $2 }' | sed 's/:.*//' | sort -u | tr '\n' ' ')
  # shellcheck disable=SC2086
  names=$(printf '%s\n' $TOOLCHAIN_PKGS $names | sort -u | tr '\n' ' ')
  log "downloading the toolchain: $names"
  # shellcheck disable=SC2086
  (cd "$A/archives" && apt_ download $names) >"$CACHE/logs/download-toolchain.log" 2>&1 </dev/null \
    || { tail -n 20 "$CACHE/logs/download-toolchain.log" >&2; die "downloading the toolchain failed"; }
  rm -rf "$TC.tmp"; mkdir -p "$TC.tmp"
  for n in $names; do
    deb=$(ls "$A/archives/${n}_"*.deb 2>/dev/null | sort | tail -n1)
    [ -n "$deb" ] || die "no .deb for $n in $A/archives"
    dpkg-deb -x "$deb" "$TC.tmp" || die "unpacking $deb"
  done
  [ -f "$TC.tmp/usr/share/emscripten/emcc.py" ] || die "emscripten missing after unpacking"
  rm -rf "$TC"; mv "$TC.tmp" "$TC"
  printf '%s' "$TC_KEY" >"$CACHE/stamps/toolchain"
fi
[ "$(cat "$TC/usr/share/emscripten/emscripten-version.txt" | tr -d '"\n')" = "$EMSCRIPTEN_VERSION" ] \
  || die "expected emscripten $EMSCRIPTEN_VERSION in $TC"

# The unpacked LLVM tools: clang/lld from the cache, the rest (llvm-ar, llvm-nm, ...) from the
# cache if it has them, else from this machine's llvm-14 (part of the closure above).
EMROOT="$TC/usr/share/emscripten"
LLVM_BIN="$CACHE/llvm-bin"
rm -rf "$LLVM_BIN"; mkdir -p "$LLVM_BIN"
for d in /usr/lib/llvm-14/bin "$TC/usr/lib/llvm-14/bin"; do
  [ -d "$d" ] || continue
  for f in "$d"/*; do ln -sfn "$f" "$LLVM_BIN/${f##*/}"; done
done
for t in clang clang++ wasm-ld llvm-ar llvm-nm llvm-ranlib llvm-objcopy; do
  [ -x "$LLVM_BIN/$t" ] || die "$t not found (expected in $TC/usr/lib/llvm-14/bin or /usr/lib/llvm-14/bin)"
done
EM_BIN="$CACHE/em-bin"
rm -rf "$EM_BIN"; mkdir -p "$EM_BIN"
for t in emcc em++ emar emranlib em-config emcmake emmake; do
  printf '#!/bin/sh\nexec %s %s/%s.py "$@"\n' "$PY" "$EMROOT" "$t" >"$EM_BIN/$t"
  chmod 755 "$EM_BIN/$t"
done
# binaryen's tools are called by name (Debian's emscripten): the unpacked ones, first on PATH.
for f in "$TC"/usr/bin/wasm-*; do ln -sfn "$f" "$EM_BIN/${f##*/}"; done
[ -x "$EM_BIN/wasm-emscripten-finalize" ] && [ -x "$EM_BIN/wasm-opt" ] || die "binaryen's tools missing from $TC/usr/bin"
cat >"$CACHE/emscripten.config" <<EOF
# generated by wasm/build.sh
LLVM_ROOT = '$LLVM_BIN'
BINARYEN_ROOT = '$TC/usr'
NODE_JS = '$NODE'
CACHE = '$EMROOT/cache'
FROZEN_CACHE = True
EOF
export EM_CONFIG="$CACHE/emscripten.config" EMSDK_PYTHON="$PY" EM_PYTHON_MULTIPROCESSING=0
export NODE_PATH="$TC/usr/share/nodejs"
export LD_LIBRARY_PATH="$TC/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PATH="$EM_BIN:$PATH"
out=$(emcc --version 2>&1) || { printf '%s\n' "$out" >&2; die "emcc does not run"; }
case "$out" in *"$EMSCRIPTEN_VERSION"*) ;; *) printf '%s\n' "$out" >&2; die "emcc is not $EMSCRIPTEN_VERSION" ;; esac
# A toolchain that cannot link makes CMake's configure checks fail silently (and the build fail
# much later with confusing errors): link a program first.
SMOKE=$(mktemp -d "$CACHE/smoke.XXXXXX")
printf '#include <stdio.h>\n#include <unistd.h>\nint main(void){ printf("ok %%d\\n", (int)lseek(0, 0, SEEK_CUR) < 0); return 0; }\n' >"$SMOKE/t.c"
run_logged smoke emcc -O2 -sENVIRONMENT=node -sWASM_ASYNC_COMPILATION=0 -o "$SMOKE/t.js" "$SMOKE/t.c"
out=$("$NODE" "$SMOKE/t.js" </dev/null 2>&1) || { printf '%s\n' "$out" >&2; die "a program linked by emcc does not run"; }
rm -rf -- "$SMOKE"
log "toolchain: emscripten $EMSCRIPTEN_VERSION ($(clang_v=$("$LLVM_BIN/clang" --version | head -n1); echo "$clang_v"))"

# ---------------------------------------------------------------------------- build
STEP=build
WORK=$(mktemp -d "$CACHE/work.XXXXXX")
# Kept after a failure for inspection (the next run starts a fresh one).
trap '[ "$STEP" = done ] && rm -rf -- "$WORK"' EXIT
SRC="$WORK/upx-$UPX_VERSION-src"
BUILD="$WORK/build"
tar -xJf "$TARBALL" -C "$WORK"
[ -f "$SRC/CMakeLists.txt" ] || die "unexpected tarball layout (no upx-$UPX_VERSION-src/CMakeLists.txt)"
# Paths of this build never reach the artifact: the source and build directories are mapped.
MAP="-ffile-prefix-map=$SRC=upx-$UPX_VERSION-src -ffile-prefix-map=$BUILD=build"
log "configuring (cmake)"
run_logged cmake-configure emcmake cmake -S "$SRC" -B "$BUILD" -G "Unix Makefiles" \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_FLAGS_RELEASE="$CFLAGS_COMMON $MAP" -DCMAKE_CXX_FLAGS_RELEASE="$CFLAGS_COMMON $MAP" \
  -DCMAKE_EXE_LINKER_FLAGS="$LDFLAGS_EM --pre-js $HERE/pre.js" \
  -DCMAKE_CROSSCOMPILING_EMULATOR="$NODE" \
  -DUPX_CONFIG_DISABLE_GITREV=ON -DUPX_CONFIG_DISABLE_SANITIZE=ON -DUPX_CONFIG_DISABLE_WERROR=ON \
  -DUPX_CONFIG_DISABLE_SELF_PACK_TEST=ON -DUPX_CONFIG_CMAKE_DISABLE_TEST=ON -DUPX_CONFIG_CMAKE_DISABLE_INSTALL=ON
log "compiling (about 2 minutes on 2 cores)"
run_logged cmake-build cmake --build "$BUILD" --target upx -j "$(nproc)"
[ -s "$BUILD/upx.wasm" ] && [ -s "$BUILD/upx.js" ] || die "the build produced no upx.js/upx.wasm"

OUT="$WORK/out"
mkdir -p "$OUT"
install -m 0644 "$BUILD/upx.wasm" "$OUT/upx.wasm"
# The glue is CommonJS (MODULARIZE); .cjs so that Node loads it as such inside this ESM package.
install -m 0644 "$BUILD/upx.js" "$OUT/upx.cjs"
mkdir -p "$OUT/upx-license"
install -m 0644 "$SRC/LICENSE" "$SRC/COPYING" "$OUT/upx-license/"
ARTIFACT="upx.wasm upx.cjs upx-license/LICENSE upx-license/COPYING"
(cd "$OUT" && sha256sum $ARTIFACT) >"$OUT/SHA256SUMS"

# ---------------------------------------------------------------------------- install / verify
STEP=$MODE
if [ "$MODE" = verify ]; then
  bad=0
  for f in $ARTIFACT SHA256SUMS; do
    if [ ! -f "$HERE/$f" ]; then log "MISSING  wasm/$f"; bad=1
    elif cmp -s "$OUT/$f" "$HERE/$f"; then log "same     wasm/$f"
    else log "DIFFERS  wasm/$f (rebuilt: $(sha256sum "$OUT/$f" | cut -c1-16), committed: $(sha256sum "$HERE/$f" | cut -c1-16))"; bad=1
    fi
  done
  [ "$bad" = 0 ] || die "the committed artifact does not match a build from source"
  log "OK: the committed artifact is byte-identical to a build from $UPX_TARBALL (sha256 $UPX_SHA256)"
else
  mkdir -p "$HERE/upx-license"
  for f in $ARTIFACT SHA256SUMS; do install -m 0644 "$OUT/$f" "$HERE/$f"; done
  log "wrote wasm/: $(cd "$HERE" && ls -l upx.wasm upx.cjs | awk '{ printf "%s %s bytes; ", $NF, $5 }')"
  cat "$HERE/SHA256SUMS" >&2
fi
STEP=done
