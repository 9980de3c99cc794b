// The native addon's ptrace tracer on aarch64, on a real aarch64 Linux kernel: qemu-user does not
// implement ptrace for its guests, so bookworm's arm64 kernel boots in qemu-system-aarch64 (TCG)
// with an initramfs made here. It holds node and strace for arm64 (bundled by magicpak itself from
// the provisioned guest root), Debian's static arm64 busybox, the aarch64 addon that test/run.js
// cross-compiles (scripts/build-native-arm64.sh), programs of our own cross-compiled with
// aarch64-linux-gnu-gcc, and magicpak's strace tracer (lib/trace/strace.ts, bundled into one file
// by esbuild). /init runs a driver in node that calls the addon's trace() and prints every result
// as JSON on the console, then powers the machine off.
//
// Expected answers come from the same machine: the program (test/support/traced-program.ts, the one
// test/native/trace.test.ts traces on x86_64) reports what it opened, stat'ed, executed and loaded
// as the kernel sees it (/proc/self/fd, /proc/self/exe, getcwd, /proc/self/maps), run with and
// without a tracer, and strace(1) traces the same program there; every path the program reports
// and every (system call, path) strace sees must be among what the addon recorded.

import t from "tap";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { cpioNewc } from "../support/cpio.js";
import { AARCH64_CALLS, checkTracedRun, expectedReports, kernelPaths, makeTracedProgram, reports, TOOLS_SOURCE, tracedLayout, TRACED_PROGRAM_STDOUT, unrecorded } from "../support/traced-program.js";
import { fixture } from "../support/fixtures.js";
import { magicpakCli, runProcess } from "../support/scratch-jail.js";

const packageRoot = new URL("../../../", import.meta.url).pathname;
const addonPath = join(packageRoot, "native/magicpak.linux-arm64-gnu.node");
const buildNote = process.env["MAGICPAK_NATIVE_ARM64_BUILD"];
if (!existsSync(addonPath)) {
  throw new Error(`the aarch64 addon is required by these tests: ${addonPath} is absent (${buildNote ?? "build it with npm run build:native:arm64"})`);
}

const base = realpathSync(mkdtempSync(join(tmpdir(), "magicpak-native-aarch64-")));
t.teardown(() => rmSync(base, { recursive: true, force: true }));

// Paths inside the VM.
const APP = "/t/app";
const WORK = "/t/work";
const LAYOUT = tracedLayout(APP, WORK);
const { prog: PROG, helper: HELPER } = LAYOUT;
const TOOLS = "/t/tools";
const ADDON = "/magicpak/magicpak.linux-arm64-gnu.node";
const BEGIN = "=====MAGICPAK-AARCH64-RESULT-BEGIN=====";
const END = "=====MAGICPAK-AARCH64-RESULT-END=====";

/** The driver node runs in the VM: every result as one JSON line between the markers. */
const DRIVER = `import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { machine } from "node:os";
import { traceWithStrace } from "./strace.mjs";

const started = process.hrtime.bigint();
const addon = createRequire(import.meta.url)(${JSON.stringify(ADDON)});
const text = (r) => ({ ...r, stdout: Buffer.from(r.stdout).toString(), stderr: Buffer.from(r.stderr).toString() });
const attempt = async (f) => { try { return { ok: await f() }; } catch (e) { return { error: String(e && e.message || e) }; } };
const trace = (request) => attempt(() => text(addon.trace({ timeoutMs: 120000, ...request })));
const untraced = spawnSync(${JSON.stringify(PROG)}, [${JSON.stringify(WORK)}], { encoding: "utf8" });
const result = {
  kernel: readFileSync("/proc/version", "utf8").trim(),
  machine: machine(),
  arch: process.arch,
  node: process.version,
  version: addon.version(),
  syscalls: addon.syscalls(),
  untraced: { status: untraced.status, signal: untraced.signal, stdout: untraced.stdout, stderr: untraced.stderr },
  prog: await trace({ argv: [${JSON.stringify(PROG)}, ${JSON.stringify(WORK)}] }),
  strace: await attempt(() => traceWithStrace({ argv: [${JSON.stringify(PROG)}, ${JSON.stringify(WORK)}], timeoutMs: 120000 }, "/usr/bin/strace")),
  exit7: await trace({ argv: ["/bin/sh", "-c", "exit 7"] }),
  segv: await trace({ argv: [${JSON.stringify(TOOLS)}, "segv"] }),
  usr1: await trace({ argv: [${JSON.stringify(TOOLS)}, "signal"] }),
  stop: await trace({ argv: [${JSON.stringify(TOOLS)}, "stop"] }),
  threadExec: await trace({ argv: [${JSON.stringify(TOOLS)}, "thread-exec", ${JSON.stringify(HELPER)}] }),
  timeout: await trace({ argv: ["/bin/sh", "-c", "sleep 60 & sleep 60 & wait"], timeoutMs: 3000 }),
  notFound: await trace({ argv: ["no-such-program-here"], env: { PATH: "/usr/bin:/bin" } }),
};
result.driverMs = Number(process.hrtime.bigint() - started) / 1e6;
console.log("\\n${BEGIN}");
console.log(JSON.stringify(result));
console.log("${END}");
`;

