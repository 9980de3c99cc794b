// The native ptrace tracer, on programs of our own compiled here with gcc: what it records (all
// absolute, only successful calls, nothing under /proc, /sys or /dev, across fork, vfork, threads
// and exec), and how it runs the program (output drained while it runs, stdin, exit status and
// signals, signals forwarded, stops resumed, the timeout kills the whole tree). The same program is
// also traced by strace(1) through magicpak's strace tracer: every file strace sees, ours sees.
//
// The program (test/support/traced-program.ts, the one test/native/trace-aarch64.test.ts runs on
// aarch64) reports what it did as the kernel sees it (/proc/self/fd, /proc/self/exe, getcwd,
// /proc/self/maps): every path it reports must be recorded with its kind of call, by either tracer.

import t from "tap";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nativeAddon, nativeStatus, traceNative } from "../../lib/native/addon.js";
import { traceWithStrace, findStrace } from "../../lib/trace/strace.js";
import {
  checkTracedRun,
  expectedReports,
  kernelPaths,
  makeTracedProgram,
  paths,
  reports,
  tracedLayout,
  TOOLS_SOURCE,
  TRACED_PROGRAM_STDOUT,
  unrecorded,
  X86_64_CALLS,
} from "../support/traced-program.js";

if (!nativeAddon()) throw new Error(`the native addon is required by these tests: ${nativeStatus()} (${process.env["MAGICPAK_NATIVE_BUILD"] ?? "run npm run build:native"})`);

const base = realpathSync(mkdtempSync(join(tmpdir(), "magicpak-native-trace-")));
t.teardown(() => rmSync(base, { recursive: true, force: true }));

const app = join(base, "app");
const work = join(base, "work");
const layout = tracedLayout(app, work);
const { prog, helper } = layout;

