// runInJail: one shell command in a root filesystem made to look like a FROM scratch container of
// it, as runc's default spec makes one. The primitive behind --test (lib/jail/jail.ts), exported for
// other users (a traced workload in a source root).
//
// Isolation "namespaces" (the normal case): new user (root mapped to the caller), mount, PID, UTS,
// IPC and network namespaces (only loopback, up; network "host" keeps the host's). In them the host's
// sh mounts /proc, a tmpfs /dev with null, zero, full, random, urandom and tty bound from the host,
// fd, stdin, stdout, stderr and ptmx symlinks, devpts at /dev/pts, tmpfs /dev/shm, mqueue
// /dev/mqueue, and /sys read-only when the kernel lets it; then the harness busybox does runc's
// pivot_root(".", ".") and umount2(".", MNT_DETACH), so the host's root is gone from the jail, not
// merely out of reach of a chroot (the double-chroot escape finds nothing). The whole is run by
// `setpriv --no-new-privs --pdeathsig KILL` and `unshare --fork --kill-child`: when the command ends
// or magicpak dies (even by SIGKILL) the jail's PID namespace, and every process in it, goes.
//
// The harness busybox sits in /.magicpak-harness-<random>, a directory no program looks in and
// never on PATH; in the namespaces it is removed from the jail as soon as the harness shell runs
// (busybox re-executes itself through /proc/self/exe, which works for a removed file).
//
// Capabilities: after the set-up, the program keeps only what a container runtime grants by default
// (podman's and runc's default list, CONTAINER_CAPABILITIES, also in the bounding set), nothing in
// the inheritable or ambient sets, and no_new_privs. The set-up itself needs CAP_SYS_ADMIN (mounts,
// pivot_root, binfmt_misc) and CAP_NET_ADMIN (lo up) after the bounding set is already cut: they
// survive the exec into the harness shell only as inheritable capabilities (for uid 0, execve gives
// permitted = inheritable | bounding: cap_bprm_creds_from_file), and the harness's own setpriv clears
// them from the inheritable set before the command's shell starts.
//
// Isolation "chroot" (fallback): where namespaces are refused (a docker or podman build: no
// CAP_SYS_ADMIN, seccomp denies unshare), a plain chroot as magicpak 1.4.0 did, with /dev nodes made
// by mknod when CAP_MKNOD allows and no /proc. Without /proc busybox cannot re-execute itself, so its
// applets are linked in the harness directory and that directory ends PATH. The program runs with
// the caller's privileges there: a root program can leave a chroot. One warning says so.

import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { registerProcessGroup } from "../cleanup.js";
import { DEFAULT_PATH } from "../graph/paths.js";
import { chrootCapabilityPrefix, keptCapabilities, ownCapabilities, SETUP_CAPABILITIES } from "../capabilities.js";
import { runProcess } from "../process.js";
import { JailError } from "./errors.js";
import { present } from "../present.js";

/**
 * "namespaces": all of them, user namespace included; "namespaces-without-user": mount, PID, UTS, IPC
 * and network namespaces and pivot_root but the caller's own user namespace (root where user
 * namespaces are refused but CAP_SYS_ADMIN is not); "chroot": the plain-chroot fallback.
 */
export type Isolation = "namespaces" | "namespaces-without-user" | "chroot";