const INIT = `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
export PATH=/usr/bin:/bin HOME=/
echo "init: started at $(/bin/busybox cut -d' ' -f1 /proc/uptime) s"
/usr/bin/node /magicpak/driver.mjs
echo "init: driver exited with $? at $(/bin/busybox cut -d' ' -f1 /proc/uptime) s"
/bin/busybox poweroff -f
`;

interface Access {
  pid: number;
  syscall: string;
  path: string;
}
interface Traced {
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  accesses: Access[];
  tracer: string;
  timedOut?: boolean;
  tasks?: number;
  elapsedMs?: number;
}
type Attempt<T> = { ok: T; error?: undefined } | { ok?: undefined; error: string };
interface VmResult {
  kernel: string;
  machine: string;
  arch: string;
  node: string;
  version: string;
  syscalls: string[];
  untraced: { status: number | null; signal: string | null; stdout: string; stderr: string };
  prog: Attempt<Traced>;
  strace: Attempt<Traced>;
  exit7: Attempt<Traced>;
  segv: Attempt<Traced>;
  usr1: Attempt<Traced>;
  stop: Attempt<Traced>;
  threadExec: Attempt<Traced>;
  timeout: Attempt<Traced>;
  notFound: Attempt<Traced>;
  driverMs: number;
}

async function crossCompile(out: string, source: string, ...args: string[]): Promise<void> {
  writeFileSync(`${out}.c`, source);
  const gcc = join(fixture("MAGICPAK_TOOLS"), "aarch64-linux-gnu-gcc");
  const r = await runProcess(gcc, ["-O1", "-o", out, `${out}.c`, ...args]);
  if (r.status !== 0) throw new Error(`aarch64-linux-gnu-gcc could not build ${out}.c: ${r.stderr}`);
  rmSync(`${out}.c`);
}

/** The initramfs tree: node and strace bundled by magicpak, busybox, the addon, the programs, the driver. */
async function makeTree(tree: string): Promise<{ bundleMs: number }> {
  const guest = fixture("MAGICPAK_VM_GUEST_ROOT");
  const started = Date.now();
  // Debian's node reads some of its built-in modules from /usr/share/nodejs at start-up.
  const bundled = await magicpakCli(["--root", guest, "-i", "/usr/share/nodejs", "/usr/bin/node", "/usr/bin/strace", tree]);
  if (bundled.status !== 0) throw new Error(`magicpak could not bundle node and strace from ${guest}: ${bundled.stderr}`);
  const bundleMs = Date.now() - started;
  for (const dir of ["bin", "proc", "sys", "dev", "tmp", "magicpak"]) mkdirSync(join(tree, dir), { recursive: true });
  chmodSync(join(tree, "tmp"), 0o1777);
  copyFileSync(fixture("MAGICPAK_BUSYBOX_ARM64"), join(tree, "bin/busybox"));
  chmodSync(join(tree, "bin/busybox"), 0o755);
  symlinkSync("busybox", join(tree, "bin/sh"));
  copyFileSync(addonPath, join(tree, ADDON.slice(1)));
  await build({
    entryPoints: [join(packageRoot, "dist/lib/trace/strace.js")],
    outfile: join(tree, "magicpak/strace.mjs"),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node18",
    logLevel: "error",
  });
  writeFileSync(join(tree, "magicpak/driver.mjs"), DRIVER);
  writeFileSync(join(tree, "init"), INIT, { mode: 0o755 });

  // glibc >= 2.34 has dlopen and pthreads in libc.so.6: nothing but libc (in node's closure) is needed.
  await makeTracedProgram(tree, LAYOUT, crossCompile);
  await crossCompile(join(tree, TOOLS.slice(1)), TOOLS_SOURCE);
  return { bundleMs };
}

