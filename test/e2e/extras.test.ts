// Runtime extras: what no DT_NEEDED names but a program needs at run time. Each case is a program
// of our own, bundled with no manual --include and run in the jail, where it fails without the extra.

import t from "tap";
import { execFileSync, spawnSync } from "node:child_process";
import { runProcess } from "../../lib/process.js";
import { createServer } from "node:http";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture } from "../support/fixtures.js";
import { addLibrary, makeMiniRoot } from "../support/mini-root.js";

const bin = new URL("../../../bin/magicpak.js", import.meta.url).pathname;
const base = mkdtempSync(join(tmpdir(), "magicpak-extras-"));
t.teardown(() => rmSync(base, { recursive: true, force: true }));
let busybox = "";
try {
  busybox = fixture("MAGICPAK_BUSYBOX");
} catch (error) {
  t.fail((error as Error).message);
}

function gcc(name: string, source: string, ...args: string[]): string {
  const out = join(base, name);
  writeFileSync(`${out}.c`, source);
  execFileSync("gcc", ["-o", out, `${out}.c`, ...args]);
  return out;
}

function magicpak(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args, "--busybox", busybox], { encoding: "utf8", env: { PATH: "/usr/bin:/bin" } });
}

const lookups = gcc(
  "lookups",
  `#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <netinet/in.h>
int main(void) {
  struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res;
  int rc = getaddrinfo("localhost", "80", &hints, &res);
  if (rc != 0) { printf("getaddrinfo: %s\\n", gai_strerror(rc)); return 1; }
  char ip[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, ip, sizeof ip);
  struct passwd *pw = getpwnam("root");
  if (!pw) { puts("getpwnam: no root"); return 2; }
  printf("%s %s %d\\n", ip, pw->pw_name, (int)pw->pw_uid);
  return 0;
}
`,
);

t.test("NSS: getaddrinfo(localhost) and getpwnam(root) work in the jail with no --include", async (t) => {
  const out = join(base, "out-lookups");
  const r = magicpak(lookups, out, "-v", "--test", "--test-command", lookups, "--test-stdout", "127.0.0.1 root 0");
  t.equal(r.status, 0, r.stderr);
  t.ok(existsSync(join(out, "etc/nsswitch.conf")), "nsswitch.conf");
  t.ok(existsSync(join(out, "etc/hosts")), "the hosts database");
  t.equal(readFileSync(join(out, "etc/passwd"), "utf8").split("\n")[0], "root:x:0:0:root:/root:/bin/sh", "a minimal passwd, not the build host's");
  t.notOk(existsSync(join(out, "usr/lib/x86_64-linux-gnu/libnss_files.so.2")), "files is built into glibc 2.36: no module");
  const without = join(base, "out-lookups-nonss");
  const r2 = magicpak(lookups, without, "--no-nss", "--test", "--test-command", lookups);
  t.equal(r2.status, 1, "--no-nss: the same program fails in the jail");
  t.notOk(existsSync(without));
});