function gcc(out: string, source: string, ...args: string[]): string {
  writeFileSync(`${out}.c`, source);
  try {
    execFileSync("gcc", ["-O1", "-o", out, `${out}.c`, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  } catch (error) {
    throw new Error(`gcc is required by these tests (and must build ${out}.c): ${(error as Error).message}`);
  }
  return out;
}

await makeTracedProgram("/", layout, gcc, ["-ldl", "-lpthread"]);

const tools = gcc(join(base, "tools"), TOOLS_SOURCE, "-lpthread");

const OPEN = X86_64_CALLS.open;
const EXEC = X86_64_CALLS.exec;

t.test("the program runs the same without a tracer, and reports what the kernel saw it do", async (t) => {
  const r = spawnSync(prog, [work], { encoding: "utf8" });
  t.same([r.status, r.signal], [0, null], "exit status 0", { stderr: r.stderr });
  t.equal(r.stdout, TRACED_PROGRAM_STDOUT);
  const reported = reports(r.stderr);
  for (const [kind, path] of expectedReports(layout)) {
    t.ok(
      reported.some(([k, p]) => k === kind && p === path),
      `it reports ${kind} ${path}`,
      { reported },
    );
  }
});

t.test("records the files of a program of our own, as absolute paths, across fork, threads, vfork and exec", async (t) => {
  const r = await traceNative({ argv: [prog, work], timeoutMs: 30000 });
  checkTracedRun(t, r, layout, X86_64_CALLS);
  t.equal(r.tracer, "native");
  t.ok(paths(r, OPEN).has("/etc/ld.so.cache"), "what the loader opens");
  // The program's own report of this traced run, and of a run without a tracer: all recorded.
  const untraced = spawnSync(prog, [work], { encoding: "utf8" });
  for (const [run, stderr] of [
    ["traced", r.stderr],
    ["untraced", untraced.stderr],
  ] as const) {
    t.same(unrecorded(stderr, r, X86_64_CALLS), [], `every path the ${run} program reported is recorded with its kind of call`);
  }
  const pids = new Set(r.accesses.map((a) => a.pid));
  t.comment(`${r.accesses.length} accesses by ${pids.size} processes (${r.tasks} tasks) in ${r.elapsedMs.toFixed(0)} ms`);
});

t.test("strace sees no file that the native tracer misses", async (t) => {
  const strace = findStrace();
  t.ok(strace, "strace is on PATH (apt-get install strace)");
  if (!strace) return;
  const [ours, theirs] = [await traceNative({ argv: [prog, work], timeoutMs: 30000 }), await traceWithStrace({ argv: [prog, work], timeoutMs: 30000 }, strace)];
  t.equal(theirs.status, 0, "the program succeeded under strace", { stderr: theirs.stderr });
  t.equal(theirs.stdout, TRACED_PROGRAM_STDOUT, "its output, as without a tracer");
  // The strace tracer reports /proc, /sys and /dev too (the bundler drops them); ours never does.
  const mine = paths(ours);
  const straced = new Set([...paths(theirs)].filter((p) => kernelPaths([p]).length === 0));
  const missed = [...straced].filter((p) => !mine.has(p));
  t.same(missed, [], `every one of strace's ${straced.size} paths outside /proc, /sys and /dev is among our ${mine.size}`);
  // What the program reported of itself while strace traced it: the strace tracer recorded it too,
  // with its kind of call (fexecve's execveat(fd, "", AT_EMPTY_PATH) as the descriptor's file).
  t.same(unrecorded(theirs.stderr, theirs, X86_64_CALLS), [], "every path the program reported under strace is recorded by the strace tracer with its kind of call");
  t.same(unrecorded(theirs.stderr, ours, X86_64_CALLS), [], "and by the native tracer");
  const extra = [...mine].filter((p) => !straced.has(p));
  t.comment(`recorded by the native tracer only: ${extra.join(", ") || "nothing"}`);
});

t.test("a program writing 1 MiB to stdout and to stderr does not deadlock", async (t) => {
  const r = await traceNative({ argv: [tools, "chatty"], timeoutMs: 20000 });
  t.equal(r.status, 0);
  t.equal(r.timedOut, false, "finished before the timeout");
  t.equal(r.stdout.length, 1 << 20, "all of stdout");
  t.equal(r.stderr.length, 1 << 20, "all of stderr");
});

t.test("standard input: the given text, then end of file; or end of file at once", async (t) => {
  const text = "line one\nline two\n".repeat(10000); // 180 KB, more than a pipe holds
  const r = await traceNative({ argv: ["/bin/cat"], stdin: text, timeoutMs: 20000 });
  t.equal(r.status, 0);
  t.equal(r.stdout, text, "cat read it all and ended at end of file");
  const none = await traceNative({ argv: ["/bin/cat"], timeoutMs: 20000 });
  t.equal(none.status, 0);
  t.equal(none.stdout, "", "without stdin, cat ends at once");
  t.equal(none.timedOut, false);
  const ignored = await traceNative({ argv: ["/bin/true"], stdin: "x".repeat(1 << 20), timeoutMs: 20000 });
  t.equal(ignored.status, 0, "a program that never reads its input still ends");
});

t.test("exit status, killing signal, forwarded signals, job-control stops", async (t) => {
  const seven = await traceNative({ argv: ["/bin/sh", "-c", "exit 7"] });
  t.same([seven.status, seven.signal], [7, null], "exit status 7");
  const segv = await traceNative({ argv: [tools, "segv"] });
  t.same([segv.status, segv.signal], [null, "SIGSEGV"], "killed by SIGSEGV");
  const term = await traceNative({ argv: ["/bin/sh", "-c", "kill -TERM $$"] });
  t.same([term.status, term.signal], [null, "SIGTERM"], "killed by SIGTERM");
  const usr1 = await traceNative({ argv: [tools, "signal"] });
  t.same([usr1.status, usr1.signal], [42, null], "SIGUSR1 reached the program's handler");
  const stop = await traceNative({ argv: [tools, "stop"], timeoutMs: 20000 });
  t.same([stop.status, stop.signal, stop.timedOut], [5, null, false], "a SIGSTOP does not leave it stopped");
});

t.test("a thread that execs takes over the process: its exec is recorded, its pid is the leader's", async (t) => {
  const r = await traceNative({ argv: [tools, "thread-exec", helper], timeoutMs: 20000 });
  t.same([r.status, r.signal, r.stdout], [0, null, "helper ran\n"], "the helper ran and its status is the first process's");
  const exec = r.accesses.find((a) => a.syscall === "execve" && a.path === helper);
  const first = r.accesses.find((a) => a.path === tools);
  t.ok(exec, "the exec from the thread is recorded");
  t.equal(exec?.pid, first?.pid, "under the process's (leader's) pid");
  t.ok(paths(r, OPEN).has("/etc/ld.so.cache") && r.accesses.some((a) => a.pid === first?.pid && a.path.endsWith("/libc.so.6") && a.syscall !== "execve"), "the new image's files are recorded too");
});

t.test("the timeout kills the whole traced tree", async (t) => {
  const started = Date.now();
  const r = await traceNative({ argv: ["/bin/sh", "-c", "sleep 60 & sleep 60 & wait"], timeoutMs: 700 });
  const ms = Date.now() - started;
  t.equal(r.timedOut, true, "timed out");
  t.same([r.status, r.signal], [null, "SIGKILL"], "killed");
  t.ok(ms < 10000, `returned after ${ms} ms (the sleeps were killed too)`);
  t.ok(paths(r, EXEC).has("/usr/bin/sleep") || paths(r, EXEC).has("/bin/sleep"), "the children ran (and were traced)");
});

t.test("the main thread stays responsive while a trace runs", async (t) => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 20);
  const r = await traceNative({ argv: ["/bin/sleep", "0.6"], timeoutMs: 20000 });
  clearInterval(timer);
  t.equal(r.status, 0);
  t.ok(ticks >= 10, `${ticks} timer ticks of 20 ms ran during the 600 ms trace`);
});

