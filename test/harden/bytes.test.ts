// Issue #13.7: names from a root are bytes, not UTF-8. A DT_NEEDED "lib\xff.so" found through the
// RUNPATH directory "/opt/\xff" (byte 0xff, invalid UTF-8) must be found as the real loader finds
// it, bundled under exactly those bytes, and printed escaped. Ground truth: the root's own ld.so
// run in a chroot of the root (--list), and the bundle run in a chroot of OUTPUT.

import t from "tap";
import { execFileSync, spawnSync } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeMiniRoot } from "../support/mini-root.js";
import { bundle, layerEntries, tarStream } from "../../lib/index.js";

const bin = new URL("../../../bin/magicpak.js", import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), "magicpak-bytes-"));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
const r = makeMiniRoot();
t.teardown(() => rmSync(r.dir, { recursive: true, force: true }));
const FF = Buffer.from([0xff]);

// Built by bash, which writes the byte 0xff itself ($'\xff'): Node would encode a string argument as UTF-8.
execFileSync("bash", [
  "-euc",
  `
  cd "$1"; ff=$'\\xff'
  mkdir -p "opt/$ff"
  echo 'int q(void) { return 5; }' > q.c
  gcc -shared -fPIC -o "opt/$ff/lib$ff.so" q.c -Wl,-soname,"lib$ff.so"
  printf '#include <stdio.h>\\nint q(void);\\nint main(void) { printf("q=%%d\\\\n", q()); return 0; }\\n' > p.c
  gcc -o usr/bin/p p.c "opt/$ff/lib$ff.so" -Wl,--enable-new-dtags,-rpath,"/opt/$ff"
  rm q.c p.c`,
  "build",
  r.dir,
]);

