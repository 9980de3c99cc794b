// Issue #13: hostile roots and bad destinations cost no data and print one clear line. Each case
// runs the real command line (or the library where the race needs it) and checks that OUTPUT is
// absent afterwards, that stderr is exactly one "error:" line and that nothing internal leaks.

import t, { type Test } from "tap";
import { spawnSync } from "node:child_process";
import { existsSync, statSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addProgram, compile, makeMiniRoot } from "../support/mini-root.js";
import { bundle, emitBundle } from "../../lib/index.js";

const bin = new URL("../../../bin/magicpak.js", import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), "magicpak-harden-"));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
let counter = 0;
const fresh = () => join(scratch, `out-${++counter}`);

const root = makeMiniRoot();
t.teardown(() => rmSync(root.dir, { recursive: true, force: true }));
addProgram(root, "other", []);

function magicpak(args: string[], timeout = 120_000) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { PATH: "/usr/bin:/bin" }, timeout });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

/** Exit 1, exactly one line "error: ...", no internal error, OUTPUT absent, no staging sibling. */
function refused(t: Test, r: ReturnType<typeof magicpak>, out: string, pattern: RegExp) {
  t.equal(r.status, 1, `exit 1 (${r.stderr.trim()}${r.signal ? `; ${r.signal}` : ""})`);
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  t.equal(lines.length, 1, "one line");
  t.match(lines[0] ?? "", /^error: /);
  t.notMatch(r.stderr, /internal error|\n\s+at /, "no internal error, no stack");
  t.match(r.stderr, pattern);
  t.notOk(existsSync(out), "OUTPUT absent");
  const parent = join(out, "..");
  if (existsSync(parent) && statSync(parent).isDirectory())
    t.same(
      readdirSync(parent).filter((n) => n.includes(".magicpak")),
      [],
      "no staging sibling or lock left",
    );
}

t.test("a library dir swapped for a symlink to the host's between plan and emit: host libc never copied", async (t) => {
  const r = makeMiniRoot();
  t.teardown(() => rmSync(r.dir, { recursive: true, force: true }));
  addProgram(r, "other", []);
  const plan = await bundle({ inputs: ["/usr/bin/other"], root: r.dir });
  renameSync(join(r.dir, r.libdir), join(r.dir, `${r.libdir}-orig`));
  symlinkSync("/usr/lib/x86_64-linux-gnu", join(r.dir, r.libdir));
  const out = fresh();
  await t.rejects(emitBundle(plan.graph, out), /changed while magicpak was running/);
  t.notOk(existsSync(out), "OUTPUT absent: nothing of the host copied");
  t.same(
    readdirSync(scratch).filter((n) => n.includes(".magicpak")),
    [],
  );
});

t.test("destinations are checked before OUTPUT is written", async (t) => {
  const dir = join(scratch, "a-dir");
  mkdirSync(dir);
  let out = fresh();
  refused(t, magicpak(["--root", root.dir, "/usr/bin/other", out, "--oci-archive", dir]), out, /a-dir: destination exists and is not a regular file/);
  const full = join(scratch, "full-layout");
  mkdirSync(full);
  writeFileSync(join(full, "x"), "");
  out = fresh();
  refused(t, magicpak(["--root", root.dir, "/usr/bin/other", out, "--oci", full]), out, /full-layout: destination is not empty/);
  out = fresh();
  refused(t, magicpak(["--root", root.dir, "/usr/bin/other", out, "--oci-archive", "/proc/self/x.tar"]), out, /\/proc\/self\/x\.tar: /);
  const file = join(scratch, "a-file");
  writeFileSync(file, "");
  out = join(file, "out");
  refused(t, magicpak(["--root", root.dir, "/usr/bin/other", out]), out, /a-file: Not a directory/);
  out = fresh();
  refused(t, magicpak(["--root", "/nonexistent-root", "/usr/bin/other", out]), out, /^error: \/nonexistent-root: --root: No such file or directory/);
});

t.test("read-only mount and exhausted inodes: one line, nothing left", async (t) => {
  const ro = join(scratch, "ro");
  const tiny = join(scratch, "tiny");
  mkdirSync(ro);
  mkdirSync(tiny);
  if (spawnSync("mount", ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro]).status !== 0) {
    t.pass("skipped: cannot mount tmpfs here (needs root)");
    return;
  }
  t.teardown(() => void spawnSync("umount", [ro]));
  refused(t, magicpak(["--root", root.dir, "/usr/bin/other", join(ro, "out")]), join(ro, "out"), /Read-only file system/);
  spawnSync("mount", ["-t", "tmpfs", "-o", "nr_inodes=8,size=8m", "tmpfs", tiny]);
  t.teardown(() => void spawnSync("umount", [tiny]));
  refused(t, magicpak(["--root", root.dir, "-i", "/usr/lib/x86_64-linux-gnu", "--mkdir", "/a/b/c/d/e", "/usr/bin/other", join(tiny, "out")]), join(tiny, "out"), /No space left on device/);
});

