// --test means "this works in the FROM scratch image": the tool's verdict and the independent
// twin's (test/support/scratch-jail.ts, no lib/jail code) agree on programs that need what a
// scratch image lacks (/bin/sh, /tmp, xz), the jail cannot be left, its namespaces are its own, it is
// bounded in time and leaves nothing behind, and where namespaces are refused for real it falls back.

import t from "tap";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { fixture } from "../support/fixtures.js";
import { magicpakCli, runProcess, shellQuote, SYSTEM_PATH, withFreshJail } from "../support/scratch-jail.js";

const bin = new URL("../../../bin/magicpak.js", import.meta.url).pathname;
const base = mkdtempSync(join(tmpdir(), "magicpak-jail-image-e2e-"));
t.teardown(() => rmSync(base, { recursive: true, force: true }));
let counter = 0;
const fresh = () => join(base, `out-${++counter}`);
const toolsPath = `${fixture("MAGICPAK_TOOLS")}:${SYSTEM_PATH}`;

function gcc(name: string, source: string): string {
  const src = join(base, `${name}.c`);
  const out = join(base, name);
  writeFileSync(src, source);
  const r = spawnSync("gcc", ["-O1", "-o", out, src], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`gcc ${name}: ${r.stderr}`);
  return out;
}

/** The tool's verdict (--test) and the twin's (the same command on the bundle written without --test). */
async function verdicts(inputs: string[], extra: string[], command: string): Promise<{ tool: number | null; toolStderr: string; twin: number | null; twinStderr: string }> {
  const tool = await magicpakCli([...inputs, fresh(), ...extra, "--test", "--test-command", command]);
  const out = fresh();
  const plain = await magicpakCli([...inputs, out, ...extra]);
  if (plain.status !== 0) throw new Error(`bundling without --test failed: ${plain.stderr}`);
  const twin = await withFreshJail(out, (jail) => jail.run(command));
  return { tool: tool.status, toolStderr: tool.stderr, twin: twin.status, twinStderr: twin.stderr };
}

const popen = gcc(
  "popen-sh",
  '#include <stdio.h>\nint main(void){char b[16]={0};FILE*f=popen("echo hi","r");if(!f)return 2;if(!fgets(b,sizeof b,f)){pclose(f);return 3;}if(pclose(f)!=0)return 4;fputs(b,stdout);return 0;}\n',
);

t.test('popen("/bin/sh"): fails in both without /bin/sh, passes in both with it', async (t) => {
  const without = await verdicts([popen], [], popen);
  t.not(without.tool, 0, "the tool's --test fails");
  t.not(without.twin, 0, `the twin fails too (${without.twinStderr.trim()})`);
  t.match(without.toolStderr, /test failed/);
  const withSh = await verdicts([popen], ["--include", "/bin/sh"], popen);
  t.equal(withSh.tool, 0, withSh.toolStderr);
  t.equal(withSh.twin, 0, withSh.twinStderr);
});

t.test("mktemp: fails in both without /tmp, passes in both with --mkdir /tmp", async (t) => {
  const without = await verdicts(["/usr/bin/mktemp"], [], "/usr/bin/mktemp");
  t.equal(without.tool, 1, "the tool's --test fails");
  t.not(without.twin, 0, "the twin fails too");
  t.match(without.twinStderr, /\/tmp/);
  const withTmp = await verdicts(["/usr/bin/mktemp"], ["--mkdir", "/tmp"], "/usr/bin/mktemp");
  t.equal(withTmp.tool, 0, withTmp.toolStderr);
  t.equal(withTmp.twin, 0, withTmp.twinStderr);
});

t.test("tar -xJ: fails in both without xz, passes in both with --include /usr/bin/xz", async (t) => {
  const dir = join(base, "archive");
  mkdirSync(dir);
  writeFileSync(join(dir, "hello.txt"), "hello from xz\n");
  const archive = join(dir, "a.tar.xz");
  const made = spawnSync("tar", ["-cJf", archive, "-C", dir, "hello.txt"], { encoding: "utf8" });
  t.equal(made.status, 0, made.stderr);
  const command = `/usr/bin/tar -xJOf ${archive}`;
  const without = await verdicts(["/usr/bin/tar"], ["--include", archive], command);
  t.equal(without.tool, 1, "the tool's --test fails");
  t.not(without.twin, 0, "the twin fails too");
  t.match(without.twinStderr, /xz/);
  t.match(without.toolStderr, /xz/, "the failure names xz");
  const withXz = await verdicts(["/usr/bin/tar"], ["--include", archive, "--include", "/usr/bin/xz"], command);
  t.equal(withXz.tool, 0, withXz.toolStderr);
  t.equal(withXz.twin, 0, withXz.twinStderr);
});

