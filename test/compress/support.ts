// Shared by the compressor tests: the native reference (trixie's upx-ucl 4.2.4, provisioned by
// test/fixtures/provision.sh) and a scratch directory.

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Test } from "tap";
import { fixture } from "../support/fixtures.js";

/** The native upx 4.2.4, or "" after failing the test with the remedy (`npm run fixtures`). */
export function nativeUpx(t: Test): string {
  try {
    return fixture("MAGICPAK_NATIVE_UPX");
  } catch (error) {
    t.fail((error as Error).message);
    return "";
  }
}

export function scratchDir(t: Test, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `magicpak-${name}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A statically linked hello world, compiled with the host's gcc into `dir`. */
export function staticHello(t: Test, dir: string): string {
  const src = join(dir, "hello.c");
  const out = join(dir, "hello-static");
  writeFileSync(src, '#include <stdio.h>\nint main(void) { puts("hello, static world"); return 0; }\n');
  const r = spawnSync("gcc", ["-static", "-O2", "-o", out, src], { encoding: "utf8" });
  if (r.status !== 0) t.fail(`gcc -static failed (needs libc6-dev): ${r.stderr}`);
  return out;
}