t.test("kernel pseudo-files: refused at once, never spun on or copied empty", async (t) => {
  let out = fresh();
  refused(t, magicpak(["/bin/true", out, "--include", "/proc/cpuinfo"]), out, /\/proc\/cpuinfo: is a kernel pseudo-file/);
  out = fresh();
  if (existsSync("/sys/kernel/mm/transparent_hugepage/enabled")) {
    refused(t, magicpak(["/bin/true", out, "--include", "/sys/kernel/mm/transparent_hugepage/enabled"], 60_000), out, /transparent_hugepage\/enabled: is a kernel pseudo-file/);
  }
});

t.test("huge /etc/ld.so.preload and /etc/ld.so.cache: refused by name, not read whole", async (t) => {
  const r = makeMiniRoot();
  t.teardown(() => rmSync(r.dir, { recursive: true, force: true }));
  addProgram(r, "other", []);
  const preload = join(r.dir, "etc/ld.so.preload");
  writeFileSync(preload, "");
  truncateSync(preload, 1000 * 1024 * 1024);
  let out = fresh();
  refused(t, magicpak(["--root", r.dir, "/usr/bin/other", out]), out, /\/etc\/ld\.so\.preload: is larger than/);
  refused(t, magicpak(["--list", "--root", r.dir, "/usr/bin/other"]), join(scratch, "never"), /\/etc\/ld\.so\.preload: is larger than/);
  rmSync(preload);
  const cache = join(r.dir, "etc/ld.so.cache");
  writeFileSync(cache, "");
  truncateSync(cache, 200 * 1024 * 1024);
  out = fresh();
  refused(t, magicpak(["--root", r.dir, "/usr/bin/other", out]), out, /\/etc\/ld\.so\.cache: is larger than/);
});

t.test("a DT_NEEDED name with a newline cannot forge an error line", async (t) => {
  const r = makeMiniRoot();
  t.teardown(() => rmSync(r.dir, { recursive: true, force: true }));
  const lib = join(r.dir, r.libdir, "libq.so");
  compile("int q(void) { return 1; }", lib, "-shared", "-fPIC", "-Wl,-soname,libq.so\nerror: forged\x1b[31m");
  compile("int q(void); int main(void) { return q(); }", join(r.dir, "usr/bin/p"), lib);
  rmSync(lib);
  const out = fresh();
  const b = magicpak(["--root", r.dir, "/usr/bin/p", out]);
  refused(t, b, out, /libq\.so\\nerror: forged\\x1b\[31m not found/);
  const l = magicpak(["--list", "--root", r.dir, "/usr/bin/p"]);
  t.notMatch(l.stdout + l.stderr, /^error: forged/m, "no forged line in --list");
  t.notMatch(l.stdout + l.stderr, /\x1b/, "no escape sequence printed");
});

t.test("a live run's lock is respected; a dead run's lock and staging are cleaned up", async (t) => {
  let out = fresh();
  writeFileSync(join(scratch, `.${out.slice(scratch.length + 1)}.magicpak.lock`), `${process.pid} ${startTime(process.pid)}\n`);
  refusedLocked(t, magicpak(["--root", root.dir, "/usr/bin/other", out]), out);
  rmSync(join(scratch, `.${out.slice(scratch.length + 1)}.magicpak.lock`));
  out = fresh();
  const base = out.slice(scratch.length + 1);
  writeFileSync(join(scratch, `.${base}.magicpak.lock`), "999999999 1\n");
  mkdirSync(join(scratch, `.${base}.magicpak-AbCdEf/usr`), { recursive: true });
  const r = magicpak(["--root", root.dir, "/usr/bin/other", out]);
  t.equal(r.status, 0, r.stderr);
  t.ok(existsSync(join(out, "usr/bin/other")));
  t.same(
    readdirSync(scratch).filter((n) => n.includes(".magicpak")),
    [],
    "stale lock and staging removed",
  );
});

function refusedLocked(t: Test, r: ReturnType<typeof magicpak>, out: string) {
  t.equal(r.status, 1);
  t.match(r.stderr, /^error: .*: another magicpak run is writing it\n$/);
  t.notOk(existsSync(out));
}

function startTime(pid: number): string {
  const stat = spawnSync("cat", [`/proc/${pid}/stat`], { encoding: "utf8" }).stdout;
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!;
}
