// --dynamic-test and --dynamic on a root of another architecture (issue #12.4): the arm64 root's
// programs are traced on this x86_64 host through qemu-user (binfmt_misc in the workload's own
// user namespace). Expected outputs come from the same commands run in the whole arm64 root through
// qemu outside any jail (test/support/foreign.ts, none of lib/); each bundle must then pass again in
// that helper's jail holding only the bundle (and an arm64 busybox).
//
// Native ground truth: the C program of test/native/trace-aarch64.test.ts (which checks on a real
// arm64 kernel in qemu-system-aarch64 that it reports, from /proc/self/fd, /proc/self/exe, getcwd
// and /proc/self/maps, exactly what the kernel saw it do), cross-compiled, must have every one of
// its reports recorded with the aarch64 kind of call, across fork, threads, vfork, fexecve, a #!
// script and dlopen. The reverse direction (an amd64 root on an arm64 host) is the same code path
// with the other emulator: run here as an amd64 root traced through qemu-x86_64, it must give the
// same plan as the native trace.

import t, { type Test } from "tap";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture } from "../support/fixtures.js";
import { harnessPiecesIn, inFullRoot, withForeignJail } from "../support/foreign.js";
import { bundleStats, describeStats, magicpakCli, pathInJail, runProcess, shellQuote } from "../support/scratch-jail.js";
import { AARCH64_CALLS, expectedReports, makeTracedProgram, reports, TRACED_PROGRAM_STDOUT, tracedLayout, unrecorded } from "../support/traced-program.js";
import { bundle } from "../../lib/bundle/bundle.js";
import { chooseWorkloadPlatform } from "../../lib/bundle/workload-platform.js";
import { runWorkload } from "../../lib/trace/workload.js";

const work = mkdtempSync(join(tmpdir(), "magicpak-e2e-dynforeign-"));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const arm64 = fixture("MAGICPAK_ARM64_ROOT");
const qemu = fixture("MAGICPAK_QEMU_AARCH64");
const busyboxArm64 = fixture("MAGICPAK_BUSYBOX_ARM64");

/** No qemu or busybox (by name or by content) in OUTPUT. */
function assertNoHarness(t: Test, out: string): void {
  t.same(harnessPiecesIn(out, [qemu, busyboxArm64, fixture("MAGICPAK_BUSYBOX")]), [], "no qemu, no busybox, no /.magicpak in OUTPUT");
}

/** PROG from the arm64 root with only --dynamic-test --test: the reference's output, in both jails. */
async function bundleAndRun(t: Test, name: string, program: string, command: string, options: { stdin?: string; files?: string[]; extra?: string[] } = {}): Promise<string> {
  const expected = await inFullRoot(command, { stdin: options.stdin });
  const out = join(work, name);
  const stdin = options.stdin !== undefined ? ["--test-stdin", options.stdin] : [];
  const r = await magicpakCli(["--root", arm64, program, out, ...(options.extra ?? ["--dynamic-test"]), "--test", "--test-command", command, ...stdin, "--test-stdout", expected.trim()]);
  t.equal(
    r.status,
    0,
    `bundled from the arm64 root with ${(options.extra ?? ["--dynamic-test"]).map((a) => (a.length > 30 ? shellQuote(a.slice(0, 24) + "…") : a)).join(" ")} and tested under qemu (${r.ms} ms)`,
    { stderr: r.stderr },
  );
  if (!existsSync(out)) return out;
  t.comment(`${name}: ${describeStats(bundleStats(out))}`);
  for (const file of options.files ?? []) t.ok(existsSync(pathInJail(out, file)), `${file} came in because it was used`);
  assertNoHarness(t, out);
  await withForeignJail(out, async (jail) => {
    const run = await jail.run(command, { stdin: options.stdin });
    t.equal(run.status, 0, "runs in the independent jail under qemu", { stderr: run.stderr });
    t.equal(run.stdout, expected, "the output of the reference run");
  });
  return out;
}

