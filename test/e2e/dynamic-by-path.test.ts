// Objects a traced run loaded satisfy later DT_NEEDED as the loader does (issue #12.2), java's
// shape: the launcher finds its home from /proc/self/exe, dlopen()s lib/server/libjvm.so by path,
// then lib/libjava.so, whose DT_NEEDED libjvm.so no search finds (no RPATH, not in the cache):
// glibc reuses the object already loaded with that SONAME. Built here with gcc; the real loader
// (ldd) confirms that libjvm.so is not findable, the program run on the host gives the expected
// output, and each bundle must run in the independent jail of test/support/scratch-jail.ts.

import t from "tap";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture } from "../support/fixtures.js";
import { magicpakCli, pathInJail, runProcess, withFreshJail } from "../support/scratch-jail.js";

const work = mkdtempSync(join(tmpdir(), "magicpak-e2e-bypath-"));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const home = join(work, "jdk");
const java = join(home, "bin/java");
const libjvm = join(home, "lib/server/libjvm.so");
const libjava = join(home, "lib/libjava.so");

const LAUNCHER = `#include <dlfcn.h>
#include <libgen.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
  char self[4096], path[4200];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n < 0) return 2;
  self[n] = 0;
  const char *home = dirname(dirname(self));
  snprintf(path, sizeof path, "%s/lib/server/libjvm.so", home);
  if (!dlopen(path, RTLD_NOW | RTLD_GLOBAL)) { fprintf(stderr, "%s\\n", dlerror()); return 1; }
  snprintf(path, sizeof path, "%s/lib/libjava.so", home);
  void *lib = dlopen(path, RTLD_NOW);
  if (!lib) { fprintf(stderr, "%s\\n", dlerror()); return 1; }
  int (*answer)(void) = (int (*)(void))dlsym(lib, "java_answer");
  printf("java_answer %d\\n", answer());
  return 0;
}
`;

async function gcc(out: string, source: string, ...args: string[]): Promise<void> {
  writeFileSync(`${out}.c`, source);
  const r = await runProcess("gcc", ["-O1", "-o", out, `${out}.c`, ...args]);
  if (r.status !== 0) throw new Error(`gcc could not build ${out}.c (apt-get install gcc): ${r.stderr}`);
  rmSync(`${out}.c`);
}

let expected = "";
t.before(async () => {
  for (const dir of ["bin", "lib/server"]) mkdirSync(join(home, dir), { recursive: true });
  await gcc(libjvm, "int jvm_answer(void) { return 42; }\n", "-shared", "-fPIC", "-Wl,-soname,libjvm.so");
  await gcc(libjava, "extern int jvm_answer(void);\nint java_answer(void) { return jvm_answer(); }\n", "-shared", "-fPIC", "-Wl,-soname,libjava.so", `-L${join(home, "lib/server")}`, "-ljvm");
  await gcc(java, LAUNCHER);
  const run = await runProcess(java, []);
  if (run.status !== 0) throw new Error(`the launcher failed on the host: ${run.stderr}`);
  expected = run.stdout;
});

t.test("the real loader cannot find libjava.so's libjvm.so by search; the launcher runs", async (t) => {
  const ldd = await runProcess("ldd", [libjava]);
  t.match(ldd.stdout, /^\s*libjvm\.so => not found$/m, "ldd libjava.so: libjvm.so => not found");
  t.equal(expected, "java_answer 42\n", "the launcher on the host");
});

for (const [name, flags] of [
  ["--dynamic-test", ["--dynamic-test"]],
  ["--dynamic", ["--dynamic"]],
] as const) {
  t.test(`${name}: bundled without "not found", and the bundle runs in the independent jail`, async (t) => {
    const out = join(work, `out${name}`);
    const r = await magicpakCli([java, out, ...flags, "--test", "--busybox", fixture("MAGICPAK_BUSYBOX"), "--test-command", java, "--test-stdout", expected.trim()]);
    t.equal(r.status, 0, `magicpak ${name} --test`, { stderr: r.stderr });
    t.notMatch(r.stderr, /not found/, "no soname reported missing");
    for (const file of [libjvm, libjava]) t.ok(existsSync(pathInJail(out, file)), `${file} came in because the run loaded it`);
    if (!existsSync(out)) return;
    await withFreshJail(out, async (jail) => {
      const run = await jail.run(java);
      t.equal(run.status, 0, "runs in the independent jail", { stderr: run.stderr });
      t.equal(run.stdout, expected, "the output it gives on the host");
    });
  });
}

t.test("without a trace, the missing soname still names what needs it", async (t) => {
  const r = await magicpakCli([libjava, join(work, "out-static")]);
  t.equal(r.status, 1);
  t.match(r.stderr, /^error: .*libjava\.so: libjvm\.so not found \(needed by .*libjava\.so\)/);
  t.notOk(existsSync(join(work, "out-static")));
});
