#!/usr/bin/env bash
# Builds the crafted loader-conformance cases (test/conformance/crafted.test.ts) into OUT, one small
# tree of executables and shared libraries per loader rule, made from src/*.c with linker flags only:
#
#   OUT/host/<case>/    analysed in the host's own root "/" (every path in them is absolute)
#   OUT/roots/<case>/   small root filesystems, for cases that need their own loader, cache,
#                       ld.so.conf, musl or aarch64; their paths (RPATH, ...) are inside the root
#
# Usage: build.sh OUT. Idempotent (each case is rebuilt from scratch), silent on success.
# Needs gcc (x86-64, able to emit i386 objects with -m32 -nostdlib), ldconfig, and the tools of
# test/fixtures/provision.sh (`npm run fixtures`): musl-gcc, aarch64-linux-gnu-gcc, the arm64 root.
set -euo pipefail

die() { printf 'test/crafted/build.sh: %s\n' "$*" >&2; exit 1; }
[ $# -eq 1 ] && [ -n "$1" ] || die "usage: build.sh OUT_DIR"
mkdir -p "$1"
OUT=$(cd "$1" && pwd -P)
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/src" && pwd -P)

CACHE=${MAGICPAK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/magicpak-test}
if [ -z "${MAGICPAK_TOOLS:-}" ] && [ -f "$CACHE/env.sh" ]; then
  # shellcheck disable=SC1091
  . "$CACHE/env.sh"
fi
for tool in gcc ldconfig musl-gcc aarch64-linux-gnu-gcc; do
  command -v "$tool" >/dev/null 2>&1 || die "missing tool: $tool (run npm run fixtures)"
done
[ -f "${MAGICPAK_MUSL_LOADER:-}" ] || die "missing tool: the musl loader \$MAGICPAK_MUSL_LOADER (run npm run fixtures)"
ARM64=${MAGICPAK_ARM64_ROOT:-}
[ -f "$ARM64/.qemu/qemu-aarch64-static" ] || die "missing tool: qemu-aarch64-static in \$MAGICPAK_ARM64_ROOT (run npm run fixtures)"

TRIPLET=$(gcc -dumpmachine)
[ "$TRIPLET" = x86_64-linux-gnu ] || die "the host compiler targets $TRIPLET; these cases are written for x86_64-linux-gnu"

# Runs a command, showing its output only if it fails. The linker warns about dependencies it
# cannot see, which is expected; an option it ignores is not.
quiet() {
  local log
  if ! log=$("$@" 2>&1) || [[ $log == *" ignored"* ]]; then
    printf '%s\n' "$log" >&2
    die "failed: $*"
  fi
}

# so CC FILE SONAME [LINKER ARGS...]: a shared library; dependencies are given as files, so that
# DT_NEEDED is their SONAME.
so() {
  local cc=$1 file=$2 soname=$3
  shift 3
  mkdir -p "$(dirname "$file")"
  quiet "$cc" -shared -fPIC -o "$file" "$SRC/lib.c" -Wl,-soname,"$soname" -Wl,--no-as-needed "$@"
}

# exe CC FILE [LINKER ARGS...]: an executable.
exe() {
  local cc=$1 file=$2
  shift 2
  mkdir -p "$(dirname "$file")"
  quiet "$cc" -o "$file" "$SRC/main.c" -Wl,--no-as-needed "$@"
}

rpath() { printf -- '-Wl,--disable-new-dtags,-rpath,%s' "$1"; }
runpath() { printf -- '-Wl,--enable-new-dtags,-rpath,%s' "$1"; }

fresh() {
  rm -rf "$1"
  mkdir -p "$1"
}

# A glibc root holding only this machine's loader and libc, laid out like Debian's merged /usr.
glibc_root() {
  local root=$1
  fresh "$root"
  mkdir -p "$root/usr/lib/$TRIPLET" "$root/usr/lib64" "$root/etc"
  ln -s usr/lib "$root/lib"
  ln -s usr/lib64 "$root/lib64"
  cp "$(readlink -f /lib64/ld-linux-x86-64.so.2)" "$root/usr/lib/$TRIPLET/ld-linux-x86-64.so.2"
  ln -s "/lib/$TRIPLET/ld-linux-x86-64.so.2" "$root/usr/lib64/ld-linux-x86-64.so.2"
  cp "$(readlink -f "$(gcc -print-file-name=libc.so.6)")" "$root/usr/lib/$TRIPLET/libc.so.6"
}

# An aarch64 root: the arm64 fixture root's loader and libc, and qemu to run them (the fixture root
# itself is shared and never modified).
arm64_root() {
  local root=$1 interp
  fresh "$root"
  interp=$(readlink "$ARM64/lib/ld-linux-aarch64.so.1") || die "$ARM64/lib/ld-linux-aarch64.so.1 is not a symlink"
  case $interp in /*) die "unexpected absolute link $ARM64/lib/ld-linux-aarch64.so.1 -> $interp" ;; esac
  mkdir -p "$root/usr/lib/aarch64-linux-gnu" "$root/usr/lib/$(dirname "$interp")" "$root/.qemu"
  ln -s usr/lib "$root/lib"
  cp "$(readlink -f "$ARM64/lib/ld-linux-aarch64.so.1")" "$root/usr/lib/$interp"
  ln -s "$interp" "$root/usr/lib/ld-linux-aarch64.so.1"
  cp "$(readlink -f "$ARM64/usr/lib/aarch64-linux-gnu/libc.so.6")" "$root/usr/lib/aarch64-linux-gnu/libc.so.6"
  cp "$ARM64/.qemu/qemu-aarch64-static" "$root/.qemu/qemu-aarch64-static"
}

# 1. RPATH is inherited: bin/exe (RPATH a//:$ORIGIN/../b) -> a/libx.so (RPATH c) -> liby.so, only
#    in the exe's b (its $ORIGIN is the exe's) -> libw.so, only in c, the RPATH of liby's loader's loader.
case_rpath_chain() {
  local cc=$1 fs=$2 guest=$3
  so "$cc" "$fs/c/libw.so" libw.so
  so "$cc" "$fs/b/liby.so" liby.so "$fs/c/libw.so"
  so "$cc" "$fs/a/libx.so" libx.so "$fs/b/liby.so" "$(rpath "$guest/c")"
  exe "$cc" "$fs/bin/exe" "$fs/a/libx.so" "$(rpath "$guest/a//:\$ORIGIN/../b")"
}

# 2. RUNPATH is not inherited: bin/exe (RUNPATH a:b) -> a/libx.so -> liby.so, only in b: not found.
case_runpath_not_inherited() {
  local fs=$1
  so gcc "$fs/b/liby.so" liby.so
  so gcc "$fs/a/libx.so" libx.so "$fs/b/liby.so"
  exe gcc "$fs/bin/exe" "$fs/a/libx.so" "$(runpath "$fs/a:$fs/b")"
}

# 3. A RUNPATH turns off the RPATH chain for that object's own dependencies only:
#    bin/exe (RPATH a:b) -> a/libx.so (RUNPATH d) -> liby.so (only in b): not found;
#    libx.so -> d/libw.so (no paths) -> libv.so (only in b): found through the chain libw, libx, exe;
#    libw.so -> liby.so: the "not found" entry already answers to that name.
case_runpath_disables_chain() {
  local fs=$1
  so gcc "$fs/b/liby.so" liby.so
  so gcc "$fs/b/libv.so" libv.so
  so gcc "$fs/d/libw.so" libw.so "$fs/b/liby.so" "$fs/b/libv.so"
  so gcc "$fs/a/libx.so" libx.so "$fs/b/liby.so" "$fs/d/libw.so" "$(runpath "$fs/d")"
  exe gcc "$fs/bin/exe" "$fs/a/libx.so" "$(rpath "$fs/a:$fs/b")"
}

# 4a. $ORIGIN of a library is the directory it was found in, symlinks unresolved:
#     bin/exe (RUNPATH linkdir:lib) -> linkdir/libsd.so, linkdir -> store/real, whose RPATH
#     $ORIGIN/../deps reaches store/deps/libsdep.so (printed as linkdir/../deps; deps/ is a decoy);
#     -> lib/libfs.so, a symlink to ../store/libfs.so, whose RPATH $ORIGIN reaches lib/libfsdep.so
#     (there is none in store/).
case_origin_symlinked_dir() {
  local cc=$1 fs=$2 guest=$3
  so "$cc" "$fs/store/deps/libsdep.so" libsdep.so
  so "$cc" "$fs/deps/libsdep.so" libsdep.so
  so "$cc" "$fs/store/real/libsd.so" libsd.so "$fs/store/deps/libsdep.so" "$(rpath '$ORIGIN/../deps')"
  ln -s store/real "$fs/linkdir"
  so "$cc" "$fs/lib/libfsdep.so" libfsdep.so
  so "$cc" "$fs/store/libfs.so" libfs.so "$fs/lib/libfsdep.so" "$(rpath '$ORIGIN')"
  ln -s ../store/libfs.so "$fs/lib/libfs.so"
  exe "$cc" "$fs/bin/exe" "$fs/store/real/libsd.so" "$fs/store/libfs.so" "$(runpath "$guest/linkdir:$guest/lib")"
}

# 4b. $ORIGIN of the main program: bin/exe is a symlink to real/bin/exe (RUNPATH $ORIGIN/../lib).
#     Started for real, the origin is the real directory (real/lib/liborg.so); listed with
#     `ld.so --list bin/exe`, it is the directory as given (lib/liborg.so).
case_origin_symlinked_exe() {
  local cc=$1 fs=$2
  so "$cc" "$fs/real/lib/liborg.so" liborg.so
  so "$cc" "$fs/lib/liborg.so" liborg.so
  exe "$cc" "$fs/real/bin/exe" "$fs/real/lib/liborg.so" "$(runpath '$ORIGIN/../lib')"
  mkdir -p "$fs/bin"
  ln -s ../real/bin/exe "$fs/bin/exe"
}

# 5. Breadth-first loading and SONAME reuse: bin/exe -> libB.so, libA.so, libalias.so; lib/libA.so
#    has SONAME libcommon.so.1; libB.so -> libcommon.so.1, which is no file anywhere: libA.so answers
#    to it. lib/libalias.so is a symlink to libA.so: the same file, loaded once.
#    (Linked against stand-ins, removed afterwards.)
case_soname_reuse() {
  local fs=$1
  so gcc "$fs/link/libA.so" libA.so
  so gcc "$fs/link/libalias.so" libalias.so
  so gcc "$fs/link/libcommon.so.1" libcommon.so.1
  so gcc "$fs/lib/libA.so" libcommon.so.1
  ln -s libA.so "$fs/lib/libalias.so"
  so gcc "$fs/lib/libB.so" libB.so "$fs/link/libcommon.so.1"
  exe gcc "$fs/bin/exe" "$fs/lib/libB.so" "$fs/link/libA.so" "$fs/link/libalias.so" "$(rpath "$fs/lib")"
  rm -r "$fs/link"
}

# 6. DT_NEEDED names containing '/' are opened as given, relative ones against the cwd (work/):
#    sub/libslash.so (RPATH $ORIGIN/more: its origin is cwd + "/sub"), ./dot/libdot.so (RPATH
#    $ORIGIN: origin cwd + "/./dot"), an absolute path, $ORIGIN/libdst.so (tokens expanded) and
#    missing/libnone.so (no such file). The exe's RPATH "relrpath:" is relative to the cwd too, and
#    its empty element is the cwd itself (work/libcwdr.so).
case_slash_names() {
  local fs=$1
  so gcc "$fs/work/relrpath/librr.so" librr.so
  so gcc "$fs/work/libcwdr.so" libcwdr.so
  so gcc "$fs/link/libnone.so" missing/libnone.so
  so gcc "$fs/work/sub/more/libmore.so" libmore.so
  so gcc "$fs/work/sub/libslash.so" sub/libslash.so "$fs/work/sub/more/libmore.so" "$(rpath '$ORIGIN/more')"
  so gcc "$fs/work/dot/libdotdep.so" libdotdep.so
  so gcc "$fs/work/dot/libdot.so" ./dot/libdot.so "$fs/work/dot/libdotdep.so" "$(rpath '$ORIGIN')"
  so gcc "$fs/abs/libabs.so" "$fs/abs/libabs.so"
  so gcc "$fs/bin/libdst.so" '$ORIGIN/libdst.so'
  exe gcc "$fs/bin/exe" "$fs/work/sub/libslash.so" "$fs/work/dot/libdot.so" "$fs/abs/libabs.so" "$fs/bin/libdst.so" \
    "$fs/link/libnone.so" "$fs/work/relrpath/librr.so" "$fs/work/libcwdr.so" "$(rpath relrpath:)"
  rm -r "$fs/link"
}

# 7. DF_1_NODEFLIB: no system directory for that object's dependencies, neither directly nor
#    through ld.so.cache; a cached non-system directory (/opt/nd) still counts.
#    /case/exe (RPATH /case/lib) -> libnd.so (-z nodefaultlib) -> libsys.so.1 (system dir): not found,
#    libopt.so.1 (/opt/nd, cached): found. /case/exe-nodeflib -> libc.so.6: not found.
case_nodeflib() {
  local root=$1
  glibc_root "$root"
  echo /opt/nd >"$root/etc/ld.so.conf"
  so gcc "$root/usr/lib/$TRIPLET/libsys.so.1" libsys.so.1
  so gcc "$root/opt/nd/libopt.so.1" libopt.so.1
  so gcc "$root/case/lib/libnd.so" libnd.so "$root/usr/lib/$TRIPLET/libsys.so.1" "$root/opt/nd/libopt.so.1" -Wl,-z,nodefaultlib
  exe gcc "$root/case/exe" "$root/case/lib/libnd.so" "$(rpath /case/lib)"
  exe gcc "$root/case/exe-nodeflib" "$root/opt/nd/libopt.so.1" -Wl,-z,nodefaultlib "$(rpath /case/lib)"
  quiet ldconfig -r "$root"
}

# 8. glibc-hwcaps and (glibc <= 2.36) legacy hwcap subdirectories of a search directory:
#    libhw.so.1 in lib/, lib/glibc-hwcaps/x86-64-v2 and -v3; libhw4.so.1 in lib/ and
#    lib/glibc-hwcaps/x86-64-v4; libleg.so.1 in lib/, lib/tls and lib/x86_64.
case_hwcaps() {
  local fs=$1 v
  for v in "" glibc-hwcaps/x86-64-v2/ glibc-hwcaps/x86-64-v3/; do so gcc "$fs/lib/${v}libhw.so.1" libhw.so.1; done
  for v in "" glibc-hwcaps/x86-64-v4/; do so gcc "$fs/lib/${v}libhw4.so.1" libhw4.so.1; done
  for v in "" tls/ x86_64/; do so gcc "$fs/lib/${v}libleg.so.1" libleg.so.1; done
  exe gcc "$fs/bin/exe" "$fs/lib/libhw.so.1" "$fs/lib/libhw4.so.1" "$fs/lib/libleg.so.1" "$(runpath "$fs/lib")"
}

# 9. Wrong ELF class or machine earlier on the path is skipped: bin/exe (RUNPATH class32:arm64:good)
#    -> libwc.so, an i386 object in class32/, an aarch64 one in arm64/, the right one in good/.
case_wrong_class() {
  local fs=$1
  mkdir -p "$fs/class32" "$fs/arm64"
  quiet gcc -m32 -shared -nostdlib -fPIC -o "$fs/class32/libwc.so" "$SRC/tiny.c" -Wl,-soname,libwc.so
  quiet aarch64-linux-gnu-gcc -shared -nostdlib -fPIC -o "$fs/arm64/libwc.so" "$SRC/tiny.c" -Wl,-soname,libwc.so
  so gcc "$fs/good/libwc.so" libwc.so
  exe gcc "$fs/bin/exe" "$fs/good/libwc.so" "$(runpath "$fs/class32:$fs/arm64:$fs/good")"
}

# 10. ld.so.cache: stale entries fall through to the system directories, and a directory named only
#     in ld.so.conf is reachable only through the cache. Root "cache": /opt/stale/libstale.so.1 was
#     cached, then moved to the system directory; /opt/conf holds libconf.so.1 and libhwc.so.1 (also
#     in glibc-hwcaps/x86-64-v2, which the cache records). Root "nocache": the same without the cache.
case_cache() {
  local root=$1 nocache=$2
  glibc_root "$root"
  printf '/opt/stale\n/opt/conf\n' >"$root/etc/ld.so.conf"
  so gcc "$root/opt/stale/libstale.so.1" libstale.so.1
  so gcc "$root/opt/conf/libconf.so.1" libconf.so.1
  so gcc "$root/opt/conf/libhwc.so.1" libhwc.so.1
  so gcc "$root/opt/conf/glibc-hwcaps/x86-64-v2/libhwc.so.1" libhwc.so.1
  exe gcc "$root/case/exe" "$root/opt/stale/libstale.so.1" "$root/opt/conf/libconf.so.1" "$root/opt/conf/libhwc.so.1"
  quiet ldconfig -r "$root"
  mv "$root/opt/stale/libstale.so.1" "$root/usr/lib/$TRIPLET/libstale.so.1"
  rm -rf "$nocache"
  cp -a "$root" "$nocache"
  rm "$nocache/etc/ld.so.cache"
}

# 11. LD_LIBRARY_PATH: ':' and ';' separate, an empty element is the cwd (cwd/), a relative one is
#     relative to the cwd. bin/exe -> libthere.so (y/), libsemi.so (z/ and cwd/), libhere.so (cwd/),
#     librel.so (cwd/rel/). The test runs it with two values.
case_ld_library_path() {
  local fs=$1
  so gcc "$fs/y/libthere.so" libthere.so
  so gcc "$fs/z/libsemi.so" libsemi.so
  so gcc "$fs/cwd/libsemi.so" libsemi.so
  so gcc "$fs/cwd/libhere.so" libhere.so
  so gcc "$fs/cwd/rel/librel.so" librel.so
  exe gcc "$fs/bin/exe" "$fs/y/libthere.so" "$fs/z/libsemi.so" "$fs/cwd/libhere.so" "$fs/cwd/rel/librel.so"
}

# 12. musl: libc names served by the loader, RPATH and RUNPATH both inherited, $ORIGIN, the path
#     file, DT_SONAME ignored. /case/bin/exe-rpath (RPATH /case/a:/case/b) and exe-runpath
#     (RUNPATH, same) -> libma.so, libms.so (SONAME libsoname.so.1), libc.so; libma.so (RPATH
#     $ORIGIN/../c) -> libmb.so (/case/b), libmc.so (/case/c), libmp.so (/opt/mp, from
#     /etc/ld-musl-x86_64.path), libsoname.so.1 (no such file: musl does not match SONAMEs).
#     /case/bin/exe-origin, a symlink to ../real/bin/exe-origin (RPATH $ORIGIN/../lib) -> libmo.so, in
#     /case/real/lib and /case/lib: ldd mode takes the origin from the path as given.
case_musl() {
  local root=$1
  fresh "$root"
  mkdir -p "$root/lib" "$root/etc"
  cp "$MAGICPAK_MUSL_LOADER" "$root/lib/ld-musl-x86_64.so.1"
  echo /opt/mp >"$root/etc/ld-musl-x86_64.path"
  so musl-gcc "$root/case/b/libmb.so" libmb.so
  so musl-gcc "$root/case/c/libmc.so" libmc.so
  so musl-gcc "$root/opt/mp/libmp.so" libmp.so
  so musl-gcc "$root/link/libsoname.so.1" libsoname.so.1
  so musl-gcc "$root/case/a/libms.so" libsoname.so.1
  so musl-gcc "$root/case/a/libma.so" libma.so "$root/case/b/libmb.so" "$root/case/c/libmc.so" "$root/opt/mp/libmp.so" \
    "$root/link/libsoname.so.1" "$(rpath '$ORIGIN/../c')"
  rm -r "$root/link"
  so musl-gcc "$root/link/libms.so" libms.so
  exe musl-gcc "$root/case/bin/exe-rpath" "$root/case/a/libma.so" "$root/link/libms.so" "$(rpath /case/a:/case/b)"
  exe musl-gcc "$root/case/bin/exe-runpath" "$root/case/a/libma.so" "$root/link/libms.so" "$(runpath /case/a:/case/b)"
  rm -r "$root/link"
  so musl-gcc "$root/case/real/lib/libmo.so" libmo.so
  so musl-gcc "$root/case/lib/libmo.so" libmo.so
  exe musl-gcc "$root/case/real/bin/exe-origin" "$root/case/lib/libmo.so" "$(rpath '$ORIGIN/../lib')"
  ln -s ../real/bin/exe-origin "$root/case/bin/exe-origin"
  mkdir -p "$root/case/loop" "$root/case/bad"
  ln -s libmb.so "$root/case/loop/libmb.so"
  echo 'not an ELF file' >"$root/case/bad/libmb.so"
}

# 14. An open error other than ENOENT/EACCES (here ELOOP, a symlink to itself). glibc: in a hwcaps
#     subdirectory it is passed over (a/libx.so is found); in the directory itself it ends that
#     search list (b/liby.so is not tried). musl (case 12, /case/loop/libmb.so): it ends the search,
#     and so does a file that is not ELF (/case/bad/libmb.so).
case_open_error() {
  local fs=$1 v
  so gcc "$fs/b/libx.so" libx.so
  so gcc "$fs/b/liby.so" liby.so
  so gcc "$fs/a/libx.so" libx.so
  for v in glibc-hwcaps/x86-64-v4 glibc-hwcaps/x86-64-v3 glibc-hwcaps/x86-64-v2 tls x86_64; do
    mkdir -p "$fs/a/$v"
    ln -s libx.so "$fs/a/$v/libx.so"
  done
  ln -s liby.so "$fs/a/liby.so"
  exe gcc "$fs/bin/exe" "$fs/b/libx.so" "$fs/b/liby.so" "$(runpath "$fs/a:$fs/b")"
}

# 15. Dynamic string tokens in a RUNPATH: $LIB (Debian: lib/<triplet>), ${PLATFORM} (AT_PLATFORM,
#     CPU-dependent: one copy per name glibc uses on x86-64) and $FOO, which is no token (kept).
case_dst_tokens() {
  local fs=$1 p
  so gcc "$fs/lib/$TRIPLET/libtlib.so" libtlib.so
  for p in x86_64 haswell xeon_phi; do so gcc "$fs/$p/libtplat.so" libtplat.so; done
  so gcc "$fs/\$FOO/libtfoo.so" libtfoo.so
  exe gcc "$fs/bin/exe" "$fs/lib/$TRIPLET/libtlib.so" "$fs/x86_64/libtplat.so" "$fs/\$FOO/libtfoo.so" \
    "$(runpath '$ORIGIN/../$LIB:${ORIGIN}/../${PLATFORM}:$ORIGIN/../$FOO')"
}

# 16. A defective candidate is fatal for the whole program, unlike a wrong class (case 9): one
#     executable per defect, each with RUNPATH bad-<defect>:good, good/ holding libfatal.so.
case_fatal_candidate() {
  local fs=$1 defect
  so gcc "$fs/good/libfatal.so" libfatal.so
  mkdir -p "$fs/bad-text" "$fs/bad-short" "$fs/bad-dir/libfatal.so" "$fs/bad-endian" "$fs/bad-osabi"
  echo '/* A text file (a linker script, say), longer than an ELF header: not an ELF file. */' >"$fs/bad-text/libfatal.so"
  head -c 40 /dev/zero >"$fs/bad-short/libfatal.so"
  cp "$fs/good/libfatal.so" "$fs/bad-endian/libfatal.so"
  printf '\002' | dd of="$fs/bad-endian/libfatal.so" bs=1 seek=5 conv=notrunc status=none # EI_DATA: big-endian
  cp "$fs/good/libfatal.so" "$fs/bad-osabi/libfatal.so"
  printf '\011' | dd of="$fs/bad-osabi/libfatal.so" bs=1 seek=7 conv=notrunc status=none # EI_OSABI: FreeBSD
  for defect in text short dir endian osabi; do
    exe gcc "$fs/bin/exe-$defect" "$fs/good/libfatal.so" "$(runpath "$fs/bad-$defect:$fs/good")"
  done
}

H=$OUT/host
R=$OUT/roots
mkdir -p "$H" "$R"

fresh "$H/rpath-chain" && case_rpath_chain gcc "$H/rpath-chain" "$H/rpath-chain"
fresh "$H/runpath-not-inherited" && case_runpath_not_inherited "$H/runpath-not-inherited"
fresh "$H/runpath-disables-chain" && case_runpath_disables_chain "$H/runpath-disables-chain"
fresh "$H/origin-symlinked-dir" && case_origin_symlinked_dir gcc "$H/origin-symlinked-dir" "$H/origin-symlinked-dir"
fresh "$H/origin-symlinked-exe" && case_origin_symlinked_exe gcc "$H/origin-symlinked-exe"
fresh "$H/soname-reuse" && case_soname_reuse "$H/soname-reuse"
fresh "$H/slash-names" && case_slash_names "$H/slash-names"
case_nodeflib "$R/nodeflib"
fresh "$H/hwcaps" && case_hwcaps "$H/hwcaps"
fresh "$H/wrong-class" && case_wrong_class "$H/wrong-class"
case_cache "$R/cache" "$R/nocache"
fresh "$H/ld-library-path" && case_ld_library_path "$H/ld-library-path"
case_musl "$R/musl"
fresh "$H/open-error" && case_open_error "$H/open-error"
fresh "$H/dst-tokens" && case_dst_tokens "$H/dst-tokens"
fresh "$H/fatal-candidate" && case_fatal_candidate "$H/fatal-candidate"

# 13. aarch64, each in its own small root (paths inside the root start at /case).
arm64_root "$R/arm64-rpath-chain" && case_rpath_chain aarch64-linux-gnu-gcc "$R/arm64-rpath-chain/case" /case
arm64_root "$R/arm64-origin-dir" && case_origin_symlinked_dir aarch64-linux-gnu-gcc "$R/arm64-origin-dir/case" /case
arm64_root "$R/arm64-origin-exe" && case_origin_symlinked_exe aarch64-linux-gnu-gcc "$R/arm64-origin-exe/case"
