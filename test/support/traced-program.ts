// The C program the ptrace tracer tests trace (test/native/trace.test.ts on this x86_64 host,
// test/native/trace-aarch64.test.ts on an aarch64 kernel in qemu): it opens a data file by a
// relative path after chdir, opens relative to a directory fd, stats, accesses and readlinks, opens
// under /proc and /dev (never recorded), forks a child that opens a file, starts a thread that opens
// one, execs a helper, posix_spawns (vfork), fexecves (execveat with AT_EMPTY_PATH), runs a #!
// script and dlopens a plugin through RUNPATH $ORIGIN/plugins.
//
// Each of these programs reports on stderr, as the kernel sees it, what it did: "KIND PATH" lines
// from /proc/self/exe, /proc/self/fd, getcwd and /proc/self/maps. The expected answers of a trace
// thus come from the real thing rather than from the test's own list: every path the program
// reports must have been recorded with the matching kind of call.

import type { Test } from "tap";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Where the program and its pieces are (as the traced program sees them). */
export interface TracedLayout {
  /** The program's directory: prog, helper, spawned, fexeced, script.sh and plugins/libplugin.so. */
  app: string;
  /** The directory the program is given (argv[1]) and changes to: data/*. */
  work: string;
  prog: string;
  helper: string;
  spawned: string;
  fexeced: string;
  script: string;
}

export function tracedLayout(app: string, work: string): TracedLayout {
  return { app, work, prog: `${app}/prog`, helper: `${app}/helper`, spawned: `${app}/spawned`, fexeced: `${app}/fexeced`, script: `${app}/script.sh` };
}

/** What the program prints on stdout when all went well. */
export const TRACED_PROGRAM_STDOUT = "helper ran\nspawned ran\nfexeced ran\nscript ran\nplugin 42\n";

/** The kinds of report, each with the system calls that record it on an architecture. */
export type ReportKind = "exec" | "open" | "dlopen" | "stat" | "access" | "readlink";
export type CallsByKind = Record<ReportKind, string[]>;

const EXEC = ["execve", "execveat"];
export const X86_64_CALLS: CallsByKind = {
  exec: EXEC,
  open: ["open", "openat", "openat2"],
  dlopen: ["open", "openat", "openat2"],
  stat: ["stat", "lstat", "newfstatat", "statx"],
  access: ["access", "faccessat", "faccessat2"],
  readlink: ["readlink", "readlinkat"],
};
/** asm-generic has no open, stat, access or readlink: only their *at forms. */
export const AARCH64_CALLS: CallsByKind = {
  exec: EXEC,
  open: ["openat", "openat2"],
  dlopen: ["openat", "openat2"],
  stat: ["newfstatat", "statx"],
  access: ["faccessat", "faccessat2"],
  readlink: ["readlinkat"],
};

/** The C functions a program reports with, on stderr: "exec PATH" (its /proc/self/exe) and the like. */
const REPORT = `
static void report(const char *what, const char *path) {
  char line[4200];
  int n = snprintf(line, sizeof line, "%s %s\\n", what, path);
  if (n > 0) write(2, line, (size_t)n);                      /* one write: lines never interleave */
}
static void report_link(const char *what, const char *link) {
  char target[4096];
  ssize_t n = readlink(link, target, sizeof target - 1);
  if (n < 0) { report(what, "?"); return; }
  target[n] = 0;
  report(what, target);
}
static void report_fd(const char *what, int fd) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  report_link(what, link);
}
static void report_cwd(const char *what, const char *relative) {
  char cwd[4096], path[8200];
  if (!getcwd(cwd, sizeof cwd)) { report(what, "?"); return; }
  snprintf(path, sizeof path, "%s/%s", cwd, relative);
  report(what, path);
}
`;

/** A program that reports its own /proc/self/exe and prints "NAME ran". */
export function reportingProgramSource(name: string): string {
  return `#include <stdio.h>
#include <unistd.h>
${REPORT}
int main(void) { report_link("exec", "/proc/self/exe"); puts("${name} ran"); return 0; }
`;
}

/** The #! script the program runs: it reports its own path ($0, which the kernel gives sh). */
export const TRACED_SCRIPT = '#!/bin/sh\necho "exec $0" >&2\necho script ran\n';