export interface RunInJailOptions {
  /** The root filesystem, a directory on the host. Mount points it lacks (/proc, /dev, /sys) and the harness directory are created in it; the harness directory is removed afterwards. */
  rootfs: string;
  /** Run as `sh -c COMMAND` by the harness busybox's sh, with / as working directory. */
  command: string;
  stdin?: string | Buffer;
  /** The whole environment of the command. Default: PATH (Docker's default) and HOME=/. */
  env?: Record<string, string>;
  /** Default 300 000 (five minutes); the jail is killed then and `timedOut` set. */
  timeoutMs?: number;
  /** "none" (default): a network namespace with only loopback, up. "host": the host's network. */
  network?: "none" | "host";
  /** A static busybox on the host: the harness (its sh runs the command). */
  busybox: string;
  /** Whether `busybox` runs on this machine without the emulator (default true). */
  busyboxNative?: boolean;
  /**
   * A foreign architecture: the emulator (static qemu-user on the host) is copied into the harness
   * directory and `registration(pathOnHost)` gives the binfmt_misc line registered in the jail's user
   * namespace (F flag: opened at registration, so it is removed with the harness directory).
   */
  emulation?: { emulator: string; name: string; registration: (path: string) => string };
  /** A host command prefix for the whole jail (a tracer such as ["strace", "-f", "-o", FILE]). */
  wrapper?: string[];
  /** Skip the namespaces and use the chroot fallback (also MAGICPAK_JAIL_FALLBACK=1). */
  forceFallback?: boolean;
  /** Shell text run before the command in the same shell (the bundled-programs-first functions). */
  preamble?: string;
  /** Called once per process for the fallback's warning. */
  warn?: (message: string) => void;
}

export interface JailRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  isolation: Isolation;
}

const DEFAULT_ENV_PATH = DEFAULT_PATH.slice("PATH=".length);

const DEVICES: [string, number, number][] = [
  ["null", 1, 3],
  ["zero", 1, 5],
  ["full", 1, 7],
  ["random", 1, 8],
  ["urandom", 1, 9],
  ["tty", 5, 0],
];
/** The exit status and stderr line of a set-up step that failed (never the program's). */
const SETUP_STATUS = 125;
const SETUP_MARK = "magicpak-jail-setup:";

/** Runs in the new namespaces by the host's sh: $1 jail, $2 harness dir name, $3 "none"|"host", $4 binfmt line or "", then the harness script's arguments. */
const NAMESPACE_SETUP = `J=$1 H=$2 NET=$3 BINFMT=$4
fail() { printf '${SETUP_MARK} %s\\n' "$*" >&2; exit ${SETUP_STATUS}; }
try() { e=$("$@" 2>&1) || fail "$*: $e"; }
try mount --make-rprivate /
try mount --bind "$J" "$J"
if [ "$PROC" = bind ]; then try mount --rbind /proc "$J/proc"; else try mount -t proc -o nosuid,nodev,noexec proc "$J/proc"; fi
try mount -t tmpfs -o nosuid,strictatime,mode=755,size=65536k tmpfs "$J/dev"
for d in ${DEVICES.map((d) => d[0]).join(" ")}; do : > "$J/dev/$d"; try mount --bind "/dev/$d" "$J/dev/$d"; done
ln -s /proc/self/fd "$J/dev/fd"; ln -s /proc/self/fd/0 "$J/dev/stdin"; ln -s /proc/self/fd/1 "$J/dev/stdout"; ln -s /proc/self/fd/2 "$J/dev/stderr"; ln -s pts/ptmx "$J/dev/ptmx"
mkdir "$J/dev/pts" "$J/dev/shm" "$J/dev/mqueue"
try mount -t devpts -o nosuid,noexec,newinstance,ptmxmode=0666,mode=0620 devpts "$J/dev/pts"
try mount -t tmpfs -o nosuid,nodev,noexec,mode=1777,size=65536k shm "$J/dev/shm"
mount -t mqueue -o nosuid,nodev,noexec mqueue "$J/dev/mqueue" 2>/dev/null || true
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$J/sys" 2>/dev/null || true
if [ -n "$BINFMT" ]; then
  b="$J/proc/sys/fs/binfmt_misc"
  e=$(mount -t binfmt_misc binfmt_misc "$b" 2>&1) || fail "binfmt-mount: $e"
  e=$( (printf '%s' "$BINFMT" > "$b/register") 2>&1) || fail "binfmt-register: $e"
fi
cd "$J" || fail "cd $J"
shift 4
exec $CAPS_DROP env -i "$J/$H/busybox" sh -c "$STAGE2" stage2 "$@"`;

