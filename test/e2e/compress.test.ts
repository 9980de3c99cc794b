// --compress in the pipeline: the bundled executable is UPX-packed (built in, or a native upx
// given with --upx), the jail test runs the packed program, and UPX's refusals are clear errors.

import t from "tap";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeMiniRoot } from "../support/mini-root.js";
import { buildElf } from "../support/elf-builder.js";
import { fixture } from "../support/fixtures.js";

const bin = new URL("../../../bin/magicpak.js", import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), "magicpak-compress-"));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));

function magicpak(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { PATH: "/usr/bin:/bin" } });
}

t.test("--compress packs the executable (never the libraries) and the jail test runs it", async (t) => {
  const out = join(scratch, "jq");
  const r = magicpak(
    "/usr/bin/jq",
    out,
    "--compress",
    "--upx-arg",
    "--best",
    "--test",
    "--busybox",
    fixture("MAGICPAK_BUSYBOX"),
    "--test-stdin",
    '{"a":[1,2]}',
    "--test-command",
    "jq -c .a",
    "--test-stdout",
    "[1,2]",
  );
  t.equal(r.status, 0, r.stderr);
  const packed = readFileSync(join(out, "usr/bin/jq"));
  t.ok(packed.includes(Buffer.from("UPX!")), "the bundled jq is UPX-packed");
  t.ok(packed.length < statSync("/usr/bin/jq").size, "and smaller");
  const lib = readFileSync(join(out, "usr/lib/x86_64-linux-gnu/libjq.so.1.0.4"));
  t.same(lib, readFileSync("/usr/lib/x86_64-linux-gnu/libjq.so.1.0.4"), "libraries are copied as they are");
  // The native reference accepts what the built-in UPX wrote.
  const check = spawnSync(fixture("MAGICPAK_NATIVE_UPX"), ["-t", join(out, "usr/bin/jq")], { encoding: "utf8" });
  t.equal(check.status, 0, check.stdout + check.stderr);
});

t.test("--upx PATH runs that native upx, and it gives the same bytes as the built-in one", async (t) => {
  const native = join(scratch, "jq-native");
  const r = magicpak("/usr/bin/jq", native, "--compress", "--upx-arg", "--best", "--upx", fixture("MAGICPAK_NATIVE_UPX"));
  t.equal(r.status, 0, r.stderr);
  t.same(readFileSync(join(native, "usr/bin/jq")), readFileSync(join(scratch, "jq/usr/bin/jq")));
  const missing = magicpak("/usr/bin/jq", join(scratch, "x"), "--compress", "--upx", "/nonexistent/upx");
  t.equal(missing.status, 1);
  t.match(missing.stderr, /^error: \/nonexistent\/upx: upx not found\n$/);
});

t.test("a program UPX cannot pack: one line naming the file and UPX's reason, no OUTPUT", async (t) => {
  const root = makeMiniRoot();
  t.teardown(() => rmSync(root.dir, { recursive: true, force: true }));
  // A valid but minimal ELF object: nothing UPX knows how to pack.
  writeFileSync(join(root.dir, "usr/bin/tiny"), buildElf({ class: 64, little: true, machine: 62, needed: [] }), { mode: 0o755 });
  const out = join(scratch, "tiny");
  const r = magicpak("--root", root.dir, "/usr/bin/tiny", out, "--compress");
  t.equal(r.status, 1);
  t.match(r.stderr, /^error: \/usr\/bin\/tiny: cannot be compressed: .+\n$/);
  t.notOk(existsSync(out));
  const twice = join(scratch, "twice");
  const again = magicpak("--root", join(scratch, "jq"), "/usr/bin/jq", twice, "--compress");
  t.equal(again.status, 1);
  t.match(again.stderr, /^error: \/usr\/bin\/jq: cannot be compressed: AlreadyPackedException/, "an already packed program");
  t.notOk(existsSync(twice));
});