/** The traced program, running the helper, spawned, fexeced and script programs at these paths. */
export function tracedProgramSource(paths: Pick<TracedLayout, "helper" | "spawned" | "fexeced" | "script">): string {
  return `#define _GNU_SOURCE
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
${REPORT}
static void *thread_main(void *arg) {
  (void)arg;
  int fd = open("data/thread.txt", O_RDONLY);                /* a thread (clone) */
  if (fd >= 0) report_fd("open", fd);
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
  report_link("exec", "/proc/self/exe");
  if (argc < 2 || chdir(argv[1]) != 0) return 10;
  int fd = open("data/relative.txt", O_RDONLY);               /* relative, after chdir */
  if (fd < 0 || read(fd, buf, sizeof buf) <= 0) return 11;
  report_fd("open", fd);
  close(fd);
  if (open("data/missing.txt", O_RDONLY) >= 0) return 12;     /* fails: not recorded */
  int dir = open("data", O_RDONLY | O_DIRECTORY);
  if (dir < 0) return 13;
  report_fd("open", dir);
  int dfd = openat(dir, "dirfd.txt", O_RDONLY);               /* relative to a dirfd */
  if (dfd < 0) return 13;
  report_fd("open", dfd);
  if (stat("data/stat.txt", &st) != 0) return 14;
  report_cwd("stat", "data/stat.txt");
  if (access("data/access.txt", R_OK) != 0) return 15;
  report_cwd("access", "data/access.txt");
  if (readlink("data/link", buf, sizeof buf) <= 0) return 16;
  report_cwd("readlink", "data/link");
  if (open("/proc/self/status", O_RDONLY) < 0) return 17;     /* never recorded */
  if (open("/dev/null", O_RDONLY) < 0) return 18;
  pid_t child = fork();                                       /* a child opens another file */
  if (child == 0) {
    int cfd = open("data/child.txt", O_RDONLY);
    if (cfd < 0) _exit(1);
    report_fd("open", cfd);
    _exit(0);
  }
  if (!run(child)) return 19;
  pthread_t th;
  void *ok;
  if (pthread_create(&th, 0, thread_main, 0) != 0 || pthread_join(th, &ok) != 0 || !ok) return 20;
  fflush(stdout);
  pid_t h = fork();                                           /* exec a helper program */
  if (h == 0) { execl("${paths.helper}", "helper", (char *)0); _exit(127); }
  if (!run(h)) return 21;
  pid_t s;                                                    /* posix_spawn: clone(CLONE_VFORK) */
  char *sargv[] = { "spawned", 0 };
  if (posix_spawn(&s, "${paths.spawned}", 0, 0, sargv, environ) != 0 || !run(s)) return 22;
  pid_t f = fork();                                           /* fexecve: execveat(fd, "", AT_EMPTY_PATH) */
  if (f == 0) {
    int efd = open("${paths.fexeced}", O_RDONLY | O_CLOEXEC);
    char *fargv[] = { "fexeced", 0 };
    fexecve(efd, fargv, environ);
    _exit(127);
  }
  if (!run(f)) return 23;
  pid_t sc = fork();                                          /* a script: its #! interpreter */
  if (sc == 0) { execl("${paths.script}", "script.sh", (char *)0); _exit(127); }
  if (!run(sc)) return 24;
  void *p = dlopen("libplugin.so", RTLD_NOW);                 /* dlopen through RUNPATH $ORIGIN/plugins */
  if (!p) return 25;
  int (*plugin)(void) = (int (*)(void))dlsym(p, "plugin");
  FILE *maps = fopen("/proc/self/maps", "r");                 /* where the kernel mapped it from */
  char line[4400];
  while (maps && fgets(line, sizeof line, maps)) {
    char *path = strchr(line, '/');
    if (path && strstr(path, "libplugin.so")) { path[strcspn(path, "\\n")] = 0; report("dlopen", path); break; }
  }
  printf("plugin %d\\n", plugin());
  return 0;
}
`;
}

/**
 * The other programs of both tests, one mode an argument: "chatty" (1 MiB on stdout and on stderr),
 * "signal" (a signal the tracer must deliver), "stop" (SIGSTOP), "segv", and "thread-exec PROGRAM"
 * (a thread that is not the leader execs). Link with -lpthread where glibc is older than 2.34.
 */
export const TOOLS_SOURCE = `#include <pthread.h>
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
`;

/** A C compiler: builds `out` from `source` with the extra arguments (or throws). */
export type Compile = (out: string, source: string, ...args: string[]) => unknown;

/**
 * Writes the data files, the script and the compiled programs of `layout` below `root` (the host
 * directory that will be the traced program's "/"). `libs` are linked into the program itself.
 */
export async function makeTracedProgram(root: string, layout: TracedLayout, compile: Compile, libs: string[] = []): Promise<void> {
  const at = (path: string) => join(root, path);
  mkdirSync(at(`${layout.app}/plugins`), { recursive: true });
  mkdirSync(at(`${layout.work}/data`), { recursive: true });
  for (const name of ["relative", "child", "thread", "dirfd", "stat", "access"]) writeFileSync(at(`${layout.work}/data/${name}.txt`), `${name}\n`);
  symlinkSync("relative.txt", at(`${layout.work}/data/link`));
  await compile(at(`${layout.app}/plugins/libplugin.so`), "int plugin(void) { return 42; }\n", "-shared", "-fPIC");
  for (const name of ["helper", "spawned", "fexeced"] as const) await compile(at(layout[name]), reportingProgramSource(name));
  await compile(at(layout.prog), tracedProgramSource(layout), ...libs, "-Wl,--enable-new-dtags,-rpath,$ORIGIN/plugins");
  writeFileSync(at(layout.script), TRACED_SCRIPT, { mode: 0o755 });
}