t.test("concurrent traces, and node's own children beside them, each get their own processes", async (t) => {
  // The tracer waits only for children of its own thread: node's child_process still sees its exits.
  const own = new Promise<number | null>((resolve) => spawn("/bin/sh", ["-c", "sleep 0.3; exit 9"]).on("exit", (code) => resolve(code)));
  const runs = await Promise.all([1, 2, 3, 4].map((i) => traceNative({ argv: ["/bin/sh", "-c", `sleep 0.${i}; echo ${i}; exit ${i}`], timeoutMs: 20000 })));
  t.same(
    runs.map((r) => [r.status, r.stdout]),
    [1, 2, 3, 4].map((i) => [i, `${i}\n`]),
    "four traces at once, each with its own status and output",
  );
  t.equal(await own, 9, "a child node started meanwhile reports its own exit status");
});

t.test("environment, working directory, PATH search and errors", async (t) => {
  const env = await traceNative({ argv: ["sh", "-c", "echo $ONLY; pwd"], env: { ONLY: "this", PATH: "/usr/bin:/bin" }, cwd: work });
  t.equal(env.stdout, `this\n${work}\n`, "exactly the given environment and cwd; sh found in PATH");
  const relative = await traceNative({ argv: ["./data/../data/link"], cwd: work }).catch((e: Error) => e);
  t.match(
    relative instanceof Error ? relative.message : "",
    /cannot execute \.\/data\/\.\.\/data\/link: (Permission denied|Exec format error)/,
    "a relative program is run from cwd; exec errors are reported",
  );
  await t.rejects(traceNative({ argv: ["no-such-program-here"], env: { PATH: "/usr/bin:/bin" } }), /no-such-program-here: not found in PATH/);
  await t.rejects(traceNative({ argv: ["/bin/true"], cwd: join(base, "absent") }), /cannot change to the working directory .*absent: No such file or directory/);
  await t.rejects(traceNative({ argv: ["/bin/true"], root: "/" }), /cannot trace inside --root/);
});
