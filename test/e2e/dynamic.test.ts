// --dynamic end to end: a program of our own that opens a data file by a relative path after
// chdir, forks a child that opens another file, execs a helper program and dlopens a plugin.
// All four must be found, nothing under /proc bundled, and the bundle must pass --test running
// the same command. Run with each tracer that is available here; strace must be.

import t from "tap";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture } from "../support/fixtures.js";

const bin = new URL("../../../bin/magicpak.js", import.meta.url).pathname;
const base = mkdtempSync(join(tmpdir(), "magicpak-dynamic-"));
t.teardown(() => rmSync(base, { recursive: true, force: true }));

const app = join(base, "app");
mkdirSync(join(app, "plugins"), { recursive: true });
mkdirSync(join(base, "work/data"), { recursive: true });
writeFileSync(join(base, "work/data/relative.txt"), "relative\n");
writeFileSync(join(base, "child.txt"), "child\n");

const gcc = (out: string, source: string, ...args: string[]) => {
  writeFileSync(`${out}.c`, source);
  execFileSync("gcc", ["-o", out, `${out}.c`, ...args]);
};
gcc(join(app, "plugins/libplugin.so"), "int plugin(void) { return 42; }\n", "-shared", "-fPIC");
gcc(join(app, "helper"), '#include <stdio.h>\nint main(void) { puts("helper ran"); return 0; }\n');
gcc(
  join(app, "prog"),
  `#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
  char buf[64];
  if (argc < 2 || chdir(argv[1]) != 0) return 10;
  int fd = open("data/relative.txt", O_RDONLY);            /* relative, after chdir */
  if (fd < 0 || read(fd, buf, sizeof buf) <= 0) return 11;
  close(fd);
  pid_t child = fork();                                      /* a child opens another file */
  if (child == 0) _exit(open("${join(base, "child.txt")}", O_RDONLY) < 0 ? 1 : 0);
  int status;
  waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 12;
  fflush(stdout);
  pid_t helper = fork();                                     /* exec a helper program */
  if (helper == 0) { execl("${join(app, "helper")}", "helper", (char *)0); _exit(127); }
  waitpid(helper, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 13;
  void *h = dlopen("libplugin.so", RTLD_NOW);               /* dlopen through RUNPATH $ORIGIN/plugins */
  if (!h) return 14;
  int (*plugin)(void) = (int (*)(void))dlsym(h, "plugin");
  printf("plugin %d\\n", plugin());
  return 0;
}
`,
  "-ldl",
  "-Wl,--enable-new-dtags,-rpath,$ORIGIN/plugins",
);

const command = `${join(app, "prog")} ${join(base, "work")}`;

function magicpak(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { PATH: "/usr/bin:/bin" } });
}

function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel))) {
      const path = `${rel}/${name}`;
      out.push(path);
      try {
        if (readdirSync(join(dir, path))) walk(path);
      } catch {
        // not a directory
      }
    }
  };
  walk("");
  return out;
}

for (const tracer of ["native", "strace"] as const) {
  t.test(`--dynamic with the ${tracer} tracer finds all four files and the bundle passes --test`, async (t) => {
    const out = join(base, `out-${tracer}`);
    const r = magicpak(
      join(app, "prog"),
      out,
      "--dynamic",
      "--tracer",
      tracer,
      "--dynamic-arg",
      join(base, "work"),
      "--test",
      "--busybox",
      fixture("MAGICPAK_BUSYBOX"),
      "--test-command",
      command,
      "--test-stdout",
      "helper ran\nplugin 42",
    );
    t.equal(r.status, 0, r.stderr);
    t.ok(existsSync(join(out, base, "work/data/relative.txt")), "the file opened by a relative path after chdir");
    t.ok(existsSync(join(out, base, "child.txt")), "the file a forked child opened");
    t.ok(existsSync(join(out, app, "helper")), "the helper program that was exec'd");
    t.ok(existsSync(join(out, app, "plugins/libplugin.so")), "the dlopen'ed plugin");
    t.notOk(existsSync(join(out, "proc")), "nothing under /proc");
    t.notOk(
      listTree(out).some((p) => p.startsWith("/sys") || p.startsWith("/dev")),
      "nothing under /sys or /dev",
    );
  });
}

t.test("--dynamic: a failing run is an error with its status and stderr", async (t) => {
  const r = magicpak(join(app, "prog"), join(base, "out-fail"), "--dynamic", "--tracer", "strace");
  t.equal(r.status, 1);
  t.match(r.stderr, /the --dynamic run exited with 10/);
  t.notOk(existsSync(join(base, "out-fail")));
  t.equal(magicpak("/bin/ls", join(base, "out-x"), "--dynamic", "--tracer", "gdb").status, 2, "unknown tracer is a usage error");
});

t.test("--dynamic-stdin is given to the run and stdin is closed after it", async (t) => {
  const out = join(base, "out-stdin");
  const r = magicpak("/usr/bin/cat", out, "--dynamic", "--tracer", "strace", "--dynamic-stdin", "hello");
  t.equal(r.status, 0, r.stderr);
  const closed = magicpak("/usr/bin/cat", join(base, "out-closed"), "--dynamic", "--tracer", "strace");
  t.equal(closed.status, 0, "without --dynamic-stdin, stdin is closed at once (cat does not hang)");
});

t.test("magicpak's patchelf example, inside the provisioned amd64 root (the run is traced in a chroot of the root)", async (t) => {
  const root = fixture("MAGICPAK_AMD64_ROOT");
  const out = join(base, "out-patchelf");
  const r = magicpak(
    "--root",
    root,
    "/usr/bin/patchelf",
    out,
    "-v",
    "--dynamic",
    "--dynamic-arg",
    "--help",
    "--test",
    "--busybox",
    fixture("MAGICPAK_BUSYBOX"),
    "--test-command",
    "/bin/patchelf --help",
    "--install-to",
    "/bin/",
  );
  t.equal(r.status, 0, r.stderr);
  t.ok(existsSync(join(out, "usr/bin/patchelf")), "installed to /bin/ (the root's /bin -> usr/bin)");
  t.ok(existsSync(join(out, "etc/ld.so.cache")), "what the run opened inside the root: the root's own ld.so.cache");
  t.notOk(existsSync(join(out, root)), "no host path of the root leaked into the bundle");
  const reference = spawnSync("chroot", [root, "/usr/bin/patchelf", "--help"], { encoding: "utf8" });
  t.match(reference.stdout + reference.stderr, /^syntax: \/usr\/bin\/patchelf/, "the reference run prints its usage");
});