/** The test's own rendering of raw bytes: ASCII as is, every other byte as \\xNN. */
const escapeBytes = (bytes: Buffer) => [...bytes].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`)).join("");

t.test("the real loader in a chroot finds lib\\xff.so in /opt/\\xff", async (t) => {
  const real = spawnSync("chroot", [r.dir, "/usr/lib64/ld-linux-x86-64.so.2", "--list", "/usr/bin/p"]);
  t.equal(real.status, 0, real.stderr.toString());
  const line = real.stdout
    .toString("latin1")
    .split("\n")
    .find((l) => l.includes("lib\xff.so"));
  t.ok(line, "ld.so lists lib\\xff.so");
  t.match(line!, /^\tlib\xff\.so => \/opt\/\xff\/lib\xff\.so \(0x[0-9a-f]+\)$/, "found in /opt/\\xff, not missing");
});

t.test("--list finds it where ld.so does and prints it escaped", async (t) => {
  const real = spawnSync("chroot", [r.dir, "/usr/lib64/ld-linux-x86-64.so.2", "--list", "/usr/bin/p"]);
  const expected = real.stdout
    .toString("latin1")
    .split("\n")
    .filter((l) => l.includes("=>") && !l.trim().startsWith("/")) // the DT_NEEDED lines (ld.so run directly names itself "X => Y")
    .map((l) => escapeBytes(Buffer.from(l.replace(/ \(0x[0-9a-f]+\)$/, "").trim(), "latin1")));
  const ours = spawnSync(process.execPath, [bin, "--list", "--root", r.dir, "/usr/bin/p"], { encoding: "buffer" });
  t.equal(ours.status, 0, ours.stderr.toString());
  const printed = ours.stdout.toString("latin1");
  t.notOk(/[\x80-\xff]/.test(printed), "no raw byte >= 0x80 printed");
  for (const line of expected)
    t.ok(
      printed.split("\n").some((l) => l.trim() === line),
      `prints ${line}`,
    );
  t.notMatch(printed, /not found/);
});

t.test("the bundle holds /opt/\\xff/lib\\xff.so under its exact bytes, and runs in a chroot", async (t) => {
  const out = join(scratch, "out");
  const b = spawnSync(process.execPath, [bin, "--root", r.dir, "/usr/bin/p", out], { encoding: "utf8" });
  t.equal(b.status, 0, b.stderr);
  const opt = readdirSync(join(out, "opt"), { encoding: "buffer" });
  t.same(opt, [FF], "OUTPUT/opt holds one entry named by the single byte 0xff");
  const dir = Buffer.concat([Buffer.from(`${out}/opt/`), FF]);
  t.same(readdirSync(dir, { encoding: "buffer" }), [Buffer.concat([Buffer.from("lib"), FF, Buffer.from(".so")])], "and in it lib\\xff.so");
  const run = spawnSync("chroot", [out, "/usr/bin/p"], { encoding: "utf8" });
  t.equal(run.status, 0, run.stderr);
  t.equal(run.stdout, "q=5\n", "the bundle runs: the real loader finds the library in it");
  t.ok(existsSync(join(out, "usr/bin/p")));
});

t.test("the image layer stores the exact bytes: GNU tar extracts /opt/\\xff/lib\\xff.so", async (t) => {
  const { graph } = await bundle({ inputs: ["/usr/bin/p"], root: r.dir });
  const tar = join(scratch, "layer.tar");
  await pipeline(Readable.from(tarStream(layerEntries(graph), { mtime: 0 })), createWriteStream(tar));
  const listed = spawnSync("tar", ["--quoting-style=literal", "-tf", tar]);
  t.equal(listed.status, 0, listed.stderr.toString());
  t.ok(listed.stdout.toString("latin1").split("\n").includes("opt/\xff/lib\xff.so"), "tar -t lists opt/\\xff/lib\\xff.so, byte for byte");
  const into = join(scratch, "extracted");
  mkdirSync(into);
  const x = spawnSync("tar", ["-xf", tar, "-C", into]);
  t.equal(x.status, 0, x.stderr.toString());
  t.same(readdirSync(join(into, "opt"), { encoding: "buffer" }), [FF]);
  t.equal(spawnSync("chroot", [into, "/usr/bin/p"], { encoding: "utf8" }).stdout, "q=5\n", "the extracted layer runs");
});

t.test("a missing lib\\xff.so is named escaped in the one error line", async (t) => {
  const lib = Buffer.concat([Buffer.from(`${r.dir}/opt/`), FF, Buffer.from("/lib"), FF, Buffer.from(".so")]);
  const aside = Buffer.concat([lib, Buffer.from(".aside")]);
  renameSync(lib, aside);
  t.teardown(() => renameSync(aside, lib));
  const out = join(scratch, "missing");
  const b = spawnSync(process.execPath, [bin, "--root", r.dir, "/usr/bin/p", out], { encoding: "latin1" });
  t.equal(b.status, 1);
  t.match(b.stderr, /^error: \/usr\/bin\/p: lib\\xff\.so not found \(needed by \/usr\/bin\/p\); tried .*\/opt\/\\xff\/lib\\xff\.so/);
  t.equal(b.stderr.split("\n").filter((l) => l !== "").length, 1, "one line");
  t.notOk(existsSync(out), "nothing written");
});

t.test("through ld.so.cache: a cache entry named lib\\xff.so in /opt/\\xff is found as ld.so finds it", async (t) => {
  const root = join(scratch, "cache-root");
  execFileSync("cp", ["-a", r.dir, root]);
  execFileSync("bash", [
    "-euc",
    `
    cd "$1"; ff=$'\\xff'
    printf '#include <stdio.h>\\nint q(void);\\nint main(void) { printf("q=%%d\\\\n", q()); return 0; }\\n' > p.c
    gcc -o usr/bin/p2 p.c "opt/$ff/lib$ff.so"
    rm p.c
    printf '/opt/%s\\n' "$ff" > etc/ld.so.conf
    /sbin/ldconfig -r "$1"`,
    "build",
    root,
  ]);
  const real = spawnSync("chroot", [root, "/usr/lib64/ld-linux-x86-64.so.2", "--list", "/usr/bin/p2"]);
  t.equal(real.status, 0, real.stderr.toString());
  const line = real.stdout
    .toString("latin1")
    .split("\n")
    .find((l) => l.includes("lib\xff.so"));
  t.match(line ?? "", /^\tlib\xff\.so => \/opt\/\xff\/lib\xff\.so \(0x[0-9a-f]+\)$/, "the real loader finds it through the cache (no RUNPATH)");
  const ours = spawnSync(process.execPath, [bin, "--list", "--root", root, "/usr/bin/p2"], { encoding: "buffer" });
  t.equal(ours.status, 0, ours.stderr.toString());
  const printed = ours.stdout.toString("latin1");
  t.ok(
    printed.split("\n").some((l) => l.trim() === "lib\\xff.so => /opt/\\xff/lib\\xff.so"),
    `ours: ${printed}`,
  );
  t.notMatch(printed, /not found/);
});

t.test("--from-image: layers GNU tar wrote (posix, gnu, ustar) keep /opt/\\xff/lib\\xff.so byte for byte, long names too", async (t) => {
  // A root with a second copy of the library in a directory whose name is over 100 bytes (a pax
  // "path" record with hdrcharset BINARY, or a GNU ././@LongLink) and a program that runs from it.
  const root = join(scratch, "image-root");
  execFileSync("cp", ["-a", r.dir, root]);
  const long = `d\xe9${"x".repeat(110)}`; // é as latin1: the one byte 0xe9, not UTF-8 (the bash below writes the same)
  execFileSync("bash", [
    "-euc",
    `
    cd "$1"; ff=$'\\xff'; long=$(printf 'd\\351%0110d' 0 | tr 0 x)
    mkdir -p "opt/$ff/$long"; cp "opt/$ff/lib$ff.so" "opt/$ff/$long/"
    printf '#include <stdio.h>\\nint q(void);\\nint main(void) { printf("q=%%d\\\\n", q()); return 0; }\\n' > p.c
    gcc -o usr/bin/p3 p.c "opt/$ff/lib$ff.so" -Wl,--enable-new-dtags,-rpath,"/opt/$ff/$long"
    rm p.c`,
    "build",
    root,
  ]);
  const longBytes = Buffer.from(long, "latin1");
  const { writeTestLayout } = await import("../image/source-support.js");
  for (const format of ["posix", "gnu", "ustar"]) {
    const layer = spawnSync("tar", [`--format=${format}`, "-cf", "-", "-C", root, "."], { maxBuffer: 1 << 30 });
    if (format === "ustar") {
      // ustar has no long names: GNU tar refuses the 100+ byte name, which is the point of the other two.
      t.not(layer.status, 0, "GNU tar refuses a name ustar cannot hold");
      continue;
    }
    t.equal(layer.status, 0, `tar --format=${format}: ${layer.stderr.toString()}`);
    const layout = join(scratch, `layout-${format}`);
    writeTestLayout(layout, [{ platform: { architecture: "amd64", os: "linux" }, layers: [layer.stdout], config: { Entrypoint: ["/usr/bin/p3"] } }]);
    const out = join(scratch, `from-image-${format}`);
    const b = spawnSync(process.execPath, [bin, "--from-image", layout, out], { encoding: "latin1" });
    t.equal(b.status, 0, b.stderr);
    t.same(readdirSync(join(out, "opt"), { encoding: "buffer" }), [FF], "OUTPUT/opt holds the one entry named by the byte 0xff");
    const dir = Buffer.concat([Buffer.from(`${out}/opt/`), FF, Buffer.from("/"), longBytes]);
    t.same(readdirSync(dir, { encoding: "buffer" }), [Buffer.concat([Buffer.from("lib"), FF, Buffer.from(".so")])], "the library under the long non-UTF-8 directory name, exact");
    const run = spawnSync("chroot", [out, "/usr/bin/p3"], { encoding: "utf8" });
    t.equal(run.stdout, "q=5\n", "the slimmed image runs: the real loader finds the library by its bytes");
  }
});