t.test("arm64 python3: json, hashlib, sqlite3 and zlib, only --dynamic-test", async (t) => {
  const blob = randomBytes(12).toString("hex");
  const program = [
    "import sys, json, hashlib, sqlite3, zlib, platform",
    "c = sqlite3.connect(':memory:'); c.execute('create table t(x)'); c.execute('insert into t values (41)')",
    `print(json.dumps({'m': platform.machine(), 'h': hashlib.sha256(b'${blob}').hexdigest(), 'x': c.execute('select x+1 from t').fetchone()[0], 'z': len(zlib.compress(b'a' * 1000))}, sort_keys=True))`,
  ].join("\n");
  await bundleAndRun(t, "python3", "/usr/bin/python3", `python3 -I -c ${shellQuote(program)}`, {
    files: [
      "/usr/lib/python3.11/json/__init__.py",
      "/usr/lib/python3.11/sqlite3/__init__.py",
      "/usr/lib/python3.11/lib-dynload/_sqlite3.cpython-311-aarch64-linux-gnu.so",
      "/usr/lib/aarch64-linux-gnu/libsqlite3.so.0",
    ],
  });
});

t.test("arm64 bash: a script on stdin that calls coreutils, each exec'd through qemu", async (t) => {
  const script = [
    "set -eo pipefail",
    "printf '%s\\n' delta alpha charlie bravo | sort | tr a-z A-Z | head -n 3",
    "printf 'magicpak' | sha256sum | cut -c1-16",
    "date -u -d @86400 +%F; basename /a/b/c.txt .txt; seq 3 | wc -l; uname -m",
    "",
  ].join("\n");
  const used = ["sort", "tr", "head", "sha256sum", "cut", "date", "basename", "seq", "wc", "uname"];
  const out = await bundleAndRun(t, "bash", "/usr/bin/bash", "bash", { stdin: script, files: used.map((n) => `/usr/bin/${n}`) });
  // Only what the script ran: coreutils it never called stay out.
  t.notOk(existsSync(pathInJail(out, "/usr/bin/ls")), "ls, never run, is not in OUTPUT");
});

t.test("arm64 python3 with 1.4.0's --dynamic and --dynamic-arg (traced as one program under qemu)", async (t) => {
  const code = "import json, email.message; m = email.message.EmailMessage(); m['To'] = 'a@b'; print(json.dumps([m['To']]))";
  await bundleAndRun(t, "python3-dynamic", "/usr/bin/python3", `python3 -c ${shellQuote(code)}`, {
    extra: ["--dynamic", "--dynamic-arg", "-c", "--dynamic-arg", code],
    files: ["/usr/lib/python3.11/email/message.py"],
  });
});

t.test("the aarch64 trace program: every report of its own is recorded with the aarch64 call, as on a real arm64 kernel", async (t) => {
  // A copy of the root (a shared fixture) with the program cross-compiled into it.
  const root = join(work, "arm64-traced");
  const copy = await runProcess("cp", ["-a", `${arm64}/.`, `${root}/`]);
  if (copy.status !== 0) throw new Error(`cannot copy the arm64 root: ${copy.stderr}`);
  const layout = tracedLayout("/t/app", "/t/work");
  const gcc = join(fixture("MAGICPAK_TOOLS"), "aarch64-linux-gnu-gcc");
  await makeTracedProgram(root, layout, async (out, source, ...args) => {
    const { writeFileSync } = await import("node:fs");
    writeFileSync(`${out}.c`, source);
    const r = await runProcess(gcc, ["-O1", "-o", out, `${out}.c`, ...args]);
    if (r.status !== 0) throw new Error(`aarch64-linux-gnu-gcc could not build ${out}.c: ${r.stderr}`);
    rmSync(`${out}.c`);
  });
  const platform = chooseWorkloadPlatform({ architecture: "arm64", busybox: fixture("MAGICPAK_BUSYBOX"), emulator: qemu });
  t.ok(platform.emulation, "the arm64 root is traced through qemu-aarch64");
  const run = await runWorkload({
    command: `${layout.prog} ${layout.work}`,
    env: { PATH: "/usr/bin:/bin", HOME: "/" },
    root,
    busybox: platform.busybox,
    timeoutMs: 120_000,
    emulation: platform.emulation!,
  });
  t.same([run.status, run.signal, run.timedOut], [0, null, false], "exit 0 under qemu", { stderr: run.stderr });
  t.equal(run.stdout, TRACED_PROGRAM_STDOUT, "its output, as on the arm64 kernel");
  // qemu-user 7.2 has no execveat: glibc's fexecve falls back to execve("/proc/self/fd/N"), and
  // qemu's emulated /proc/self/exe then cannot name the file, so that one report is "exec ?".
  const own = reports(run.stderr);
  const fexecve: [string, string] = ["exec", layout.fexeced];
  const missing = expectedReports(layout).filter(([kind, path]) => !own.some(([k, p]) => k === kind && p === path));
  t.same(missing, [fexecve], "the program reported everything it does but its fexecve (see above)");
  t.same(unrecorded(run.stderr, run, AARCH64_CALLS), [], `each of its ${own.length} reports is among the ${run.accesses.length} recorded accesses, with the aarch64 kind of call`);
  t.ok(
    run.accesses.some((a) => a.syscall === "execve" && a.path === layout.fexeced && a.exe === layout.fexeced),
    "the fexecve'd program, by the descriptor's file, as execveat on the arm64 kernel",
  );
  t.same(
    run.accesses.filter((a) => /qemu|\.magicpak-harness/.test(a.path) || a.exe.includes("qemu")).map((a) => a.path),
    [],
    "nothing of qemu's or of the harness",
  );
  // The kernel starts a script's interpreter with no call of the process's own: no tracer sees
  // /bin/sh, so the plan takes it from the script's #! line.
  const { graph } = await bundle({
    inputs: [layout.prog],
    root,
    dynamicTest: { testCommand: false, commands: [`${layout.prog} ${layout.work}`] },
    test: { busybox: fixture("MAGICPAK_BUSYBOX"), emulator: qemu, command: `${layout.prog} ${layout.work}`, stdout: TRACED_PROGRAM_STDOUT.trim() },
  });
  const has = (path: string) => graph.entries().some((e) => e.path === path);
  t.ok(
    has(`${layout.work}/data/child.txt`) && has(`${layout.app}/plugins/libplugin.so`) && has(layout.helper) && has(layout.fexeced) && has(layout.script),
    "the plan has what the program and its children used",
  );
  t.ok(has("/usr/bin/dash"), "and the script's interpreter (/bin/sh -> dash), from its #! line");
});

