// A small root filesystem built from the host's own loader and libc plus programs compiled for the
// test, laid out merged-/usr as Debian does. Used where a test needs to control what is on disk.

import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface MiniRoot {
  dir: string;
  libdir: string; // /usr/lib/x86_64-linux-gnu inside the root
}

export function makeMiniRoot(): MiniRoot {
  const dir = mkdtempSync(join(tmpdir(), "magicpak-miniroot-"));
  const libdir = "/usr/lib/x86_64-linux-gnu";
  mkdirSync(join(dir, libdir), { recursive: true });
  mkdirSync(join(dir, "usr/bin"), { recursive: true });
  mkdirSync(join(dir, "usr/lib64"), { recursive: true });
  mkdirSync(join(dir, "etc"), { recursive: true });
  symlinkSync("usr/bin", join(dir, "bin"));
  symlinkSync("usr/lib", join(dir, "lib"));
  symlinkSync("usr/lib64", join(dir, "lib64"));
  copyFileSync("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", join(dir, libdir, "ld-linux-x86-64.so.2"));
  copyFileSync("/usr/lib/x86_64-linux-gnu/libc.so.6", join(dir, libdir, "libc.so.6"));
  symlinkSync("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", join(dir, "usr/lib64/ld-linux-x86-64.so.2"));
  return { dir, libdir };
}

/** Compiles `source` with gcc into `out` (a host path); extra args go to gcc. */
export function compile(source: string, out: string, ...args: string[]): void {
  const src = `${out}.c`;
  writeFileSync(src, source);
  execFileSync("gcc", ["-o", out, src, ...args], { stdio: ["ignore", "ignore", "pipe"] });
}

/** Installs a library libNAME.so.1.0 with soname libNAME.so.1 and the usual symlink in the root's libdir. */
export function addLibrary(root: MiniRoot, name: string, body = `int ${name}(void) { return 7; }`): void {
  const real = join(root.dir, root.libdir, `lib${name}.so.1.0`);
  compile(body, real, "-shared", "-fPIC", `-Wl,-soname,lib${name}.so.1`);
  symlinkSync(`lib${name}.so.1.0`, join(root.dir, root.libdir, `lib${name}.so.1`));
}

/** Installs /usr/bin/NAME that calls every function named in `uses` (each from lib<use>.so). */
export function addProgram(root: MiniRoot, name: string, uses: string[], extra: string[] = []): void {
  const decls = uses.map((u) => `int ${u}(void);`).join("\n");
  const calls = uses.map((u) => `${u}()`).join(" + ") || "0";
  const out = join(root.dir, "usr/bin", name);
  const links = uses.map((u) => join(root.dir, root.libdir, `lib${u}.so.1`));
  compile(`#include <stdio.h>\n${decls}\nint main(void) { printf("%d\\n", ${calls}); return 0; }\n`, out, ...links, ...extra);
}