t.test("NSS: curl fetches http://localhost from a server on 127.0.0.1 with no --include", async (t) => {
  const server = createServer((_, res) => res.end("hello from localhost\n"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const out = join(base, "out-curl");
  // Asynchronously: the server above answers the test command meanwhile.
  const r = await runProcess(process.execPath, [
    bin,
    "/usr/bin/curl",
    out,
    "--test",
    "--test-network",
    "host",
    "--busybox",
    busybox,
    "--test-command",
    `curl -s http://localhost:${port}/`,
    "--test-stdout",
    "hello from localhost",
  ]);
  t.equal(r.status, 0, r.stderr);
});

t.test("libgcc_s is added when the program calls pthread_exit (glibc dlopens it)", async (t) => {
  const prog = gcc("exits", `#include <pthread.h>\n#include <stdio.h>\nint main(void) { puts("bye"); fflush(stdout); pthread_exit(0); }\n`, "-pthread");
  const out = join(base, "out-exit");
  const r = magicpak(prog, out, "--test", "--test-command", prog, "--test-stdout", "bye");
  t.equal(r.status, 0, r.stderr);
  t.ok(existsSync(join(out, "usr/lib/x86_64-linux-gnu/libgcc_s.so.1")));
});

t.test(".note.dlopen: a required soname is bundled and the dlopen works in the jail", async (t) => {
  const payload = JSON.stringify([{ feature: "compression", description: "zlib", priority: "required", soname: ["libz.so.1"] }]);
  const literal = `"${payload.replace(/"/g, '\\"')}${"\\0".repeat(4 - (payload.length % 4))}"`;
  const prog = gcc(
    "noted",
    `#include <dlfcn.h>
#include <stdio.h>
#define DESC ${literal}
__attribute__((section(".note.dlopen"), used, aligned(4)))
static const struct { unsigned namesz, descsz, type; char name[4]; char desc[sizeof(DESC) - 1]; } note = { 4, sizeof(DESC) - 1, 0x407c0c0a, "FDO", DESC };
int main(void) {
  void *z = dlopen("libz.so.1", RTLD_NOW);
  const char *(*version)(void) = z ? (const char *(*)(void))dlsym(z, "zlibVersion") : 0;
  printf("%s\\n", version ? "zlib loaded" : dlerror());
  return version ? 0 : 1;
}
`,
    "-ldl",
  );
  const out = join(base, "out-noted");
  const r = magicpak(prog, out, "--test", "--test-command", prog, "--test-stdout", "zlib loaded");
  t.equal(r.status, 0, r.stderr);
  const none = magicpak(prog, join(base, "out-noted-none"), "--dlopen-notes", "none", "--test", "--test-command", prog);
  t.equal(none.status, 1, "--dlopen-notes none: the dlopen fails in the jail");
});

t.test("--gconv brings the gconv modules iconv needs", async (t) => {
  const prog = gcc(
    "conv",
    `#include <iconv.h>
#include <stdio.h>
int main(void) { iconv_t cd = iconv_open("EBCDIC-US", "UTF-8"); puts(cd == (iconv_t)-1 ? "no converter" : "converter"); return cd == (iconv_t)-1; }
`,
  );
  const out = join(base, "out-conv");
  const r = magicpak(prog, out, "--gconv", "--test", "--test-command", prog, "--test-stdout", "converter");
  t.equal(r.status, 0, r.stderr);
  t.ok(existsSync(join(out, "usr/lib/x86_64-linux-gnu/gconv/gconv-modules")), "with its configuration");
  t.equal(magicpak(prog, join(base, "out-conv-no"), "--test", "--test-command", prog).status, 1, "opt-in: without --gconv it fails");
});

t.test("--ca-certificates, --tzdata, --passwd, --tmp", async (t) => {
  const out = join(base, "out-basics");
  const r = magicpak(
    "/usr/bin/ls",
    out,
    "--ca-certificates",
    "--tzdata",
    "--passwd",
    "--tmp",
    "--test",
    "--test-command",
    "ls /etc/ssl/certs/ca-certificates.crt /usr/share/zoneinfo/UTC && cat /etc/group",
  );
  t.equal(r.status, 0, r.stderr);
  t.same(readFileSync(join(out, "etc/ssl/certs/ca-certificates.crt")), readFileSync("/etc/ssl/certs/ca-certificates.crt"));
  t.ok(existsSync(join(out, "usr/share/zoneinfo/UTC")));
  t.match(readFileSync(join(out, "etc/group"), "utf8"), /^root:x:0:\nnogroup:x:65534:\n$/);
  t.equal(lstatSync(join(out, "tmp")).mode & 0o7777, 0o1777);
});

t.test("ld.so.cache is bundled when a library is found only through it", async (t) => {
  const root = makeMiniRoot();
  t.teardown(() => rmSync(root.dir, { recursive: true, force: true }));
  mkdirSync(join(root.dir, "opt/lib"), { recursive: true });
  addLibrary(root, "far");
  execFileSync("mv", [join(root.dir, root.libdir, "libfar.so.1.0"), join(root.dir, "opt/lib/")]);
  rmSync(join(root.dir, root.libdir, "libfar.so.1"));
  writeFileSync(join(root.dir, "etc/ld.so.conf"), "/opt/lib\n");
  writeFileSync(join(root.dir, "far.c"), "int far(void); int main(void) { return far() == 7 ? 0 : 1; }\n");
  execFileSync("gcc", ["-o", join(root.dir, "usr/bin/far"), join(root.dir, "far.c"), join(root.dir, "opt/lib/libfar.so.1.0")]);
  execFileSync("/sbin/ldconfig", ["-r", root.dir]);
  const out = join(base, "out-cache");
  const r = magicpak("--root", root.dir, "/usr/bin/far", out, "-v", "--test", "--test-command", "/usr/bin/far");
  t.equal(r.status, 0, r.stderr);
  t.ok(existsSync(join(out, "etc/ld.so.cache")), "the cache came along");
  t.match(r.stderr, /ld\.so\.cache: \/opt\/lib\/libfar\.so\.1 are found only through it/);
});
