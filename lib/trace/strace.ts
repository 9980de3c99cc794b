// The --dynamic tracer used when the native addon is not available: strace(1), following every
// process (-ff, one output file per process so lines never interleave), successful calls only,
// with file descriptors decoded to paths (-y) so dirfd-relative paths can be made absolute.

import { spawnSync } from "node:child_process";
import { runProcess } from "../process.js";
import { readFileSync, readdirSync } from "node:fs";
import { makeTempDir } from "../cleanup.js";
import { delimiter, join, posix } from "node:path";
import { TracerUnavailable, type TraceRequest, type TraceResult, type TracedAccess } from "./types.js";
import { present } from "../present.js";

/** Calls that name a file the program needs; '?' makes strace ignore names this architecture lacks. */
export const FILE_CALLS = ["open", "openat", "openat2", "execve", "execveat", "stat", "lstat", "newfstatat", "fstatat64", "statx", "access", "faccessat", "faccessat2", "readlink", "readlinkat"];
export const PROCESS_CALLS = ["chdir", "fchdir", "chroot", "clone", "clone3", "fork", "vfork"];
/** Calls whose first argument is a directory file descriptor. */
export const AT_CALLS = new Set(["openat", "openat2", "execveat", "newfstatat", "fstatat64", "statx", "faccessat", "faccessat2", "readlinkat", "mkdirat"]);

export function findStrace(): string | null {
  for (const dir of (process.env["PATH"] ?? "/usr/bin:/bin").split(delimiter)) {
    const candidate = join(dir, "strace");
    if (spawnSync(candidate, ["-V"], { stdio: "ignore" }).status === 0) return candidate;
  }
  return null;
}

export async function traceWithStrace(request: TraceRequest, strace = findStrace()): Promise<TraceResult> {
  if (!strace) throw new TracerUnavailable("strace is not on PATH");
  const { dir, remove } = makeTempDir("magicpak-strace-"); // removed on SIGINT/SIGTERM too
  try {
    const prefix = join(dir, "trace");
    const args = [
      "-f",
      "-ff",
      "-qq",
      "-z",
      "-y",
      "-s",
      "65535",
      "-o",
      prefix,
      "-e",
      `trace=${[...FILE_CALLS, ...PROCESS_CALLS].map((c) => `?${c}`).join(",")}`,
      "--",
      // In a root, chroot(8) enters it and then executes the program; what chroot(8) itself
      // opens before its chroot(2) is the host's and is left out below.
      ...(request.root ? ["/usr/sbin/chroot", request.root] : []),
      ...request.argv,
    ];
    const run = await runCollecting(strace, args, { ...request, cwd: request.root ? "/" : request.cwd });
    const files = readdirSync(dir).filter((n) => n.startsWith("trace."));
    const accesses = readTraces(dir, files, request.root ? "/" : (request.cwd ?? process.cwd()), request.root ?? null);
    return { ...run, accesses, tracer: "strace" };
  } finally {
    remove();
  }
}

/** Runs the command, feeding stdin and draining stdout and stderr as it goes; honours the timeout. */
async function runCollecting(command: string, args: string[], request: TraceRequest): Promise<Omit<TraceResult, "accesses" | "tracer">> {
  try {
    // The whole traced tree is in the child's process group, killed together on timeout.
    return await runProcess(command, args, { cwd: request.cwd, env: request.env ?? process.env, stdin: request.stdin, timeoutMs: request.timeoutMs, killGroup: true });
  } catch (error) {
    throw new TracerUnavailable(`cannot run ${command}: ${(error as Error).message}`);
  }
}

export interface Line {
  pid: number;
  syscall: string;
  dirfd: string | null;
  path: string | null;
  result: number;
  /** open/openat/openat2: the file was opened for writing or created (O_WRONLY, O_RDWR, O_CREAT, O_TRUNC). */
  writes?: boolean;
  /** The call may have made the file or replaced its content (O_CREAT, O_TRUNC, creat). */
  creates?: boolean;
  /** The file behind a returned descriptor, as strace -y decodes it (`= 3</path>`). */
  resultPath?: string;
}

