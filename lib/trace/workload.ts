// --dynamic-test: the test command is the workload. It runs under strace, started by a harness
// shell (a static busybox from outside the root, as the --test jail uses), in a new PID namespace
// so that everything it started dies with it:
//
//   unshare [--user] --pid --fork --kill-child --mount  [setup: /proc; in a root, the harness and chroot]
//     strace -f -ff ... -- [chroot ROOT] BUSYBOX sh -c HARNESS
//
// A root of another architecture adds --user: binfmt_misc is mounted in that user namespace and
// the emulator registered (WorkloadRequest.emulation), so the root's programs run through qemu-user
// and strace follows qemu's host system calls, which carry the guest's paths.
//
// HARNESS runs the command as `sh -c COMMAND` and waits for that process only: when it exits the
// workload is over, the processes still running (daemons) are named on stderr and killed with
// kill -9 -1 (every process of the namespace but its init, strace). A timeout or the end of
// magicpak kills unshare, and --kill-child (PR_SET_PDEATHSIG) the namespace's init, so the kernel
// kills every process in it.
//
// Harness and workload: only processes that have executed a file other than the harness busybox,
// and their descendants until they execute the harness again, are the workload; the shell and
// its applets (in-process, forked or through /proc/self/exe) are not. workloadAccesses() is that
// model, on strace's per-process lines.
//
// runWorkload is the one function that starts the run: the jail branch's isolated runner can
// replace it (setWorkloadRunner) without touching the model or the bundle.

