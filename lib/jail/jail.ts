// The --test jail: the planned bundle plus a static busybox, in fresh mount and PID namespaces,
// with /proc and /dev/{null,zero,random,urandom} as a container has them. The jail and busybox
// are removed afterwards and never reach OUTPUT.

import { spawn, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { parentOf, type FileGraph } from "../graph/file-graph.js";
import { writeTree } from "../bundle/emit.js";

export interface JailTest {
  /** Run as `/bin/sh -c COMMAND` inside the jail. */
  command: string;
  stdin?: string;
  /** Compared with the trimmed standard output. */
  expectedStdout?: string;
}

export class TestFailure extends Error {
  override readonly name = "TestFailure";
}

export interface JailOptions {
  /** A static busybox on the host. */
  busybox: string;
  timeoutMs?: number;
}

const DEVICES = ["null", "zero", "random", "urandom", "full"];
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Mounts /proc and the devices, then chroots; run by the host's sh inside new namespaces. */
const SETUP = `set -e
mount -t proc proc "$JAIL/proc"
for d in ${DEVICES.join(" ")}; do : > "$JAIL/dev/$d"; mount --bind "/dev/$d" "$JAIL/dev/$d"; done
exec chroot "$JAIL" /bin/sh -c "$MAGICPAK_TEST_COMMAND"`;

export async function testInJail(graph: FileGraph, tests: JailTest[], options: JailOptions): Promise<void> {
  const jail = mkdtempSync(join(tmpdir(), "magicpak-jail-"));
  try {
    writeTree(graph, jail);
    chmodSync(jail, 0o755);
    installBusybox(jail, options.busybox);
    for (const dir of ["proc", "dev", "tmp"]) if (!existsSync(join(jail, dir))) mkdirSync(join(jail, dir), { mode: dir === "tmp" ? 0o1777 : 0o755 });
    const preamble = bundledProgramsFirst(graph, join(jail, "bin", "busybox"));
    for (const test of tests) await runOne(jail, test, preamble, options);
  } finally {
    rmSync(jail, { recursive: true, force: true });
  }
}

/** busybox at /bin/busybox and its applets linked beside it; files of the bundle win (EEXIST). */
function installBusybox(jail: string, busybox: string): void {
  const bin = join(jail, "bin");
  mkdirSync(bin, { recursive: true });
  const target = join(bin, "busybox");
  if (!existsSync(target)) {
    copyFileSync(busybox, target);
    chmodSync(target, 0o755);
  }
  // `busybox --install DIR` links every applet into DIR without replacing existing files.
  const r = spawnSyncQuiet(target, ["--install", bin]);
  if (r !== 0 || !existsSync(join(bin, "sh"))) throw new TestFailure(`cannot install busybox applets from ${busybox}: is it a static busybox?`);
}

/**
 * Shell functions that make the bundle's programs win over busybox's applets. A static busybox
 * (Debian's busybox-static) is built with FEATURE_SH_STANDALONE: its sh runs an applet in
 * preference to any program on PATH, so `ls` in a test command would run busybox's ls even with
 * /usr/bin/ls in the bundle, and the test would pass without running the bundle at all. A
 * function comes before an applet: one per applet name that a PATH lookup in the bundle finds.
 * (Names that cannot be function names, such as `run-parts`, and commands run through `exec`
 * or through applets like `xargs` still reach the applet.)
 */
function bundledProgramsFirst(graph: FileGraph, busybox: string): string {
  const list = spawnSync(busybox, ["--list"], { encoding: "utf8" });
  const applets = (list.stdout ?? "").split("\n").filter((name) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name));
  const functions: string[] = [];
  for (const name of applets) {
    const found = PATH.split(":").map((dir) => `${dir}/${name}`).find((path) => isBundledExecutable(graph, path));
    if (found) functions.push(`${name}() { ${found} "$@"; }`);
  }
  return functions.map((f) => `${f}\n`).join("");
}

/** Whether `path` names an executable file of the bundle, through its symlinks. */
function isBundledExecutable(graph: FileGraph, path: string): boolean {
  let at = graph.resolveInGraph(path);
  for (let hops = 0; hops <= 40; hops++) {
    const node = graph.get(at);
    if (node?.kind !== "symlink") return (node?.kind === "file" || node?.kind === "generated") && (node.mode & 0o111) !== 0;
    at = graph.resolveInGraph(node.target.startsWith("/") ? node.target : posix.join(parentOf(at), node.target));
  }
  return false;
}

function spawnSyncQuiet(command: string, args: string[]): number {
  return spawnSync(command, args, { stdio: "ignore" }).status ?? 1;
}

function runOne(jail: string, test: JailTest, preamble: string, options: JailOptions): Promise<void> {
  const root = process.getuid?.() === 0;
  const args = [...(root ? [] : ["--user", "--map-root-user"]), "--mount", "--pid", "--fork", "/bin/sh", "-c", SETUP];
  return new Promise((resolve, reject) => {
    const child = spawn("unshare", args, {
      env: { PATH, HOME: "/", JAIL: jail, MAGICPAK_TEST_COMMAND: preamble + test.command },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 300_000);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new TestFailure(`cannot start the jail (unshare): ${error.message}`));
    });
    child.stdin.on("error", () => undefined); // the command may not read its input
    child.stdin.end(test.stdin ?? "");
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const detail = stderr.trim() ? `\n${stderr.trim()}` : "";
      if (code !== 0) {
        reject(new TestFailure(`test command ${JSON.stringify(test.command)} ${signal ? `was killed by ${signal}` : `exited with ${code}`}${detail}`));
        return;
      }
      if (test.expectedStdout !== undefined && stdout.trim() !== test.expectedStdout) {
        reject(new TestFailure(`test command ${JSON.stringify(test.command)}: stdout mismatch: expected ${JSON.stringify(test.expectedStdout)}, got ${JSON.stringify(stdout.trim())}`));
        return;
      }
      resolve();
    });
  });
}