const escape = gcc(
  "escape",
  '#include <stdio.h>\n#include <fcntl.h>\n#include <unistd.h>\n#include <sys/stat.h>\nint main(int c,char**v){mkdir("x",0755);if(chroot("x"))perror("chroot x");for(int i=0;i<64;i++)if(chdir(".."))perror("chdir");if(chroot("."))perror("chroot .");int fd=open(v[1],O_CREAT|O_WRONLY,0644);if(fd<0){perror(v[1]);return 1;}write(fd,"escaped\\n",8);close(fd);return 0;}\n',
);

t.test("a root program cannot leave the jail by the double chroot", async (t) => {
  t.equal(process.getuid?.(), 0, "this test runs as root, as a build does");
  const host = mkdtempSync(join(tmpdir(), "magicpak-escape-"));
  t.teardown(() => rmSync(host, { recursive: true, force: true }));
  const target = join(host, "escaped");
  const r = await magicpakCli([escape, fresh(), "--test", "--test-command", `${escape} ${target}`]);
  t.equal(r.status, 1, "the program fails: the host's path is not there");
  t.notOk(existsSync(target), "no file was written on the host");
  t.match(r.stderr, new RegExp(`${target}: No such file or directory`));
});

t.test("the program has a container's default capabilities, no_new_privs, and cannot mount", async (t) => {
  // The engines' common default (podman 5's list; docker's and podman 4's add net_raw, mknod and
  // audit_write): chown dac_override fowner fsetid kill setgid setuid setpcap net_bind_service
  // sys_chroot setfcap, bits 0 1 3 4 5 6 7 8 10 18 31 of linux/capability.h. test/podman checks
  // that a real container has at least these.
  const mask = "00000000800405fb";
  const r = await magicpakCli([
    "/usr/bin/true",
    fresh(),
    "--test",
    "--test-command",
    "grep -E '^(Cap|NoNewPrivs)' /proc/self/status | tr -d '\\t'; mount -t tmpfs tmpfs /proc 2>/dev/null || echo no-mount; umount -l /proc 2>/dev/null || echo no-umount",
    "--test-stdout",
    `CapInh:0000000000000000\nCapPrm:${mask}\nCapEff:${mask}\nCapBnd:${mask}\nCapAmb:0000000000000000\nNoNewPrivs:1\nno-mount\nno-umount`,
  ]);
  t.equal(r.status, 0, r.stderr);
});