/** Reads every per-process trace file, following forks to give each child its parent's cwd. */
function readTraces(dir: string, files: string[], initialCwd: string, root: string | null): TracedAccess[] {
  const byPid = new Map<number, Line[]>();
  for (const file of files) {
    const pid = Number(file.slice("trace.".length));
    const lines: Line[] = [];
    for (const text of readFileSync(join(dir, file), "utf8").split("\n")) {
      const line = parseStraceLine(pid, text);
      if (line) lines.push(line);
    }
    byPid.set(pid, lines);
  }
  return walkTraceTree(byPid, { root, cwd: initialCwd }).map(({ pid, syscall, path }) => ({ pid, syscall, path }));
}

/** A path a traced process used, resolved in the root, with the image the process ran then. */
export interface ResolvedAccess {
  pid: number;
  /** The file the process (or the ancestor it forked from) executed last, or null before any exec. */
  exe: string | null;
  syscall: string;
  path: string;
  /** Opened for writing or created (open flags), or a directory it created (mkdir, mkdirat). */
  writes: boolean;
  /** What the file holds may be the process's own: O_CREAT, O_TRUNC, creat, mkdir. */
  creates: boolean;
}

/**
 * Walks strace's per-process lines from each first process through its forks: a child starts
 * with its parent's cwd, image and chroot state; in a root, nothing before the chroot counts.
 * Relative paths resolve against the cwd or the decoded dirfd, as the kernel's path walk does.
 */
export function walkTraceTree(byPid: Map<number, Line[]>, options: { root: string | null; cwd: string }): ResolvedAccess[] {
  const root = options.root;
  // Paths strace decodes from descriptors are seen from outside a chroot: strip the root.
  const inRoot = (decoded: string) => (root && (decoded === root || decoded.startsWith(`${root}/`)) ? decoded.slice(root.length) || "/" : decoded);
  const decoded = (fd: string | null) => (fd?.includes("<") ? inRoot(fd.slice(fd.indexOf("<") + 1, -1)) : null);
  const children = new Set<number>();
  for (const lines of byPid.values()) for (const l of lines) if (isFork(l.syscall) && l.result > 0) children.add(l.result);
  const firsts = [...byPid.keys()].filter((pid) => !children.has(pid)).sort((a, b) => a - b);
  const accesses: ResolvedAccess[] = [];
  const visited = new Set<number>();
  const visit = (pid: number, startCwd: string, startEntered: boolean, startImage: string | null, startFds: Map<number, string>) => {
    if (visited.has(pid)) return;
    visited.add(pid);
    let cwd = startCwd;
    let entered = startEntered;
    let image = startImage;
    // Descriptors the process opened (and inherited), for an exec of /proc/self/fd/N: glibc's
    // fexecve where execveat is missing (qemu-user 7.2 has none) execs that path.
    const fds = new Map(startFds);
    for (const l of byPid.get(pid) ?? []) {
      if (l.dirfd?.startsWith("AT_FDCWD<")) cwd = inRoot(l.dirfd.slice("AT_FDCWD<".length, -1));
      if (l.syscall.startsWith("open") && l.resultPath !== undefined && l.result >= 0) fds.set(l.result, inRoot(l.resultPath));
      if (isFork(l.syscall)) {
        if (l.result > 0) visit(l.result, cwd, entered, image, fds);
        continue;
      }
      if (l.syscall === "chroot") {
        entered = true;
        continue;
      }
      if (!entered) continue;
      if (l.syscall === "chdir" && l.path !== null) {
        cwd = posix.resolve(cwd, l.path);
        continue;
      }
      if (l.syscall === "fchdir") {
        cwd = decoded(l.dirfd) ?? cwd;
        continue;
      }
      let path: string | null = null;
      // fexecve: execveat(fd, "", ..., AT_EMPTY_PATH) runs the file behind the descriptor.
      if (l.syscall === "execveat" && l.path === "") path = decoded(l.dirfd);
      else if (l.path !== null && l.path !== "") {
        const base = AT_CALLS.has(l.syscall) && l.dirfd !== null && !l.dirfd.startsWith("AT_FDCWD") ? decoded(l.dirfd) : cwd;
        if (base !== null) path = posix.resolve(base, l.path); // null: an undecodable descriptor
      }
      if (path === null) continue;
      const viaFd = l.syscall === "execve" ? /^\/(?:proc\/self\/fd|dev\/fd)\/(\d+)$/.exec(path) : null;
      if (viaFd) path = fds.get(Number(viaFd[1])) ?? path;
      // /proc/self/exe is the same image again (busybox running an applet as a new process).
      if ((l.syscall === "execve" || l.syscall === "execveat") && path !== "/proc/self/exe") image = path;
      const mkdir = l.syscall === "mkdir" || l.syscall === "mkdirat";
      accesses.push({ pid, exe: image, syscall: l.syscall, path, writes: l.writes === true || mkdir, creates: l.creates === true || mkdir });
    }
  };
  for (const pid of firsts) visit(pid, options.cwd, root === null, null, new Map());
  return accesses;
}

