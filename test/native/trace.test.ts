// The native ptrace tracer, on programs of our own compiled here with gcc: what it records (all
// absolute, only successful calls, nothing under /proc, /sys or /dev, across fork, vfork, threads
// and exec), and how it runs the program (output drained while it runs, stdin, exit status and
// signals, signals forwarded, stops resumed, the timeout kills the whole tree). The same program is
// also traced by strace(1) through magicpak's strace tracer: every file strace sees, ours sees.

import t from "tap";
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nativeAddon, nativeStatus, traceNative, type NativeTraceResult } from "../../lib/native/addon.js";
import { traceWithStrace, findStrace } from "../../lib/trace/strace.js";

if (!nativeAddon()) throw new Error(`the native addon is required by these tests: ${nativeStatus()} (${process.env["MAGICPAK_NATIVE_BUILD"] ?? "run npm run build:native"})`);

const base = realpathSync(mkdtempSync(join(tmpdir(), "magicpak-native-trace-")));
t.teardown(() => rmSync(base, { recursive: true, force: true }));

const app = join(base, "app");
const work = join(base, "work");
mkdirSync(join(app, "plugins"), { recursive: true });
mkdirSync(join(work, "data"), { recursive: true });
writeFileSync(join(work, "data/relative.txt"), "relative\n");
writeFileSync(join(work, "data/child.txt"), "child\n");
writeFileSync(join(work, "data/thread.txt"), "thread\n");
writeFileSync(join(work, "data/dirfd.txt"), "dirfd\n");
writeFileSync(join(work, "data/stat.txt"), "stat\n");
writeFileSync(join(work, "data/access.txt"), "access\n");
symlinkSync("relative.txt", join(work, "data/link"));