t.test("the jail's namespaces, hostname, environment and network are its own", async (t) => {
  const kinds = ["uts", "net", "ipc", "pid", "mnt", "user"];
  const checks = kinds.map((n) => `[ "$(readlink /proc/self/ns/${n})" != ${shellQuote(readlinkSync(`/proc/self/ns/${n}`))} ] || echo same-${n}`).join("; ");
  const ns = await magicpakCli(["/usr/bin/true", fresh(), "--test", "--test-command", `${checks}; echo checked`, "--test-stdout", "checked"]);
  t.equal(ns.status, 0, ns.stderr);

  // As in a container with the default capabilities: sethostname needs CAP_SYS_ADMIN, which the program lacks.
  const before = hostname();
  const h = await magicpakCli(["/usr/bin/true", fresh(), "--test", "--test-command", "hostname magicpak-jail-x"]);
  t.equal(h.status, 1, h.stderr);
  t.match(h.stderr, /sethostname: Operation not permitted/);
  t.equal(hostname(), before, "the host's hostname is unchanged");

  const env = await magicpakCli(["/usr/bin/true", fresh(), "--test", "--test-command", "env | sort", "--test-stdout", "HOME=/\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]);
  t.equal(env.status, 0, env.stderr);

  const lo = await magicpakCli(["/usr/bin/true", fresh(), "--test", "--test-command", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '", "--test-stdout", "lo"]);
  t.equal(lo.status, 0, `loopback only: ${lo.stderr}`);
  const up = await magicpakCli(["/usr/bin/true", fresh(), "--test", "--test-command", "cat /sys/class/net/lo/operstate /sys/class/net/lo/flags", "--test-stdout", "unknown\n0x9"]);
  t.equal(up.status, 0, `loopback is up: ${up.stderr}`);

  const hostNet = readlinkSync("/proc/self/ns/net");
  const shared = await magicpakCli(["/usr/bin/true", fresh(), "--test", "--test-network", "host", "--test-command", "readlink /proc/self/ns/net", "--test-stdout", hostNet]);
  t.equal(shared.status, 0, `--test-network host: ${shared.stderr}`);
  const bad = await magicpakCli(["/usr/bin/true", fresh(), "--test", "--test-network", "bridge"]);
  t.equal(bad.status, 2, "an unknown --test-network is a usage error");
});

t.test("the jail's root is the bundle and runc's /dev, /proc and /sys; no harness in sight", async (t) => {
  const r = await magicpakCli([
    "/usr/bin/true",
    fresh(),
    "--no-package-records",
    "--test",
    "--test-command",
    "ls -a / /dev | tr '\\n' ' '",
    "--test-stdout",
    "/: . .. dev lib lib64 proc sys usr  /dev: . .. fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero",
  ]);
  t.equal(r.status, 0, r.stderr);
});

function processesMatching(text: string, anywhere = false): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").trim();
      if (anywhere ? cmdline.includes(text) : cmdline.startsWith(text)) found.push(`${pid}: ${cmdline}`);
    } catch {
      // gone
    }
  }
  return found;
}

async function waitFor(what: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (what()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return what();
}

/** The CLI started in the background with its own TMPDIR, so its temporary directories can be seen. */
function startCli(args: string[], tmp: string) {
  const child = spawn(process.execPath, [bin, ...args], { env: { PATH: toolsPath, TMPDIR: tmp }, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const exit = new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("close", (status, signal) => resolve({ status, signal })));
  return { child, exit, stderr: () => stderr };
}

t.test("--test-timeout: the command is killed, a test failure naming the timeout", async (t) => {
  const started = Date.now();
  const r = await magicpakCli(["/usr/bin/true", fresh(), "--test", "--test-timeout", "2", "--test-command", "sleep 31337"]);
  t.equal(r.status, 1);
  t.match(r.stderr, /test failed: test command "sleep 31337" timed out after 2 s/);
  t.ok(Date.now() - started < 20_000, "it did not wait for the sleep");
  t.same(processesMatching("sleep 31337"), [], "nothing left running");
  t.equal((await magicpakCli(["/usr/bin/true", fresh(), "--test", "--test-timeout", "soon"])).status, 2, "a bad value is a usage error");
});

for (const [signal, status, marker] of [
  ["SIGTERM", 143, "31338"],
  ["SIGINT", 130, "31339"],
] as const) {
  t.test(`${signal} of magicpak during the test: exit ${status}, no process, no temporary directory left`, async (t) => {
    const tmp = mkdtempSync(join(base, "tmp-"));
    const run = startCli(["/usr/bin/true", fresh(), "--compress", "--test", "--test-command", `sleep ${marker}`], tmp);
    t.ok(await waitFor(() => processesMatching(`sleep ${marker}`).length > 0, 60_000), "the test command runs");
    // The UPX scratch directory goes when the compress stage ends (the plan holds the packed bytes).
    t.ok(
      readdirSync(tmp).some((n) => n.startsWith("magicpak-jail-")),
      `the jail directory exists meanwhile: ${readdirSync(tmp).join(" ")}`,
    );
    run.child.kill(signal);
    const exit = await run.exit;
    t.equal(exit.status, status, run.stderr());
    t.ok(await waitFor(() => processesMatching(`sleep ${marker}`).length === 0, 5000), "the jail's processes are gone");
    t.same(processesMatching(`sleep ${marker}`), []);
    t.same(readdirSync(tmp), [], "no magicpak-jail-* or magicpak-upx-* left");
    t.same(processesMatching(tmp, true), [], "no unshare or setup shell of that jail left");
  });
}

t.test("SIGKILL of magicpak: the jail dies with it (pdeathsig)", async (t) => {
  const tmp = mkdtempSync(join(base, "tmp-"));
  const run = startCli(["/usr/bin/true", fresh(), "--test", "--test-command", "sleep 31340"], tmp);
  t.ok(await waitFor(() => processesMatching("sleep 31340").length > 0, 60_000), "the test command runs");
  run.child.kill("SIGKILL");
  await run.exit;
  t.ok(await waitFor(() => processesMatching("sleep 31340").length === 0, 5000), `nothing left: ${processesMatching("sleep 31340").join("; ")}`);
  t.ok(await waitFor(() => processesMatching(tmp, true).length === 0, 5000), `no unshare or setup shell of that jail left: ${processesMatching(tmp, true).join("; ")}`);
});

// As in a docker or podman build with default capabilities: user namespaces refused (a parent user
// namespace allows none) and CAP_SYS_ADMIN gone, so `unshare` fails for real; chroot still works.
function underReducedCaps(args: string[]): Promise<{ status: number | null; stderr: string; stdout: string }> {
  const inner = `echo 0 > /proc/sys/user/max_user_namespaces && exec setpriv --bounding-set -sys_admin --inh-caps -sys_admin "$@"`;
  return runProcess("unshare", ["--user", "--map-root-user", "sh", "-c", inner, "sh", process.execPath, bin, ...args], { env: { PATH: toolsPath } });
}

t.test("namespaces refused for real: the chroot fallback, one warning, the same verdicts", async (t) => {
  const probe = await underReducedCaps(["--version"]);
  t.equal(probe.status, 0, probe.stderr);
  const refused = await runProcess("unshare", [
    "--user",
    "--map-root-user",
    "sh",
    "-c",
    "echo 0 > /proc/sys/user/max_user_namespaces && setpriv --bounding-set -sys_admin --inh-caps -sys_admin unshare --mount true",
  ]);
  t.not(refused.status, 0, "unshare is refused there");

  const good = await underReducedCaps(["/usr/bin/ls", fresh(), "--test", "--test-command", "ls / | grep -c usr", "--test-stdout", "1"]);
  t.equal(good.status, 0, good.stderr);
  const warnings = good.stderr.split("\n").filter((l) => /WARN/.test(l));
  t.equal(warnings.length, 1, good.stderr);
  t.match(warnings[0], /plain chroot: namespaces are refused here/);
  t.match(warnings[0], /\/dev\/null/, "names the devices it could not make");

  const bad = await underReducedCaps(["/usr/bin/mktemp", fresh(), "--test", "--test-command", "/usr/bin/mktemp"]);
  t.equal(bad.status, 1, bad.stderr);
  t.match(bad.stderr, /test failed/);
  const fixed = await underReducedCaps(["/usr/bin/mktemp", fresh(), "--mkdir", "/tmp", "--test", "--test-command", "/usr/bin/mktemp"]);
  t.equal(fixed.status, 0, fixed.stderr);

  // The fallback is a chroot, but the program has no CAP_SYS_CHROOT: the double chroot fails.
  const host = mkdtempSync(join(tmpdir(), "magicpak-escape-fallback-"));
  t.teardown(() => rmSync(host, { recursive: true, force: true }));
  const target = join(host, "escaped");
  const escaped = await underReducedCaps([escape, fresh(), "--mkdir", "/work", "--test", "--test-command", `cd /work && ${escape} ${target}`]);
  t.match(escaped.stderr, /chroot x: Operation not permitted/, "chroot is refused to the program");
  t.notOk(existsSync(target), "no file was written on the host");
  t.notMatch(escaped.stderr, /can leave it/, "the warning does not claim the jail can be left");
});

t.test("runInJail, the exported primitive: status, isolation, timeout, a host wrapper, nothing left in the rootfs", async (t) => {
  const { runInJail } = await import("../../lib/index.js");
  const out = fresh();
  const made = await magicpakCli(["/usr/bin/true", out, "--no-package-records"]);
  t.equal(made.status, 0, made.stderr);
  const before = readdirSync(out).sort();
  const busybox = fixture("MAGICPAK_BUSYBOX");
  const r = await runInJail({ rootfs: out, command: "ls -a / | tr '\\n' ' '; readlink /proc/self/ns/pid; exit 3", busybox, wrapper: ["/usr/bin/env", "--"] });
  t.equal(r.status, 3, r.stderr);
  t.equal(r.isolation, "namespaces");
  t.equal(r.timedOut, false);
  t.match(r.stdout, /^\. \.\. dev lib lib64 proc sys usr pid:\[\d+\]\n$/);
  t.not(r.stdout.trim().split(" ").pop(), readlinkSync("/proc/self/ns/pid"));
  const slow = await runInJail({ rootfs: out, command: "sleep 31341", busybox, timeoutMs: 500 });
  t.equal(slow.timedOut, true);
  t.same(processesMatching("sleep 31341"), []);
  const env = await runInJail({ rootfs: out, command: "env | sort", busybox, env: { PATH: "/usr/bin", HOME: "/root", LANG: "C.UTF-8" } });
  t.equal(env.stdout, "HOME=/root\nLANG=C.UTF-8\nPATH=/usr/bin\n");
  t.same(readdirSync(out).sort(), before, "the rootfs is as before: no harness, no mount points left");
});

t.test("a new /proc refused, as in a podman build (masked /proc paths): the caller's is bound, one warning", async (t) => {
  // A file bound over a /proc entry makes the kernel refuse a fresh proc in any nested user
  // namespace (mount_too_revealing), which is what runc's masked paths do in a container.
  const inner = `mount --bind /dev/null /proc/cpuinfo && exec "$@"`;
  const cli = (args: string[]) => runProcess("unshare", ["--user", "--map-root-user", "--mount", "sh", "-c", inner, "sh", process.execPath, bin, ...args], { env: { PATH: toolsPath } });
  const refused = await runProcess("unshare", [
    "--user",
    "--map-root-user",
    "--mount",
    "sh",
    "-c",
    `${inner}`,
    "sh",
    "unshare",
    "--user",
    "--map-root-user",
    "--mount",
    "--pid",
    "--fork",
    "--mount-proc",
    "true",
  ]);
  t.not(refused.status, 0, `a fresh /proc is refused there: ${refused.stderr.trim()}`);
  const good = await cli(["/usr/bin/ls", fresh(), "--test", "--test-command", "ls / | grep -c usr; readlink /proc/self/exe >/dev/null && echo proc", "--test-stdout", "1\nproc"]);
  t.equal(good.status, 0, good.stderr);
  const warnings = good.stderr.split("\n").filter((l) => /WARN/.test(l));
  t.equal(warnings.length, 1, good.stderr);
  t.match(warnings[0], /\/proc is the caller's, bound: a new \/proc is refused here/);
  const bad = await cli(["/usr/bin/mktemp", fresh(), "--test", "--test-command", "/usr/bin/mktemp"]);
  t.equal(bad.status, 1, bad.stderr);
  t.match(bad.stderr, /test failed/);
  const host = mkdtempSync(join(tmpdir(), "magicpak-escape-masked-"));
  t.teardown(() => rmSync(host, { recursive: true, force: true }));
  const escaped = join(host, "escaped");
  const esc = await cli([escape, fresh(), "--mkdir", "/work", "--test", "--test-command", `cd /work && ${escape} ${escaped}`]);
  t.equal(esc.status, 1, esc.stderr);
  t.notOk(existsSync(escaped), "no file was written outside the jail");
});

t.test("user namespaces refused but CAP_SYS_ADMIN kept: the other namespaces and pivot_root, one warning", async (t) => {
  const inner = `echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"`;
  const cli = (args: string[]) => runProcess("unshare", ["--user", "--map-root-user", "sh", "-c", inner, "sh", process.execPath, bin, ...args], { env: { PATH: toolsPath } });
  const mnt = readlinkSync("/proc/self/ns/mnt");
  const good = await cli([
    "/usr/bin/ls",
    fresh(),
    "--test",
    "--test-command",
    `ls / | grep -c usr; [ "$(readlink /proc/self/ns/mnt)" != ${shellQuote(mnt)} ] && echo own-mnt`,
    "--test-stdout",
    "1\nown-mnt",
  ]);
  t.equal(good.status, 0, good.stderr);
  const warnings = good.stderr.split("\n").filter((l) => /WARN/.test(l));
  t.equal(warnings.length, 1, good.stderr);
  t.match(warnings[0], /no user namespace/);
  const bad = await cli(["/usr/bin/mktemp", fresh(), "--test", "--test-command", "/usr/bin/mktemp"]);
  t.equal(bad.status, 1, bad.stderr);
  t.match(bad.stderr, /test failed/);
});