t.test("the reverse direction's code path: an amd64 root traced through qemu-x86_64 gives the native plan", async (t) => {
  const amd64 = fixture("MAGICPAK_AMD64_ROOT");
  const command = "python3 -c 'import json, hashlib; print(json.dumps([hashlib.md5(b\"x\").hexdigest()]))'";
  // The emulator must really run the program: from outside it, a stopped python3's /proc/PID/exe.
  const platform = chooseWorkloadPlatform({ architecture: "amd64", busybox: fixture("MAGICPAK_BUSYBOX"), emulator: fixture("MAGICPAK_QEMU_X86_64"), emulateHostArchitecture: true });
  const probe = await runWorkload({
    command: "python3 -c 'import os, signal; os.kill(os.getpid(), signal.SIGSTOP)' & p=$!; sleep 1; readlink /proc/$p/exe; kill -9 $p",
    env: { PATH: "/usr/bin:/bin", HOME: "/" },
    root: amd64,
    busybox: platform.busybox,
    timeoutMs: 60_000,
    emulation: platform.emulation!,
  });
  t.match(probe.stdout, /qemu-x86_64-static\n$/, "python3 ran as a qemu-x86_64 process", { stderr: probe.stderr });
  const plan = async (emulateHostArchitecture: boolean) => {
    const { graph } = await bundle({
      inputs: ["/usr/bin/python3"],
      root: amd64,
      test: { busybox: fixture("MAGICPAK_BUSYBOX"), emulator: fixture("MAGICPAK_QEMU_X86_64"), command, stdout: JSON.stringify([createHash("md5").update("x").digest("hex")]) },
      dynamicTest: { emulateHostArchitecture },
    });
    return graph
      .entries()
      .map((e) => `${e.kind} ${e.path}`)
      .sort();
  };
  const native = await plan(false);
  const emulated = await plan(true);
  t.ok(
    native.some((e) => e === "file /usr/lib/python3.11/json/encoder.py"),
    `the native plan has the modules the run imported (${native.length} entries)`,
  );
  t.same(
    emulated.filter((e) => !native.includes(e)),
    [],
    "nothing more through the emulator",
  );
  t.same(
    native.filter((e) => !emulated.includes(e)),
    [],
    "nothing less through the emulator",
  );
});

t.test("a foreign root without its emulator: one line naming it, exit 1, no OUTPUT", async (t) => {
  const out = join(work, "refused");
  const r = await magicpakCli(["--root", arm64, "/usr/bin/python3", out, "--dynamic-test", "--test", "--emulator", "/nonexistent/qemu-aarch64-static", "--test-command", "python3 -c 1"]);
  t.equal(r.status, 1);
  t.match(r.stderr, /^error: --dynamic-test: \/nonexistent\/qemu-aarch64-static: emulator not found: .*--emulator PATH\n$/);
  t.notOk(existsSync(out), "no OUTPUT");
});