/** Boots the VM with the initramfs; the console output, and the wall time. */
async function boot(initrd: string) {
  const args = [
    ...["-M", "virt", "-cpu", "cortex-a57", "-smp", "1", "-m", "1024"],
    ...["-nographic", "-no-reboot", "-nic", "none"],
    ...["-kernel", fixture("MAGICPAK_VM_KERNEL"), "-initrd", initrd],
    ...["-append", "console=ttyAMA0 rdinit=/init panic=-1 quiet loglevel=1"],
  ];
  return runProcess(fixture("MAGICPAK_VM_QEMU"), args, { timeoutMs: 600_000 });
}

let vm: VmResult | null = null;

t.test("the aarch64 addon, node and strace for arm64 and the test programs boot on an aarch64 kernel", async (t) => {
  if (buildNote !== undefined) t.match(buildNote, /^built in /, "test/run.js built the aarch64 addon (scripts/build-native-arm64.sh)");
  const tree = join(base, "initramfs");
  mkdirSync(tree);
  const { bundleMs } = await makeTree(tree);
  const initrd = join(base, "initrd.cpio");
  const archive = cpioNewc(tree);
  writeFileSync(initrd, archive);
  const run = await boot(initrd);
  const console_ = run.stdout.replace(/\r/g, "");
  const begin = console_.indexOf(`${BEGIN}\n`);
  const end = console_.indexOf(END, begin);
  t.equal(run.status, 0, "qemu-system-aarch64 ran the VM to its power-off", { stderr: run.stderr.slice(-2000) });
  t.ok(begin >= 0 && end > begin, "the driver printed its result", { console: console_.slice(-4000) });
  if (begin < 0 || end < begin) return;
  vm = JSON.parse(console_.slice(begin + BEGIN.length + 1, end)) as VmResult;
  const timeline = console_
    .split("\n")
    .filter((l) => l.startsWith("init: "))
    .join("; ");
  t.comment(
    `bundled node and strace in ${bundleMs} ms; initramfs of ${(archive.length / 2 ** 20).toFixed(0)} MiB; ${(run.ms / 1000).toFixed(1)} s from qemu's start to power-off (${timeline}); driver ${(vm.driverMs / 1000).toFixed(1)} s`,
  );
  t.equal(vm.machine, "aarch64", `uname -m on a real aarch64 kernel: ${vm.kernel}`);
  t.equal(vm.arch, "arm64", `node ${vm.node} runs natively on it`);
  t.equal(vm.version, "0.1.0", "the addon loads in node on aarch64");
});

t.test("on aarch64 the tracer records the *at system calls (asm-generic has no open, stat, access, readlink)", async (t) => {
  if (!vm) return t.fail("the VM produced no result");
  t.same([...vm.syscalls].sort(), ["execve", "execveat", "faccessat", "faccessat2", "newfstatat", "openat", "openat2", "readlinkat", "statx"], "syscalls()");
  t.notOk(
    vm.syscalls.some((s) => ["open", "stat", "lstat", "access", "readlink"].includes(s)),
    "none of the x86_64-only calls",
  );
  // The names strace (its own aarch64 table) gives the calls of the program: all are ones we record.
  const straced = new Set(vm.strace.ok?.accesses.map((a) => a.syscall) ?? []);
  t.ok(straced.size > 0, "strace saw the program's file calls", { error: vm.strace.error });
  t.same(
    [...straced].filter((s) => !vm!.syscalls.includes(s)),
    [],
    `strace's calls (${[...straced].sort().join(", ")}) are all in syscalls()`,
  );
});

