// The --test jail: the bundle as a FROM scratch container has it, and nothing else. Its filesystem
// is exactly the planned bundle (no busybox applets in /bin, no /tmp) plus the /proc, /dev and /sys
// a runtime's default spec mounts, in user, mount, PID, UTS, IPC and network namespaces, after
// pivot_root; the harness busybox that runs the test command is kept in a hidden directory that is
// never on PATH and is removed once its shell runs (lib/jail/run.ts has the details and the
// fallback where namespaces are refused). The jail is removed afterwards and never reaches OUTPUT.
//
// A bundle for another architecture (an arm64 bundle on x86_64, or the reverse) runs through the
// static qemu-user of its architecture, copied into the harness directory next to a busybox of that
// architecture: binfmt_misc is mounted in the jail's own user namespace (sandboxed binfmt_misc,
// Linux >= 6.7) and a handler registered there with the F flag (the emulator is opened at
// registration) makes the kernel start every ELF file of the architecture through it, after
// pivot_root and across execve. The host's binfmt_misc is never touched.

import { spawnSync } from "node:child_process";
import { chmodSync } from "node:fs";
import { release } from "node:os";
import { makeTempDir } from "../cleanup.js";
import { followSymlinks, type FileGraph } from "../graph/file-graph.js";
import { DEFAULT_PATH } from "../graph/paths.js";
import { writeTree } from "../graph/write-tree.js";
import { binfmtRegistration, choosePlatform, type JailPlatform } from "./emulation.js";
import { JailError, TestFailure } from "./errors.js";
import { runInJail, type Isolation } from "./run.js";
import { present } from "../present.js";

export interface JailTest {
  /** Run as `/bin/sh -c COMMAND` inside the jail. */
  command: string;
  stdin?: string;
  /** Compared with the trimmed standard output. */
  expectedStdout?: string;
}

export { TestFailure, JailError };
export { runInJail, jailIsolation, type RunInJailOptions, type JailRun, type Isolation } from "./run.js";

/** The jail's network: "none" is its own namespace with only loopback, "host" the host's. */
export const JAIL_NETWORKS = ["none", "host"] as const;
export type JailNetwork = (typeof JAIL_NETWORKS)[number];

export interface JailOptions {
  /**
   * A static busybox on the host, of the bundle's architecture or this machine's. Default:
   * `busybox` on PATH for a bundle of this machine's architecture, else `busybox-<arch>` (Debian's
   * architecture name, as busybox-arm64).
   */
  busybox?: string;
  /**
   * The ABIs (names of loader/machines.ts, as LoadGraph.abi) of the bundle's executables, from
   * their ELF headers. Default: this machine's. Another one runs through an emulator.
   */
  architectures?: (string | null)[];
  /** The static qemu-user for a foreign bundle (default: qemu-<qemu target>-static on PATH). */
  emulator?: string;
  /**
   * Run the bundle through the emulator even when it is for this machine's architecture, to test
   * the emulated jail on one machine. The handler then matches only executables marked EI_OSABI 0
   * (SYSV), so the emulator (Debian's are marked GNU/Linux) and busybox still run natively.
   */
  emulateHostArchitecture?: boolean;
  /** Per test command; default 300 000 (five minutes). */
  timeoutMs?: number;
  /** "none" (default): only loopback; "host": the host's network namespace. */
  network?: JailNetwork;
  /** Use the plain-chroot fallback even where namespaces are allowed (as MAGICPAK_JAIL_FALLBACK=1). */
  forceFallback?: boolean;
  /** Where the fallback's warning goes (the bundle's log, as "Warn"). */
  warn?: (message: string) => void;
}

/** The PATH a container of the bundle gets by default: tests run with what the image will have. */
const PATH = DEFAULT_PATH.slice("PATH=".length);

/** Builds the jail from the plan and runs each test in it; TestFailure for the program, JailError for the jail. */
export async function testInJail(graph: FileGraph, tests: JailTest[], options: JailOptions): Promise<Isolation | undefined> {
  const platform = choosePlatform(options);
  const { dir: jail, remove } = makeTempDir("magicpak-jail-");
  let isolation: Isolation | undefined;
  try {
    await writeTree(graph, jail);
    chmodSync(jail, 0o755);
    const preamble = bundledProgramsFirst(graph, platform.busybox.path, platform);
    for (const test of tests) isolation = await runOne(jail, test, preamble, options, platform);
  } finally {
    remove();
  }
  return isolation;
}

