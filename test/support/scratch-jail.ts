// End-to-end helpers: the real CLI in a child process, and a jail of the test's own making to run
// a finished bundle as a FROM scratch container would: its filesystem is the bundle and the /proc,
// /dev (runc's default nodes and links) and /sys a runtime mounts, nothing else; the static busybox
// that runs the command sits in a randomly named directory that is removed as soon as its shell
// runs, after pivot_root. Nothing here uses lib/jail, so a bug there cannot hide a broken bundle,
// and the tool's --test verdict can be compared with this one.

import { randomBytes } from "node:crypto";
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
export async function runProcess(command: string, args: string[], options: { env?: Record<string, string>; stdin?: string | Buffer; cwd?: string; timeoutMs?: number } = {}): Promise<ProcessResult> {
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
  /** `sh -c COMMAND` inside the jail (busybox's sh, not on PATH), with PATH and HOME as in a container. */
  run(command: string, options?: { stdin?: string | Buffer; timeoutMs?: number }): Promise<ProcessResult>;
}

// In new user, mount, PID and IPC namespaces (the host's network: the tests' servers listen there):
// the container's mounts, then pivot_root into the jail and detach the old root. $1 jail, $2 the
// busybox directory's name, $3 the command.
const SETUP = `set -e
J=$1 B=$2
mount --make-rprivate /
mount --bind "$J" "$J"
mount -t proc proc "$J/proc"
mount -t tmpfs -o mode=755 tmpfs "$J/dev"
for d in null zero full random urandom tty; do : > "$J/dev/$d"; mount --bind "/dev/$d" "$J/dev/$d"; done
ln -s /proc/self/fd "$J/dev/fd"; ln -s /proc/self/fd/0 "$J/dev/stdin"; ln -s /proc/self/fd/1 "$J/dev/stdout"; ln -s /proc/self/fd/2 "$J/dev/stderr"; ln -s pts/ptmx "$J/dev/ptmx"
mkdir "$J/dev/pts" "$J/dev/shm" "$J/dev/mqueue"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$J/dev/pts"
mount -t tmpfs -o mode=1777 shm "$J/dev/shm"
mount -t mqueue mqueue "$J/dev/mqueue"
mount -t sysfs -o ro sysfs "$J/sys" 2>/dev/null || true
cd "$J"
exec env -i PATH=${SYSTEM_PATH} HOME=/ "$J/$B/busybox" sh -c 'pivot_root . . && umount -l . && cd / && rm -rf "/$0" && unset PWD OLDPWD SHLVL && eval "$1"' "$B" "$3"`;

/**
 * Copies the bundle into a fresh temporary directory with the mount points a runtime makes (/proc,
 * /dev, /sys) and hands it to `use`; each run puts the static busybox in a new hidden directory of
 * it, which the jail removes. The directory is removed afterwards.
 */
export async function withFreshJail<T>(bundle: string, use: (jail: FreshJail) => Promise<T>): Promise<T> {
  const busybox = fixture("MAGICPAK_BUSYBOX");
  tool("busybox");
  const dir = mkdtempSync(join(tmpdir(), "magicpak-e2e-jail-"));
  try {
    const copy = await runProcess("cp", ["-a", `${bundle}/.`, `${dir}/`]);
    if (copy.status !== 0) throw new Error(`cannot copy ${bundle} into the jail: ${copy.stderr}`);
    for (const d of ["/proc", "/dev", "/sys"]) if (!existsSync(pathInJail(dir, d))) mkdirSync(pathInJail(dir, d), { recursive: true });
    const jail: FreshJail = {
      dir,
      run: async (command, options = {}) => {
        const name = `.e2e-busybox-${randomBytes(8).toString("hex")}`;
        mkdirSync(join(dir, name));
        copyFileSync(busybox, join(dir, name, "busybox"));
        chmodSync(join(dir, name, "busybox"), 0o755);
        try {
          return await runProcess("unshare", ["--user", "--map-root-user", "--mount", "--pid", "--ipc", "--fork", "--kill-child", "/bin/sh", "-c", SETUP, "sh", dir, name, command], {
            env: { PATH: SYSTEM_PATH },
            stdin: options.stdin,
            timeoutMs: options.timeoutMs ?? 60_000,
          });
        } finally {
          rmSync(join(dir, name), { recursive: true, force: true });
        }
      },
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