function gcc(out: string, source: string, ...args: string[]): string {
  writeFileSync(`${out}.c`, source);
  try {
    execFileSync("gcc", ["-O1", "-o", out, `${out}.c`, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  } catch (error) {
    throw new Error(`gcc is required by these tests (and must build ${out}.c): ${(error as Error).message}`);
  }
  return out;
}

gcc(join(app, "plugins/libplugin.so"), "int plugin(void) { return 42; }\n", "-shared", "-fPIC");
const helper = gcc(join(app, "helper"), '#include <stdio.h>\nint main(void) { puts("helper ran"); return 0; }\n');
const spawned = gcc(join(app, "spawned"), '#include <stdio.h>\nint main(void) { puts("spawned ran"); return 0; }\n');
const fexeced = gcc(join(app, "fexeced"), '#include <stdio.h>\nint main(void) { puts("fexeced ran"); return 0; }\n');
const script = join(app, "script.sh");
writeFileSync(script, "#!/bin/sh\necho script ran\n");
chmodSync(script, 0o755);

const prog = gcc(
  join(app, "prog"),
  `#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
extern char **environ;
static void *thread_main(void *arg) {
  (void)arg;
  int fd = open("data/thread.txt", O_RDONLY);                /* a thread (clone) */
  return (void *)(long)(fd >= 0);
}
static int run(pid_t pid) {
  int status;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return 0;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
int main(int argc, char **argv) {
  char buf[64];
  struct stat st;
  if (argc < 2 || chdir(argv[1]) != 0) return 10;
  int fd = open("data/relative.txt", O_RDONLY);               /* relative, after chdir */
  if (fd < 0 || read(fd, buf, sizeof buf) <= 0) return 11;
  close(fd);
  if (open("data/missing.txt", O_RDONLY) >= 0) return 12;     /* fails: not recorded */
  int dir = open("data", O_RDONLY | O_DIRECTORY);
  if (dir < 0 || openat(dir, "dirfd.txt", O_RDONLY) < 0) return 13;  /* relative to a dirfd */
  if (stat("data/stat.txt", &st) != 0) return 14;
  if (access("data/access.txt", R_OK) != 0) return 15;
  if (readlink("data/link", buf, sizeof buf) <= 0) return 16;
  if (open("/proc/self/status", O_RDONLY) < 0) return 17;     /* never recorded */
  if (open("/dev/null", O_RDONLY) < 0) return 18;
  pid_t child = fork();                                       /* a child opens another file */
  if (child == 0) _exit(open("data/child.txt", O_RDONLY) < 0 ? 1 : 0);
  if (!run(child)) return 19;
  pthread_t th;
  void *ok;
  if (pthread_create(&th, 0, thread_main, 0) != 0 || pthread_join(th, &ok) != 0 || !ok) return 20;
  fflush(stdout);
  pid_t h = fork();                                           /* exec a helper program */
  if (h == 0) { execl("${helper}", "helper", (char *)0); _exit(127); }
  if (!run(h)) return 21;
  pid_t s;                                                    /* posix_spawn: clone(CLONE_VFORK) */
  char *sargv[] = { "spawned", 0 };
  if (posix_spawn(&s, "${spawned}", 0, 0, sargv, environ) != 0 || !run(s)) return 22;
  pid_t f = fork();                                           /* fexecve: execveat(fd, "", AT_EMPTY_PATH) */
  if (f == 0) {
    int efd = open("${fexeced}", O_RDONLY | O_CLOEXEC);
    char *fargv[] = { "fexeced", 0 };
    fexecve(efd, fargv, environ);
    _exit(127);
  }
  if (!run(f)) return 23;
  pid_t sc = fork();                                          /* a script: its #! interpreter */
  if (sc == 0) { execl("${script}", "script.sh", (char *)0); _exit(127); }
  if (!run(sc)) return 24;
  void *p = dlopen("libplugin.so", RTLD_NOW);                 /* dlopen through RUNPATH $ORIGIN/plugins */
  if (!p) return 25;
  int (*plugin)(void) = (int (*)(void))dlsym(p, "plugin");
  printf("plugin %d\\n", plugin());
  return 0;
}
`,
  "-ldl",
  "-lpthread",
  "-Wl,--enable-new-dtags,-rpath,$ORIGIN/plugins",
);

const tools = gcc(
  join(base, "tools"),
  `#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static void on_usr1(int sig) { (void)sig; _exit(42); }
static void *exec_from_thread(void *program) {
  execl((const char *)program, "helper", (char *)0);
  return 0;
}
int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  if (!strcmp(mode, "chatty")) {                              /* 1 MiB on each stream, interleaved */
    static char block[4096];
    memset(block, 'o', sizeof block);
    for (int i = 0; i < 256; i++) {
      if (write(1, block, sizeof block) != sizeof block) return 1;
      if (write(2, block, sizeof block) != sizeof block) return 1;
    }
    return 0;
  }
  if (!strcmp(mode, "signal")) {                              /* a signal the tracer must deliver */
    signal(SIGUSR1, on_usr1);
    kill(getpid(), SIGUSR1);
    return 1;
  }
  if (!strcmp(mode, "stop")) {                                /* a job-control stop must not hang the trace */
    raise(SIGSTOP);
    return 5;
  }
  if (!strcmp(mode, "segv")) { raise(SIGSEGV); return 1; }
  if (!strcmp(mode, "thread-exec")) {                         /* a thread that is not the leader execs */
    pthread_t th;
    pthread_create(&th, 0, exec_from_thread, argv[2]);
    pause();
    return 1;
  }
  return 2;
}
`,
  "-lpthread",
);

const EXPECTED_PROG_STDOUT = "helper ran\nspawned ran\nfexeced ran\nscript ran\nplugin 42\n";

/** Paths recorded for syscalls of a kind. */
function paths(r: NativeTraceResult | { accesses: { syscall: string; path: string }[] }, calls?: string[]): Set<string> {
  return new Set(r.accesses.filter((a) => !calls || calls.includes(a.syscall)).map((a) => a.path));
}

const OPEN = ["open", "openat", "openat2"];
const EXEC = ["execve", "execveat"];

t.test("records the files of a program of our own, as absolute paths, across fork, threads, vfork and exec", async (t) => {
  const r = await traceNative({ argv: [prog, work], timeoutMs: 30000 });
  t.equal(r.status, 0, "the program succeeded", { stderr: r.stderr });
  t.equal(r.signal, null);
  t.equal(r.stdout, EXPECTED_PROG_STDOUT);
  t.equal(r.tracer, "native");
  t.equal(r.timedOut, false);
  const opened = paths(r, OPEN);
  const executed = paths(r, EXEC);
  t.ok(opened.has(`${work}/data/relative.txt`), "the data file opened by a relative path after chdir");
  t.ok(opened.has(`${work}/data/child.txt`), "the file the forked child opened");
  t.ok(executed.has(helper), "the helper it exec'd");
  t.ok(opened.has(`${app}/plugins/libplugin.so`), "the plugin it dlopen'ed");
  t.ok(opened.has(`${work}/data/thread.txt`), "the file a thread opened");
  t.ok(opened.has(`${work}/data/dirfd.txt`), "openat relative to a directory fd");
  t.ok(executed.has(spawned), "the program posix_spawn (vfork) ran");
  t.ok(executed.has(fexeced), "the program fexecve (execveat with AT_EMPTY_PATH) ran");
  t.ok(executed.has(script) && executed.has("/bin/sh"), "a script and its #! interpreter");
  t.ok(paths(r, ["stat", "lstat", "newfstatat", "statx"]).has(`${work}/data/stat.txt`), "stat");
  t.ok(paths(r, ["access", "faccessat", "faccessat2"]).has(`${work}/data/access.txt`), "access");
  t.ok(paths(r, ["readlink", "readlinkat"]).has(`${work}/data/link`), "readlink");
  t.ok(executed.has(prog), "the program itself");
  t.ok(opened.has("/etc/ld.so.cache"), "what the loader opens");
  t.notOk(paths(r).has(`${work}/data/missing.txt`), "a failed open is not recorded");
  const kernel = [...paths(r)].filter((p) => /^\/(proc|sys|dev)(\/|$)/.test(p));
  t.same(kernel, [], "nothing under /proc, /sys or /dev");
  const relative = [...paths(r)].filter((p) => !p.startsWith("/") || /\/\.{1,2}(\/|$)|\/\//.test(p));
  t.same(relative, [], "every path is absolute and normalised");
  const pids = new Set(r.accesses.map((a) => a.pid));
  const childPid = r.accesses.find((a) => a.path === `${work}/data/child.txt`)?.pid;
  const rootPid = r.accesses.find((a) => a.path === `${work}/data/relative.txt`)?.pid;
  t.not(childPid, rootPid, "the child's access carries the child's pid");
  t.ok(pids.size >= 6 && r.tasks >= 7, `${pids.size} processes recorded accesses, ${r.tasks} tasks traced`);
  t.comment(`${r.accesses.length} accesses by ${pids.size} processes (${r.tasks} tasks) in ${r.elapsedMs.toFixed(0)} ms`);
});

t.test("strace sees no file that the native tracer misses", async (t) => {
  const strace = findStrace();
  t.ok(strace, "strace is on PATH (apt-get install strace)");
  if (!strace) return;
  const [ours, theirs] = [await traceNative({ argv: [prog, work], timeoutMs: 30000 }), await traceWithStrace({ argv: [prog, work], timeoutMs: 30000 }, strace)];
  t.equal(theirs.status, 0, "the program succeeded under strace", { stderr: theirs.stderr });
  // The strace tracer reports /proc, /sys and /dev too (the bundler drops them); ours never does.
  const mine = paths(ours);
  const straced = new Set([...paths(theirs)].filter((p) => !/^\/(proc|sys|dev)(\/|$)/.test(p)));
  const missed = [...straced].filter((p) => !mine.has(p));
  t.same(missed, [], `every one of strace's ${straced.size} paths outside /proc, /sys and /dev is among our ${mine.size}`);
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
  t.match(relative instanceof Error ? relative.message : "", /cannot execute \.\/data\/\.\.\/data\/link: (Permission denied|Exec format error)/, "a relative program is run from cwd; exec errors are reported");
  await t.rejects(traceNative({ argv: ["no-such-program-here"], env: { PATH: "/usr/bin:/bin" } }), /no-such-program-here: not found in PATH/);
  await t.rejects(traceNative({ argv: ["/bin/true"], cwd: join(base, "absent") }), /cannot change to the working directory .*absent: No such file or directory/);
  await t.rejects(traceNative({ argv: ["/bin/true"], root: "/" }), /cannot trace inside --root/);
});