t.test("the program runs the same without a tracer, and reports what the kernel saw it do", async (t) => {
  if (!vm) return t.fail("the VM produced no result");
  t.same([vm.untraced.status, vm.untraced.signal], [0, null], "exit status 0", { stderr: vm.untraced.stderr });
  t.equal(vm.untraced.stdout, TRACED_PROGRAM_STDOUT);
  const reported = reports(vm.untraced.stderr);
  for (const [kind, path] of expectedReports(LAYOUT)) {
    t.ok(
      reported.some(([k, p]) => k === kind && p === path),
      `it reports ${kind} ${path}`,
      { reported },
    );
  }
});

t.test("the addon's trace on aarch64: every file the program reports, across fork, threads, vfork and exec", async (t) => {
  if (!vm) return t.fail("the VM produced no result");
  const r = vm.prog.ok;
  t.ok(r, "trace() returned", { error: vm.prog.error });
  if (!r) return;
  checkTracedRun(t, r, LAYOUT, AARCH64_CALLS);
  t.equal(r.tracer, "native");

  // The program's own report of this traced run, and of the run without a tracer: all recorded.
  for (const [run, stderr] of [
    ["traced", r.stderr],
    ["untraced", vm.untraced.stderr],
  ] as const) {
    t.same(unrecorded(stderr, r, AARCH64_CALLS), [], `every path the ${run} program reported is recorded with its kind of call`);
  }
  const pids = new Set(r.accesses.map((a) => a.pid));
  t.comment(`${r.accesses.length} accesses by ${pids.size} processes (${r.tasks} tasks) in ${r.elapsedMs?.toFixed(0)} ms under TCG`);
});

t.test("strace on the same aarch64 kernel sees no (system call, path) that the addon misses", async (t) => {
  if (!vm) return t.fail("the VM produced no result");
  const ours = vm.prog.ok;
  const theirs = vm.strace.ok;
  t.ok(ours && theirs, "both traces ran", { native: vm.prog.error, strace: vm.strace.error });
  if (!ours || !theirs) return;
  t.equal(theirs.status, 0, "the program succeeded under strace", { stderr: theirs.stderr });
  const key = (a: Access) => `${a.syscall} ${a.path}`;
  const mine = new Set(ours.accesses.map(key));
  const straced = new Set(theirs.accesses.filter((a) => kernelPaths([a.path]).length === 0).map(key));
  const missed = [...straced].filter((k) => !mine.has(k));
  t.same(missed, [], `each of strace's ${straced.size} (call, path) pairs outside /proc, /sys and /dev is among our ${mine.size}`);
  t.comment(`recorded by the native tracer only: ${[...mine].filter((k) => !straced.has(k)).join(", ") || "nothing"}`);
});

t.test("exit status, killing signal, forwarded signals, stops, exec from a thread, the timeout on aarch64", async (t) => {
  if (!vm) return t.fail("the VM produced no result");
  const result = (a: Attempt<Traced>) => a.ok ?? { status: "error", signal: a.error, stdout: "", accesses: [] as Access[], timedOut: undefined };
  t.same([result(vm.exit7).status, result(vm.exit7).signal], [7, null], "exit status 7");
  t.same([result(vm.segv).status, result(vm.segv).signal], [null, "SIGSEGV"], "killed by SIGSEGV");
  t.same([result(vm.usr1).status, result(vm.usr1).signal], [42, null], "SIGUSR1 reached the program's handler");
  t.same([result(vm.stop).status, result(vm.stop).timedOut], [5, false], "a SIGSTOP does not leave it stopped");
  const te = result(vm.threadExec);
  t.same([te.status, te.stdout], [0, "helper ran\n"], "a thread that execs: the helper ran");
  const exec = te.accesses.find((a) => a.syscall === "execve" && a.path === HELPER);
  t.equal(exec?.pid, te.accesses.find((a) => a.path === TOOLS)?.pid, "its exec is recorded under the leader's pid");
  const to = result(vm.timeout);
  t.same([to.timedOut, to.status, to.signal], [true, null, "SIGKILL"], "the timeout killed the traced tree");
  t.match(vm.notFound.error ?? "", /no-such-program-here: not found in PATH/, "a program not in PATH is an error");
});