/** Run by the harness sh in the jail's directory: pivot_root, then the harness script. $1 harness dir, $2 "none"|"host", $3 PATH, $4 unused, then the harness command. */
const STAGE2 = `pivot_root . . || { echo '${SETUP_MARK} pivot_root . . failed' >&2; exit ${SETUP_STATUS}; }
umount -l . || { echo '${SETUP_MARK} umount -l . failed' >&2; exit ${SETUP_STATUS}; }
cd /
if [ "$2" = none ]; then ip link set lo up || { echo '${SETUP_MARK} ip link set lo up failed' >&2; exit ${SETUP_STATUS}; }; fi
shift 4
exec "$@"`;

/**
 * The command's own shell: $1 the harness directory to remove ("" to keep it), $2 the command; the
 * environment is already exactly the command's (the shell's own PWD, OLDPWD and SHLVL are unset).
 */
const HARNESS = `[ -n "$1" ] && rm -rf "/$1"; __magicpak_command=$2; shift 2; unset PWD OLDPWD SHLVL; eval "$__magicpak_command"`;

/** Where the host's tools (unshare, setpriv, mount, chroot) are found: this process's PATH, then the system's. */
function hostPath(): string {
  return [process.env["PATH"] ?? "", DEFAULT_ENV_PATH].filter((p) => p !== "").join(":");
}

