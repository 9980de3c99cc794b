// The --test jail: the planned bundle plus a static busybox, in fresh mount and PID namespaces,
// with /proc and /dev/{null,zero,random,urandom} as a container has them. The jail and busybox
// are removed afterwards and never reach OUTPUT.
//
// A bundle for another architecture (an arm64 bundle on x86_64, or the reverse) runs through the
// static qemu-user of its architecture, copied into the jail as /.magicpak/qemu-<arch>-static next
// to a busybox of that architecture: binfmt_misc is mounted in the jail's own user namespace
// (sandboxed binfmt_misc, Linux >= 6.7) and a handler registered there with the F flag (the
// emulator is opened at registration) makes the kernel start every ELF file of the architecture
// through it, after chroot and across execve. The host's binfmt_misc is never touched.

import { spawnSync } from "node:child_process";
import { runProcess, type ProcessResult } from "../process.js";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { release, tmpdir } from "node:os";
import { join } from "node:path";
import { followSymlinks, type FileGraph } from "../graph/file-graph.js";
import { writeTree } from "../bundle/emit.js";
import { DEFAULT_PATH } from "../image/config.js";
import { binfmtRegistration, choosePlatform, type JailPlatform } from "./emulation.js";
import { TestFailure } from "./errors.js";

export interface JailTest {
  /** Run as `/bin/sh -c COMMAND` inside the jail. */
  command: string;
  stdin?: string;
  /** Compared with the trimmed standard output. */
  expectedStdout?: string;
}

export { TestFailure };

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
  timeoutMs?: number;
}

const DEVICES = ["null", "zero", "random", "urandom", "full"];
/** The PATH a container of the bundle gets by default: tests run with what the image will have. */
const PATH = DEFAULT_PATH.slice("PATH=".length);

/**
 * Mounts /proc and the devices (and, for a foreign bundle, binfmt_misc with the emulator's handler
 * in it), then chroots; run by the host's sh inside new namespaces. A set-up step the kernel refuses
 * exits 125 with a line starting "magicpak-jail-setup:".
 */
const SETUP = `set -e
mount -t proc proc "$JAIL/proc"
for d in ${DEVICES.join(" ")}; do : > "$JAIL/dev/$d"; mount --bind "/dev/$d" "$JAIL/dev/$d"; done
if [ -n "\${MAGICPAK_BINFMT-}" ]; then
  b="$JAIL/proc/sys/fs/binfmt_misc"
  e=$(mount -t binfmt_misc binfmt_misc "$b" 2>&1) || { printf 'magicpak-jail-setup: mount: %s\n' "$e" >&2; exit 125; }
  e=$( (printf '%s' "$MAGICPAK_BINFMT" > "$b/register") 2>&1) || { printf 'magicpak-jail-setup: register: %s\n' "$e" >&2; exit 125; }
fi
exec chroot "$JAIL" /bin/sh -c "$MAGICPAK_TEST_COMMAND"`;

/** Where the emulator goes in the jail (never a path of the bundle). */
const EMULATOR_DIR = "/.magicpak";

export async function testInJail(graph: FileGraph, tests: JailTest[], options: JailOptions): Promise<void> {
  const platform = choosePlatform(options);
  if (platform.emulation && graph.get(EMULATOR_DIR)) throw new TestFailure(`the bundle has ${EMULATOR_DIR}, where the jail puts the emulator`);
  const jail = mkdtempSync(join(tmpdir(), "magicpak-jail-"));
  try {
    writeTree(graph, jail);
    chmodSync(jail, 0o755);
    const binfmt = platform.emulation ? installEmulator(jail, platform) : undefined;
    installBusybox(jail, platform);
    for (const dir of ["proc", "dev", "tmp"]) if (!existsSync(join(jail, dir))) mkdirSync(join(jail, dir), { mode: dir === "tmp" ? 0o1777 : 0o755 });
    const preamble = bundledProgramsFirst(graph, join(jail, "bin", "busybox"), platform);
    for (const test of tests) await runOne(jail, test, preamble, options, platform, binfmt);
  } finally {
    rmSync(jail, { recursive: true, force: true });
  }
}

/** The emulator at /.magicpak/qemu-<arch>-static; returns the binfmt_misc registration naming it. */
function installEmulator(jail: string, platform: JailPlatform): string {
  const emulation = platform.emulation!;
  const dir = join(jail, EMULATOR_DIR);
  mkdirSync(dir, { mode: 0o755 });
  const path = join(dir, emulation.name);
  copyFileSync(emulation.emulator, path);
  chmodSync(path, 0o755);
  // F: the kernel opens the emulator now, by its host path, and uses that file after chroot.
  return binfmtRegistration(`magicpak-${emulation.qemuTarget}`, platform.target, path, emulation.osabi);
}