export function isFork(syscall: string): boolean {
  return syscall === "clone" || syscall === "clone3" || syscall === "fork" || syscall === "vfork";
}

/** One line of `strace -y -ff` output: the call, its first (dirfd) and path arguments, and the result. */
export function parseStraceLine(pid: number, text: string): Line | null {
  const open = text.indexOf("(");
  if (open <= 0 || !/^[a-z_0-9]+$/.test(text.slice(0, open))) return null;
  const syscall = text.slice(0, open);
  const results = [...text.matchAll(/\)\s+= (-?\d+)(?:<(.*)>)?/g)];
  const last = results[results.length - 1];
  if (!last) return null;
  const result = Number(last[1]);
  const args = splitArgs(text, open + 1, 3);
  let dirfd: string | null = null;
  let path: string | null = null;
  if (AT_CALLS.has(syscall) || syscall === "fchdir") {
    dirfd = args[0] ?? null;
    path = args[1]?.startsWith('"') ? decodeCString(args[1]) : null;
  } else {
    path = args[0]?.startsWith('"') ? decodeCString(args[0]) : null;
  }
  const flags = syscall === "open" ? args[1] : syscall === "openat" || syscall === "openat2" ? args[2] : undefined;
  const line: Line = { pid, syscall, dirfd, path, result };
  if (last[2] !== undefined) line.resultPath = last[2];
  if (flags !== undefined) {
    line.writes = /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC/.test(flags);
    line.creates = /O_CREAT|O_TRUNC/.test(flags);
  }
  if (syscall === "creat") line.writes = line.creates = true;
  return line;
}

/** The first `count` top-level arguments, as raw text. */
function splitArgs(text: string, start: number, count: number): string[] {
  const args: string[] = [];
  let depth = 0;
  let current = "";
  for (let i = start; i < text.length && args.length < count; i++) {
    const c = text.charAt(i);
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      current += text.slice(i, j + 1);
      i = j;
      continue;
    }
    if ((c === "," || c === ")") && depth === 0) {
      args.push(current.trim());
      current = "";
      if (c === ")") break;
      continue;
    }
    if (c === "(" || c === "[" || c === "{" || c === "<") depth++;
    if (c === ")" || c === "]" || c === "}" || c === ">") depth--;
    current += c;
  }
  return args;
}

/** A C string as strace prints it (\n, \t, \", \\, \ooo octal, \xhh), to its bytes as UTF-8. */
function decodeCString(quoted: string): string {
  const bytes: number[] = [];
  const end = quoted.lastIndexOf('"');
  for (let i = 1; i < end; i++) {
    const c = quoted.charCodeAt(i);
    if (c !== 92) {
      bytes.push(...Buffer.from(quoted.charAt(i), "utf8"));
      continue;
    }
    const next = present(quoted[++i], "the character after a backslash"); // the closing quote follows at the latest
    const simple: Record<string, number> = { n: 10, t: 9, r: 13, v: 11, f: 12, a: 7, b: 8, '"': 34, "\\": 92 };
    const escape = next in simple ? simple[next] : undefined;
    if (escape !== undefined) bytes.push(escape);
    else if (next === "x") {
      bytes.push(parseInt(quoted.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (/[0-7]/.test(next)) {
      let digits = next;
      while (digits.length < 3 && /[0-7]/.test(quoted[i + 1] ?? "")) digits += quoted[++i];
      bytes.push(parseInt(digits, 8));
    } else bytes.push(...Buffer.from(next, "utf8"));
  }
  return Buffer.from(bytes).toString("utf8");
}