/** Runs the jail's busybox on the host: directly, or through the emulator when it is foreign. */
function runBusyboxOnHost(busybox: string, args: string[], platform: JailPlatform): ReturnType<typeof spawnSync> {
  if (platform.busybox.abi.name === platform.host.name) return spawnSync(busybox, args, { encoding: "utf8" });
  return spawnSync(present(platform.emulation, "the emulation of a foreign busybox").emulator, [busybox, ...args], { encoding: "utf8" });
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
function bundledProgramsFirst(graph: FileGraph, busybox: string, platform: JailPlatform): string {
  const list = runBusyboxOnHost(busybox, ["--list"], platform);
  if (list.status !== 0) throw new JailError(busybox, `--list failed (is it a static busybox?): ${String(list.stderr ?? list.error?.message ?? "").trim()}`);
  return bundledShadows(graph, String(list.stdout ?? ""));
}

/**
 * The shell functions that make the bundle's programs win over the harness's applets of the same
 * name: one per applet that PATH finds as an executable file of `graph`. The --test jail and the
 * --dynamic-test trace use the same ones, so that a tool the test command runs (cut, head, sh) is
 * the harness's in both unless the bundle has it: the trace never brings it in for the command's
 * own sake.
 */
export function bundledShadows(graph: FileGraph, appletList: string): string {
  return appletShadows(appletList, (name) =>
    PATH.split(":")
      .map((dir) => `${dir}/${name}`)
      .find((path) => isBundledExecutable(graph, path)),
  );
}

/**
 * One shell function `NAME() { PROGRAM "$@"; }` per applet of `appletList` (busybox --list) for
 * which `find` gives a program, so that the program runs instead of the applet (see above).
 */
export function appletShadows(appletList: string, find: (name: string) => string | null | undefined): string {
  let functions = "";
  for (const name of appletList.split("\n")) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) continue;
    const found = find(name);
    if (found) functions += `${name}() { ${found} "$@"; }\n`;
  }
  return functions;
}

/** Whether `path` names an executable file of the bundle, through its symlinks. */
function isBundledExecutable(graph: FileGraph, path: string): boolean {
  const at = followSymlinks(graph, path);
  const node = at === null ? undefined : graph.get(at);
  return (node?.kind === "file" || node?.kind === "generated") && (node.mode & 0o111) !== 0;
}

async function runOne(jail: string, test: JailTest, preamble: string, options: JailOptions, platform: JailPlatform): Promise<Isolation> {
  const emulation = platform.emulation;
  const run = await runInJail({
    rootfs: jail,
    command: test.command,
    preamble,
    ...(test.stdin !== undefined ? { stdin: test.stdin } : {}),
    timeoutMs: options.timeoutMs ?? 300_000,
    network: options.network ?? "none",
    busybox: platform.busybox.path,
    busyboxNative: platform.busybox.abi.name === platform.host.name,
    ...(emulation
      ? {
          emulation: {
            emulator: emulation.emulator,
            name: emulation.name,
            // F: the kernel opens the emulator now, by its host path, and uses that file after pivot_root.
            registration: (path: string) => binfmtRegistration(`magicpak-${emulation.qemuTarget}`, platform.target, path, emulation.osabi),
          },
        }
      : {}),
    ...(options.forceFallback ? { forceFallback: true } : {}),
    ...(options.warn ? { warn: options.warn } : {}),
  }).catch((error: unknown) => {
    const binfmt = error instanceof JailError && error.step ? /^binfmt-(mount|register): ([\s\S]*)$/.exec(error.step) : null;
    if (binfmt) {
      const [, step, detail] = binfmt;
      throw new JailError("--test", setupFailure(present(step, "the binfmt step"), present(detail, "the binfmt failure"), platform));
    }
    throw error;
  });
  const { status: code, signal, stdout, stderr } = run;
  const detail = stderr.trim() ? `\n${stderr.trim()}` : "";
  const name = JSON.stringify(test.command);
  if (run.timedOut) throw new TestFailure(`test command ${name} timed out after ${((options.timeoutMs ?? 300_000) / 1000).toFixed(0)} s (--test-timeout) and was killed${detail}`);
  if (code !== 0) throw new TestFailure(`test command ${name} ${signal ? `was killed by ${signal}` : `exited with ${code}`}${detail}${missingHint(stderr)}`);
  if (test.expectedStdout !== undefined && stdout.trim() !== test.expectedStdout) {
    throw new TestFailure(`test command ${name}: stdout mismatch: expected ${JSON.stringify(test.expectedStdout)}, got ${JSON.stringify(stdout.trim())}`);
  }
  return run.isolation;
}

/** A hint naming files the failed program's stderr says are missing (the image lacks them too). */
export function missingHint(stderr: string): string {
  const names = new Set<string>();
  for (const m of stderr.matchAll(/(\/[^\s:'"`]+)['"`]?:? (?:No such file or directory|not found)/g)) names.add(present(m[1], "the missing path"));
  for (const m of stderr.matchAll(/(?:^|\n)(?:[^:\n]*: )*?([A-Za-z0-9_.+-]+): (?:not found|command not found|Cannot exec)/g)) names.add(present(m[1], "the missing command"));
  if (names.size === 0) return "";
  return `\n(the image lacks ${[...names].slice(0, 5).join(", ")}? add what the program needs with --include or --mkdir; the jail has only the bundle)`;
}

/** The kernel refused binfmt_misc in the jail's user namespace: say what it takes. */
function setupFailure(step: string, detail: string, platform: JailPlatform): string {
  const what = `running ${platform.target.name} programs in the jail on this ${platform.host.name} machine`;
  if (step === "mount") {
    return `cannot mount binfmt_misc in the jail's user namespace (${detail.trim()}): ${what} needs binfmt_misc that a user namespace can mount: Linux 6.7 or later with CONFIG_BINFMT_MISC (this kernel is ${release()})`;
  }
  return `the kernel refused the binfmt_misc handler for ${platform.emulation?.emulator} (${detail.trim()}): ${what} needs it`;
}