/** Runs the jail's busybox on the host: directly, or through the emulator when it is foreign. */
function runBusyboxOnHost(busybox: string, args: string[], platform: JailPlatform): ReturnType<typeof spawnSync> {
  if (platform.busybox.abi.name === platform.host.name) return spawnSync(busybox, args, { encoding: "utf8" });
  return spawnSync(platform.emulation!.emulator, [busybox, ...args], { encoding: "utf8" });
}

/** busybox at /bin/busybox and its applets linked beside it; files of the bundle win (EEXIST). */
function installBusybox(jail: string, platform: JailPlatform): void {
  const busybox = platform.busybox.path;
  const bin = join(jail, "bin");
  mkdirSync(bin, { recursive: true });
  const target = join(bin, "busybox");
  if (!existsSync(target)) {
    copyFileSync(busybox, target);
    chmodSync(target, 0o755);
  }
  // `busybox --install DIR` links every applet into DIR without replacing existing files.
  const r = runBusyboxOnHost(target, ["--install", bin], platform);
  if (r.status !== 0 || !existsSync(join(bin, "sh"))) {
    const through = platform.busybox.abi.name === platform.host.name ? "" : ` (run through ${platform.emulation!.emulator})`;
    throw new TestFailure(`cannot install busybox applets from ${busybox}${through}: is it a static busybox?${r.error ? ` ${r.error.message}` : ""}`);
  }
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
  if (list.status !== 0) throw new TestFailure(`${busybox} --list failed: ${String(list.stderr ?? list.error?.message ?? "").trim()}`);
  const applets = String(list.stdout ?? "").split("\n").filter((name) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name));
  const functions: string[] = [];
  for (const name of applets) {
    const found = PATH.split(":").map((dir) => `${dir}/${name}`).find((path) => isBundledExecutable(graph, path));
    if (found) functions.push(`${name}() { ${found} "$@"; }`);
  }
  return functions.map((f) => `${f}\n`).join("");
}

/** Whether `path` names an executable file of the bundle, through its symlinks. */
function isBundledExecutable(graph: FileGraph, path: string): boolean {
  const at = followSymlinks(graph, path);
  const node = at === null ? undefined : graph.get(at);
  return (node?.kind === "file" || node?.kind === "generated") && (node.mode & 0o111) !== 0;
}

async function runOne(jail: string, test: JailTest, preamble: string, options: JailOptions, platform: JailPlatform, binfmt: string | undefined): Promise<void> {
  // binfmt_misc mounted in the initial user namespace would be the host's own: always a new one.
  const userns = process.getuid?.() !== 0 || binfmt !== undefined;
  const args = [...(userns ? ["--user", "--map-root-user"] : []), "--mount", "--pid", "--fork", "--kill-child", "/bin/sh", "-c", SETUP];
  const env = { PATH, HOME: "/", JAIL: jail, MAGICPAK_TEST_COMMAND: preamble + test.command, ...(binfmt ? { MAGICPAK_BINFMT: binfmt } : {}) };
  let run: ProcessResult;
  try {
    run = await runProcess("unshare", args, { env, stdin: test.stdin, timeoutMs: options.timeoutMs ?? 300_000 });
  } catch (error) {
    throw new TestFailure(`cannot start the jail (unshare): ${(error as Error).message}`);
  }
  const { status: code, signal, stdout, stderr } = run;
  const detail = stderr.trim() ? `\n${stderr.trim()}` : "";
  const setup = code === 125 ? /^magicpak-jail-setup: (mount|register): (.*)$/m.exec(stderr) : null;
  if (setup) throw new TestFailure(setupFailure(setup[1]!, setup[2]!, platform));
  if (code !== 0) throw new TestFailure(`test command ${JSON.stringify(test.command)} ${signal ? `was killed by ${signal}` : `exited with ${code}`}${detail}`);
  if (test.expectedStdout !== undefined && stdout.trim() !== test.expectedStdout) {
    throw new TestFailure(`test command ${JSON.stringify(test.command)}: stdout mismatch: expected ${JSON.stringify(test.expectedStdout)}, got ${JSON.stringify(stdout.trim())}`);
  }
}

/** The kernel refused binfmt_misc in the jail's user namespace: say what it takes. */
function setupFailure(step: string, detail: string, platform: JailPlatform): string {
  const what = `running ${platform.target.name} programs in the jail on this ${platform.host.name} machine`;
  if (step === "mount") {
    return `cannot mount binfmt_misc in the jail's user namespace (${detail.trim()}): ${what} needs binfmt_misc that a user namespace can mount: Linux 6.7 or later with CONFIG_BINFMT_MISC (this kernel is ${release()})`;
  }
  return `the kernel refused the binfmt_misc handler for ${platform.emulation?.emulator} (${detail.trim()}): ${what} needs it`;
}