/** The "KIND PATH" lines a program printed about itself. */
export function reports(stderr: string): [ReportKind, string][] {
  return stderr
    .split("\n")
    .map((l) => /^(exec|open|dlopen|stat|access|readlink) (\/.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1] as ReportKind, m[2]!]);
}

/** What the program must report of itself, in a run that went well. */
export function expectedReports(layout: TracedLayout): [ReportKind, string][] {
  const { app, work } = layout;
  return [
    ["exec", layout.prog],
    ["open", `${work}/data/relative.txt`],
    ["open", `${work}/data/child.txt`],
    ["open", `${work}/data/thread.txt`],
    ["open", `${work}/data/dirfd.txt`],
    ["exec", layout.helper],
    ["exec", layout.spawned],
    ["exec", layout.fexeced],
    ["exec", layout.script],
    ["dlopen", `${app}/plugins/libplugin.so`],
    ["stat", `${work}/data/stat.txt`],
    ["access", `${work}/data/access.txt`],
    ["readlink", `${work}/data/link`],
  ];
}

export interface TracedAccessLike {
  pid: number;
  syscall: string;
  path: string;
}
export interface TracedRunLike {
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  accesses: TracedAccessLike[];
  timedOut?: boolean;
  tasks?: number;
}

/** Paths recorded for system calls of these names (all of them without). */
export function paths(r: { accesses: TracedAccessLike[] }, calls?: string[]): Set<string> {
  return new Set(r.accesses.filter((a) => !calls || calls.includes(a.syscall)).map((a) => a.path));
}

/** The (kind, path) lines of a program's stderr that `r` did not record with that kind of call. */
export function unrecorded(stderr: string, r: { accesses: TracedAccessLike[] }, calls: CallsByKind): [ReportKind, string][] {
  return reports(stderr).filter(([kind, path]) => !paths(r, calls[kind]).has(path));
}

const KERNEL = /^\/(proc|sys|dev)(\/|$)/;
/** The paths under /proc, /sys or /dev (which the native tracer never records). */
export const kernelPaths = (all: Iterable<string>) => [...all].filter((p) => KERNEL.test(p));

/**
 * What both architectures' tests require of the native tracer's trace of the program: it ran as
 * without a tracer, every file it touched is recorded as an absolute path with its kind of call,
 * across fork, threads, vfork and exec, and nothing that failed or lies under /proc, /sys or /dev.
 * The program's own reports (see unrecorded) are checked by each test, for each run it has.
 */
export function checkTracedRun(t: Test, r: TracedRunLike, layout: TracedLayout, calls: CallsByKind): void {
  const { app, work } = layout;
  t.same([r.status, r.signal, r.timedOut], [0, null, false], "exit status 0, no signal, no timeout", { stderr: r.stderr });
  t.equal(r.stdout, TRACED_PROGRAM_STDOUT, "its output, as without a tracer");
  const opened = paths(r, calls.open);
  const executed = paths(r, calls.exec);
  t.ok(opened.has(`${work}/data/relative.txt`), "the data file opened by a relative path after chdir");
  t.ok(opened.has(`${work}/data/child.txt`), "the file the forked child opened");
  t.ok(executed.has(layout.helper), "the helper it exec'd");
  t.ok(opened.has(`${app}/plugins/libplugin.so`), "the plugin it dlopen'ed");
  t.ok(opened.has(`${work}/data/thread.txt`), "the file a thread opened");
  t.ok(opened.has(`${work}/data/dirfd.txt`), "openat relative to a directory fd");
  t.ok(executed.has(layout.spawned), "the program posix_spawn (vfork) ran");
  t.ok(executed.has(layout.fexeced), "the program fexecve (execveat with AT_EMPTY_PATH) ran");
  t.ok(executed.has(layout.script) && executed.has("/bin/sh"), "a script and its #! interpreter");
  t.ok(paths(r, calls.stat).has(`${work}/data/stat.txt`), "stat");
  t.ok(paths(r, calls.access).has(`${work}/data/access.txt`), "access");
  t.ok(paths(r, calls.readlink).has(`${work}/data/link`), "readlink");
  t.ok(executed.has(layout.prog), "the program itself");
  t.notOk(paths(r).has(`${work}/data/missing.txt`), "a failed open is not recorded");
  t.same(kernelPaths(paths(r)), [], "nothing under /proc, /sys or /dev");
  t.same(
    [...paths(r)].filter((p) => !p.startsWith("/") || /\/\.{1,2}(\/|$)|\/\//.test(p)),
    [],
    "every path is absolute and normalised",
  );
  const childPid = r.accesses.find((a) => a.path === `${work}/data/child.txt`)?.pid;
  const rootPid = r.accesses.find((a) => a.path === `${work}/data/relative.txt`)?.pid;
  t.not(childPid, rootPid, "the child's access carries the child's pid");
  const pids = new Set(r.accesses.map((a) => a.pid));
  t.ok(pids.size >= 6 && (r.tasks ?? 0) >= 7, `${pids.size} processes recorded accesses, ${r.tasks} tasks traced`);
}
