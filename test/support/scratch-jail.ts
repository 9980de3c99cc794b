// End-to-end helpers: the real CLI in a child process, and a jail of the test's own making to run
// a finished bundle as a FROM scratch container would (the bundle plus a static busybox, fresh
// mount and PID namespaces, /proc and four /dev nodes). Nothing here uses lib/jail, so a bug there
// cannot hide a broken bundle.

import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture, tool } from "./fixtures.js";
import { runProcess as run } from "../../lib/process.js";

export const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface ProcessResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs a program asynchronously (the test's own servers keep answering meanwhile), with only
 * SYSTEM_PATH in its environment unless told otherwise, killed after two minutes by default.
 */
export async function runProcess(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; stdin?: string | Buffer; cwd?: string; timeoutMs?: number } = {},
): Promise<ProcessResult> {
  const started = Date.now();
  const result = await run(command, args, { env: options.env ?? { PATH: SYSTEM_PATH }, cwd: options.cwd, stdin: options.stdin, timeoutMs: options.timeoutMs ?? 120_000 });
  return { ...result, ms: Date.now() - started };
}

const cliPath = new URL("../../../bin/magicpak.js", import.meta.url).pathname;

/**
 * The real command line, `node bin/magicpak.js ARGS`, with a clean environment: only PATH, which
 * holds the provisioned tools so `busybox` resolves as it would on a build machine.
 */
export function magicpakCli(args: string[], timeoutMs = 300_000): Promise<ProcessResult> {
  return runProcess(process.execPath, [cliPath, ...args], { env: { PATH: `${fixture("MAGICPAK_TOOLS")}:${SYSTEM_PATH}` }, timeoutMs });
}

export interface BundleStats {
  entries: number;
  files: number;
  symlinks: number;
  directories: number;
  /** Bytes of regular files, each inode once. */
  bytes: number;
}

export function bundleStats(dir: string): BundleStats {
  const stats: BundleStats = { entries: 0, files: 0, symlinks: 0, directories: 0, bytes: 0 };
  const seen = new Set<string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      const st = lstatSync(path);
      stats.entries++;
      if (st.isSymbolicLink()) stats.symlinks++;
      else if (st.isDirectory()) {
        stats.directories++;
        walk(path);
      } else if (st.isFile()) {
        stats.files++;
        const id = `${st.dev}:${st.ino}`;
        if (!seen.has(id)) stats.bytes += st.size;
        seen.add(id);
      }
    }
  };
  walk(dir);
  return stats;
}

export function describeStats(s: BundleStats): string {
  return `${s.entries} entries (${s.files} files, ${s.symlinks} symlinks, ${s.directories} directories), ${(s.bytes / 1048576).toFixed(1)} MiB`;
}

/**
 * The host path that `path` names inside `jail` as after chroot(jail): symlinks in the bundle
 * (absolute or relative) are followed within the jail, never out of it.
 */
export function pathInJail(jail: string, path: string): string {
  const pending = path.split("/").filter((p) => p !== "" && p !== ".");
  let current: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (name === ".") continue;
    if (name === "..") {
      current.pop();
      continue;
    }
    const host = join(jail, ...current, name);
    let isLink = false;
    try {
      isLink = lstatSync(host).isSymbolicLink();
    } catch {
      isLink = false;
    }
    if (!isLink) {
      current.push(name);
      continue;
    }
    if (++hops > 40) throw new Error(`${path}: too many levels of symbolic links inside ${jail}`);
    const target = readlinkSync(host);
    if (target.startsWith("/")) current = [];
    pending.unshift(...target.split("/").filter((p) => p !== "" && p !== "."));
  }
  return join(jail, ...current);
}

export interface FreshJail {
  /** The jail's root on the host. */
  dir: string;
  /** `/bin/sh -c COMMAND` inside the jail (busybox's sh), with PATH set as in a container. */
  run(command: string, options?: { stdin?: string | Buffer; timeoutMs?: number }): Promise<ProcessResult>;
}

// The brief's form: mounts in new namespaces, then chroot; `set -e` so a failed mount is loud.
const SETUP =
  'set -e; mount -t proc proc "$J/proc"; for d in null zero urandom random; do : > "$J/dev/$d"; mount --bind "/dev/$d" "$J/dev/$d"; done; exec chroot "$J" /bin/sh -c "$CMD"';

/**
 * Copies the bundle into a fresh temporary directory, adds the static busybox at /bin/busybox
 * (following a bundled /bin -> usr/bin) with its applets beside it (bundled files win), and hands
 * it to `use`; the directory is removed afterwards.
 */
export async function withFreshJail<T>(bundle: string, use: (jail: FreshJail) => Promise<T>): Promise<T> {
  const busybox = fixture("MAGICPAK_BUSYBOX");
  tool("busybox");
  const dir = mkdtempSync(join(tmpdir(), "magicpak-e2e-jail-"));
  try {
    const copy = await runProcess("cp", ["-a", `${bundle}/.`, `${dir}/`]);
    if (copy.status !== 0) throw new Error(`cannot copy ${bundle} into the jail: ${copy.stderr}`);
    const bin = pathInJail(dir, "/bin");
    mkdirSync(bin, { recursive: true });
    const target = join(bin, "busybox");
    if (existsSync(target)) throw new Error(`the bundle already has /bin/busybox: ${target}`);
    copyFileSync(busybox, target);
    chmodSync(target, 0o755);
    const install = await runProcess(target, ["--install", bin]);
    if (install.status !== 0 || !existsSync(join(bin, "sh"))) throw new Error(`busybox --install ${bin} failed: ${install.stderr}`);
    for (const d of ["/proc", "/dev"]) mkdirSync(pathInJail(dir, d), { recursive: true });
    const jail: FreshJail = {
      dir,
      run: (command, options = {}) =>
        runProcess("unshare", ["--mount", "--pid", "--fork", "--kill-child", "/bin/sh", "-c", SETUP], {
          env: { PATH: SYSTEM_PATH, J: dir, CMD: command },
          stdin: options.stdin,
          timeoutMs: options.timeoutMs ?? 60_000,
        }),
    };
    return await use(jail);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A shell word: single-quoted, safe inside `sh -c`. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