import { existsSync, readFileSync, readdirSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "../cleanup.js";
import { chrootCapabilityPrefix } from "../capabilities.js";
import { runProcess } from "../process.js";
import { FILE_CALLS, PROCESS_CALLS, findStrace, parseStraceLine, walkTraceTree, type Line } from "./strace.js";
import { TracerUnavailable } from "./types.js";

export interface WorkloadRequest {
  /** Shell command, run as `sh -c COMMAND` by the harness shell. */
  command: string;
  stdin?: string;
  /** The workload's whole environment (PATH included). */
  env: Record<string, string>;
  /** The root to run in (chroot), a real host path; absent: this machine's root. */
  root?: string;
  /** A static busybox on the host: the harness shell. */
  busybox: string;
  timeoutMs: number;
  /**
   * A root of another architecture: the workload runs in its own user namespace, where binfmt_misc
   * is mounted and `registration` (a handler with the F flag, lib/bundle/workload-platform.ts) makes the
   * kernel start the root's programs through qemu-user. strace then follows qemu's host calls.
   */
  emulation?: { registration: string };
}

/** One access by a workload process, with who made it. */
export interface WorkloadAccess {
  pid: number;
  /** The file the process had executed last (its image), as seen in the root. */
  exe: string;
  syscall: string;
  path: string;
  /** Opened for writing or created (open flags), or a directory it created (mkdir). */
  writes: boolean;
  /** The file may hold what the process put there: created or truncated (O_CREAT, O_TRUNC, creat, mkdir). */
  creates: boolean;
}

export interface WorkloadRun {
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Processes still running when the command's own process exited (killed then): "pid name". */
  leftovers: string[];
  /** What the run could not do as planned (in a root: no overlay, so the workload wrote into it). */
  warnings: string[];
  accesses: WorkloadAccess[];
}

export type WorkloadRunner = (request: WorkloadRequest) => Promise<WorkloadRun>;

let runner: WorkloadRunner = straceWorkload;

/** Runs one workload with the current runner (strace in a PID namespace, see above). */
export function runWorkload(request: WorkloadRequest): Promise<WorkloadRun> {
  return runner(request);
}

/** Replaces the runner (the isolated jail's, or a test's). */
export function setWorkloadRunner(next: WorkloadRunner): void {
  runner = next;
}

/** Where the harness busybox is inside a root: under a tmpfs mounted on the root's /tmp in the namespace. */
const HARNESS_DIR = "/tmp/.magicpak-harness";
const LEFTOVER = "magicpak-leftover:";
const SETUP_FAILED = "magicpak-setup-failed:";
const WARNING = "magicpak-warning:";
const REGISTER = `{ e=$( (printf '%s' "$MAGICPAK_BINFMT" > "\${MAGICPAK_ROOT}/proc/sys/fs/binfmt_misc/register") 2>&1) || { echo "${SETUP_FAILED} the kernel refused the emulator's binfmt_misc handler ($e)" >&2; exit 125; }; }`;

/** The harness shell's script: run the command, then name and kill what is left. */
const HARNESS = `sh -c "$MAGICPAK_WORKLOAD"
s=$?
for p in /proc/[0-9]*; do
  n=\${p#/proc/}
  [ "$n" = 1 ] || [ "$n" = $$ ] && continue
  c=; read -r c < "$p/comm" 2>/dev/null || continue
  printf '${LEFTOVER} %s %s\\n' "$n" "$c" >&2
done
kill -9 -1 2>/dev/null
exit $s`;

/**
 * In the namespace before strace: /proc, devices, and in a root the harness on a tmpfs /tmp. For
 * a foreign root, binfmt_misc in the new /proc (the handler: REGISTER_IN_ROOT); a refusal is
 * reported on one line.
 */
const SETUP = `set -e
if [ -n "$MAGICPAK_ROOT" ]; then
  # The root stays as it was: the workload writes into an overlay's upper directory (a .pyc
  # python compiles, a file a test creates), which goes with the run.
  if [ -n "$MAGICPAK_OVERLAY" ]; then
    mkdir "$MAGICPAK_OVERLAY/upper" "$MAGICPAK_OVERLAY/work"
    e=$(mount -t overlay overlay -o "lowerdir=$MAGICPAK_ROOT,upperdir=$MAGICPAK_OVERLAY/upper,workdir=$MAGICPAK_OVERLAY/work" "$MAGICPAK_ROOT" 2>&1) ||
      echo "${WARNING} the kernel refused an overlay on the root ($e): what the workload writes goes into the root itself" >&2
  else
    echo "${WARNING} the root's path has a comma or colon, which an overlay's options cannot hold: what the workload writes goes into the root itself" >&2
  fi
  mount -t tmpfs -o mode=1777 tmpfs "$MAGICPAK_ROOT/tmp"
  mkdir "$MAGICPAK_ROOT${HARNESS_DIR}"
  cp "$MAGICPAK_BUSYBOX" "$MAGICPAK_ROOT${HARNESS_DIR}/busybox"
  mount -t proc proc "$MAGICPAK_ROOT/proc"
  if [ -n "$MAGICPAK_BINFMT" ]; then
    # A tmpfs /dev: nothing is created in the root.
    mount -t tmpfs -o mode=755 tmpfs "$MAGICPAK_ROOT/dev"
    ln -s /proc/self/fd "$MAGICPAK_ROOT/dev/fd"
  fi
  for d in null zero random urandom full tty; do
    [ -e "$MAGICPAK_ROOT/dev/$d" ] || : > "$MAGICPAK_ROOT/dev/$d" 2>/dev/null || continue
    mount --bind "/dev/$d" "$MAGICPAK_ROOT/dev/$d" 2>/dev/null || true
  done
  P="$MAGICPAK_ROOT/proc"
else
  mount -t proc proc /proc
  P=/proc
fi
if [ -n "$MAGICPAK_BINFMT" ]; then
  e=$(mount -t binfmt_misc binfmt_misc "$P/sys/fs/binfmt_misc" 2>&1) || { echo "${SETUP_FAILED} cannot mount binfmt_misc in the workload's user namespace ($e)" >&2; exit 125; }
  [ -n "$MAGICPAK_ROOT" ] || ${REGISTER}
fi
exec "$@"`;

/**
 * Registers the handler. In a root this runs under strace, just before chroot(8): strace and the
 * host's tools must have started before a handler for this machine's own architecture (a test of
 * the emulated path, matching EI_OSABI 0 only) would send them through qemu, which has no ptrace.
 */
const REGISTER_IN_ROOT = `${REGISTER}
exec /usr/sbin/chroot "$MAGICPAK_ROOT" "$@"`;

/** The default runner: strace -ff in a new PID (and mount) namespace, see the file's comment. */
export async function straceWorkload(request: WorkloadRequest): Promise<WorkloadRun> {
  const strace = findStrace();
  if (!strace) throw new TracerUnavailable("--dynamic-test needs strace on PATH");
  const { dir, remove } = makeTempDir("magicpak-workload-"); // removed on SIGINT/SIGTERM too
  try {
    const prefix = join(dir, "trace");
    const calls = [...FILE_CALLS, ...PROCESS_CALLS, "creat", "mkdir", "mkdirat"].map((c) => `?${c}`).join(",");
    const busybox = request.root ? `${HARNESS_DIR}/busybox` : realpathSync(request.busybox);
    const traced = [strace, "-f", "-ff", "-qq", "-z", "-y", "-s", "65535", "-o", prefix, "-e", `trace=${calls}`, "--"];
    const harness = [busybox, "sh", "-c", HARNESS];
    // In a root the program runs as root in a chroot: it must not be able to chroot out of it again.
    const setpriv = request.root ? findOnPath("setpriv", request.env["PATH"]) : null;
    const caps = setpriv ? chrootCapabilityPrefix(setpriv) : null;
    if (request.root && !caps) throw new TracerUnavailable(`--dynamic-test in a root needs setpriv (util-linux) on PATH and CAP_SETPCAP, to run the workload without CAP_SYS_CHROOT`);
    const enter = request.emulation ? ["/bin/sh", "-c", REGISTER_IN_ROOT, "magicpak-register"] : ["/usr/sbin/chroot", request.root ?? "/"];
    const inner = request.root && caps ? [...caps, ...traced, ...enter, busybox, "setpriv", "--inh-caps", "-sys_chroot", ...harness] : [...traced, ...harness];
    // binfmt_misc can be mounted only in a user namespace of one's own (Linux >= 6.7).
    const user = request.emulation ? ["--user", "--map-root-user"] : [];
    const args = [...user, "--pid", "--fork", "--kill-child", "--mount", "--uts", "--ipc", "--propagation", "private", "/bin/sh", "-c", SETUP, "magicpak-setup", ...inner];
    const overlay = request.root && !/[,:]/.test(request.root + dir) ? dir : "";
    const env = {
      ...request.env,
      MAGICPAK_WORKLOAD: request.command,
      MAGICPAK_ROOT: request.root ?? "",
      MAGICPAK_OVERLAY: overlay,
      MAGICPAK_BUSYBOX: request.busybox,
      MAGICPAK_BINFMT: request.emulation?.registration ?? "",
    };
    const started = Date.now();
    let run;
    try {
      run = await runProcess("unshare", args, { env, cwd: "/", stdin: request.stdin, timeoutMs: request.timeoutMs });
    } catch (error) {
      throw new TracerUnavailable(`cannot start the traced workload (unshare): ${(error as Error).message}`);
    }
    const refused = run.stderr.split("\n").find((line) => line.startsWith(SETUP_FAILED));
    if (refused) throw new TracerUnavailable(`${refused.slice(SETUP_FAILED.length).trim()}: tracing programs of another architecture needs binfmt_misc in a user namespace (Linux 6.7 or later)`);
    const timedOut = run.signal === "SIGKILL" && Date.now() - started >= request.timeoutMs;
    const leftovers: string[] = [];
    const warnings: string[] = [];
    const stderr = run.stderr
      .split("\n")
      .filter((line) => {
        if (line.startsWith(WARNING)) warnings.push(line.slice(WARNING.length).trim());
        else if (line.startsWith(LEFTOVER)) leftovers.push(line.slice(LEFTOVER.length).trim());
        else return true;
        return false;
      })
      .join("\n");
    const byPid = new Map<number, Line[]>();
    for (const file of readdirSync(dir).filter((n) => n.startsWith("trace."))) {
      const pid = Number(file.slice("trace.".length));
      const lines: Line[] = [];
      for (const text of readFileSync(join(dir, file), "utf8").split("\n")) {
        const line = parseStraceLine(pid, text);
        if (line) lines.push(line);
      }
      byPid.set(pid, lines);
    }
    const accesses = workloadAccesses(byPid, { root: request.root ?? null, harness: new Set([busybox]) });
    return { status: run.status, signal: run.signal, stdout: run.stdout, stderr, timedOut, leftovers, warnings, accesses };
  } finally {
    remove();
  }
}

export interface WorkloadModelOptions {
  /** The root strace saw the workload chroot into (its decoded paths are stripped of it), or null. */
  root: string | null;
  /** Images of the harness (paths as exec'd): processes running them are not the workload. */
  harness: Set<string>;
  /** The first process's working directory (default "/"). */
  cwd?: string;
}

/**
 * The accesses of the workload's processes, from strace's per-process lines: a process is the
 * workload while its image (the file it last executed) is not the harness's; a forked child starts
 * with its parent's image and cwd; in a root, nothing before the chroot counts.
 */
export function workloadAccesses(byPid: Map<number, Line[]>, options: WorkloadModelOptions): WorkloadAccess[] {
  const accesses: WorkloadAccess[] = [];
  for (const a of walkTraceTree(byPid, { root: options.root, cwd: options.cwd ?? "/" })) {
    if (a.exe !== null && !options.harness.has(a.exe)) accesses.push({ ...a, exe: a.exe });
  }
  return accesses;
}

function findOnPath(name: string, path: string | undefined): string | null {
  for (const dir of `${path ?? ""}:/usr/sbin:/usr/bin:/sbin:/bin`.split(":")) {
    if (dir !== "" && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}