function hostTool(name: string): string | null {
  for (const dir of hostPath().split(":")) {
    if (dir === "") continue;
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  return null;
}

let probed: Isolation | undefined;
let probeProblem = "";
/** Why a fresh /proc is refused in the namespaces (then the jail binds the caller's), or "". */
let procProblem = "";

/** Whether this process may make the namespaces: the first call runs unshare once. */
export function jailIsolation(): { isolation: Isolation; problem: string; procProblem: string } {
  if (probed === undefined) {
    const probe = (userns: boolean) =>
      spawnSync(hostTool("unshare") ?? "unshare", [...(userns ? ["--user", "--map-root-user"] : []), "--mount", "--pid", "--uts", "--ipc", "--net", "--fork", "true"], {
        encoding: "utf8",
        env: { PATH: hostPath() },
      });
    const problemOf = (r: ReturnType<typeof probe>) => (r.error ? r.error.message : String(r.stderr ?? "").trim());
    const full = probe(true);
    if (full.status === 0) {
      probed = "namespaces";
      // In a container, runc's masked and read-only paths over /proc make the kernel refuse a new
      // proc mount in a user namespace (fs/namespace.c, mount_too_revealing).
      const proc = spawnSync(hostTool("unshare") ?? "unshare", ["--user", "--map-root-user", "--mount", "--pid", "--fork", "--mount-proc", "true"], { encoding: "utf8", env: { PATH: hostPath() } });
      if (proc.status !== 0) procProblem = problemOf(proc) || `exit ${proc.status}`;
    } else {
      probeProblem = problemOf(full);
      const withoutUser = process.getuid?.() === 0 ? probe(false) : null;
      probed = withoutUser?.status === 0 ? "namespaces-without-user" : "chroot";
      if (withoutUser && withoutUser.status !== 0) probeProblem = `${probeProblem}; without a user namespace: ${problemOf(withoutUser)}`;
    }
  }
  return { isolation: probed, problem: probeProblem, procProblem };
}

const warned = new Set<string>();

function warnOnce(options: RunInJailOptions, message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  options.warn?.(message);
}

export async function runInJail(options: RunInJailOptions): Promise<JailRun> {
  const forced = options.forceFallback === true || process.env["MAGICPAK_JAIL_FALLBACK"] === "1";
  const probe = jailIsolation();
  const isolation: Isolation = forced ? "chroot" : probe.isolation;
  if (isolation !== "namespaces" && options.emulation) {
    throw new JailError("--test", `running programs of another architecture needs a user namespace for binfmt_misc, and this process cannot make one (${forced ? "fallback forced" : probe.problem})`);
  }
  const rootfs = options.rootfs;
  const harness = `.magicpak-harness-${randomBytes(6).toString("hex")}`;
  const harnessDir = join(rootfs, harness);
  const created: string[] = [];
  for (const dir of ["proc", "dev", "sys"]) {
    const path = join(rootfs, dir);
    if (!existsOrLink(path)) {
      mkdirSync(path, { mode: 0o755 });
      created.push(path);
    }
  }
  mkdirSync(harnessDir, { mode: 0o755 });
  try {
    copyFileSync(options.busybox, join(harnessDir, "busybox"));
    chmodSync(join(harnessDir, "busybox"), 0o755);
    let registration = "";
    if (options.emulation) {
      const path = join(harnessDir, options.emulation.name);
      copyFileSync(options.emulation.emulator, path);
      chmodSync(path, 0o755);
      registration = options.emulation.registration(path);
    }
    const env = options.env ?? { PATH: DEFAULT_ENV_PATH, HOME: "/" };
    const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    const timeoutMs = options.timeoutMs ?? 300_000;
    // no_new_privs, and SIGKILL when magicpak dies (unshare --kill-child passes it on to the jail).
    const setpriv = hostTool("setpriv");
    const guard = setpriv ? [setpriv, "--no-new-privs", "--pdeathsig", "KILL", "--"] : [];
    if (!setpriv)
      warnOnce(options, "setpriv (util-linux) is not on PATH: the test jail runs without no_new_privs, with every capability of its namespace, and dies with magicpak only by unshare --kill-child");
    const own = ownCapabilities();
    const busyboxIn = `/${harness}/busybox`;
    let capsDrop = "";
    let argv: string[];
    if (isolation !== "chroot" && probe.procProblem)
      warnOnce(options, `the test jail's /proc is the caller's, bound: a new /proc is refused here (${probe.procProblem}); it shows the processes outside the jail`);
    if (isolation === "namespaces-without-user") warnOnce(options, `the test jail has no user namespace (${probe.problem}): mount, PID, UTS, IPC and network namespaces and pivot_root only`);
    if (isolation !== "chroot") {
      const removeHarness = options.busyboxNative !== false && !options.emulation ? "1" : "0";
      const network = options.network ?? "none";
      const unshare = [
        hostTool("unshare") ?? "unshare",
        ...(isolation === "namespaces" ? ["--user", "--map-root-user"] : []),
        "--mount",
        "--pid",
        "--uts",
        "--ipc",
        ...(network === "none" ? ["--net"] : []),
        "--fork",
        "--kill-child",
      ];
      if (setpriv) {
        const kept = keptCapabilities(own?.bounding)
          .map((c) => `+${c}`)
          .join(",");
        capsDrop = `${setpriv} --inh-caps ${SETUP_CAPABILITIES.map((c) => `+${c}`).join(",")} -- ${setpriv} --bounding-set -all${kept ? `,${kept}` : ""} --`;
      }
      const dropSetup = capsDrop ? [busyboxIn, "setpriv", "--inh-caps", SETUP_CAPABILITIES.map((c) => `-${c}`).join(","), busyboxIn] : [];
      const harnessArgv = [...dropSetup, "env", "-i", ...envArgs, busyboxIn, "sh", "-c", HARNESS, "sh", removeHarness === "1" ? harness : "", (options.preamble ?? "") + options.command];
      argv = [...guard, ...unshare, "/bin/sh", "-c", NAMESPACE_SETUP, "sh", rootfs, harness, network, registration, harness, network, env["PATH"] ?? "", removeHarness, ...harnessArgv];
    } else {
      const devProblems = makeDevices(rootfs);
      const why = forced ? "fallback forced by MAGICPAK_JAIL_FALLBACK=1" : probe.problem || "unshare failed";
      // chroot(1) needs CAP_SYS_CHROOT; the program must not have it (the double-chroot escape), so it
      // passes to chroot only as an inheritable capability, which the harness's setpriv clears.
      const prefix = setpriv ? chrootCapabilityPrefix(setpriv) : null;
      const message = `the test jail is a plain chroot: namespaces are refused here (${why}): no /proc, no user, PID, network or mount isolation${devProblems ? `, no ${devProblems} (mknod refused)` : ""}${prefix ? "" : "; a program run as root can leave it (no CAP_SETPCAP to drop capabilities)"}`;
      warnOnce(options, message);
      for (const name of appletNames(options.busybox)) {
        try {
          symlinkSync("busybox", join(harnessDir, name));
        } catch {
          // a name twice
        }
      }
      const path = `${env["PATH"] ?? DEFAULT_ENV_PATH}:/${harness}`;
      const fallbackEnv = [...envArgs.filter((e) => !e.startsWith("PATH=")), `PATH=${path}`];
      const caps = prefix ? [...prefix, ...guard] : guard;
      const dropChroot = prefix ? [busyboxIn, "setpriv", "--inh-caps", "-sys_chroot"] : [];
      argv = [
        ...caps,
        hostTool("env") ?? "env",
        "-i",
        ...fallbackEnv,
        hostTool("chroot") ?? "chroot",
        rootfs,
        ...dropChroot,
        busyboxIn,
        "sh",
        "-c",
        `cd / && ${HARNESS}`,
        "sh",
        "",
        (options.preamble ?? "") + options.command,
      ];
    }
    const wrapper = options.wrapper ?? [];
    const [command, ...args] = [...wrapper, ...argv];
    const program = present(command, "the jail's command");
    let unregister: (() => void) | undefined;
    let pgid: number | undefined;
    let run;
    try {
      run = await runProcess(program, args, {
        env: { PATH: hostPath(), STAGE2, CAPS_DROP: capsDrop, PROC: isolation !== "chroot" && probe.procProblem ? "bind" : "new" },
        stdin: options.stdin,
        timeoutMs,
        killGroup: true,
        onSpawn: (pid) => {
          pgid = pid;
          unregister = registerProcessGroup(pid);
        },
      });
    } catch (error) {
      throw new JailError(program, `cannot start the jail: ${(error as Error).message}`);
    } finally {
      // Whatever the command left behind in its process group goes with it.
      if (pgid !== undefined) {
        try {
          process.kill(-pgid, "SIGKILL");
        } catch {
          // gone
        }
      }
      unregister?.();
    }
    const setup = run.status === SETUP_STATUS ? new RegExp(`^${SETUP_MARK} (.*)$`, "m").exec(run.stderr) : null;
    if (setup) throw new JailError("--test", `cannot set up the jail: ${setup[1]}`, present(setup[1], "the setup step"));
    const chroot = isolation === "chroot" && run.status === 125 ? /^chroot: cannot change root directory to .*$/m.exec(run.stderr) : null;
    if (chroot) throw new JailError("--test", `cannot set up the jail: ${chroot[0]} (the fallback needs CAP_SYS_CHROOT: run as root)`);
    const refused = run.status === 1 ? /^(unshare|setpriv): .*$/m.exec(run.stderr) : null;
    if (refused && !run.stdout) throw new JailError("--test", `cannot set up the jail: ${refused[0]}`);
    return { status: run.status, signal: run.signal, stdout: run.stdout, stderr: run.stderr, timedOut: run.timedOut === true, isolation };
  } finally {
    rmSync(harnessDir, { recursive: true, force: true });
    for (const path of created.reverse()) rmSync(path, { recursive: true, force: true });
  }
}

function existsOrLink(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return existsSync(path);
  }
}

/** mknod the devices in the rootfs's /dev (fallback); returns the ones it could not make, or "". */
function makeDevices(rootfs: string): string {
  const missing: string[] = [];
  for (const [name, major, minor] of DEVICES) {
    const path = join(rootfs, "dev", name);
    if (existsOrLink(path)) continue;
    const r = spawnSync(hostTool("mknod") ?? "mknod", ["-m", "666", path, "c", String(major), String(minor)], { encoding: "utf8" });
    if (r.status !== 0) missing.push(`/dev/${name}`);
  }
  return missing.join(", ");
}

function appletNames(busybox: string): string[] {
  const r = spawnSync(busybox, ["--list"], { encoding: "utf8" });
  return String(r.stdout ?? "")
    .split("\n")
    .filter((n) => /^[A-Za-z0-9_.[-]+$/.test(n) && n !== "busybox");
}
