// --dynamic (magicpak's step 3, so --exclude applies to what it finds): each input run once under
// a tracer. --dynamic-test: the test command and --dynamic-command run as traced workloads.
// Files the runs used come with their closures.

import { realpathSync } from "node:fs";
import { posix } from "node:path";
import type { RootFs } from "../../fs/root.js";
import type { FileGraph } from "../../graph/file-graph.js";
import { DEFAULT_PATH } from "../../graph/paths.js";
import { bundledShadows } from "../../jail/jail.js";
import type { Loader } from "../../loader/load.js";
import { hostAbi } from "../../loader/machines.js";
import type { LoadGraph } from "../../loader/model.js";
import { traceProgram, TracerUnavailable } from "../../trace/index.js";
import { runWorkload, type WorkloadAccess, type WorkloadRun } from "../../trace/workload.js";
import { chooseWorkloadPlatform, type WorkloadPlatform } from "../workload-platform.js";
import { addClosure, addRunnable } from "../closure.js";
import { addDirectoryChain, addFromRoot } from "../collect.js";
import { isDynamicElf, readElfOrNull } from "../elf.js";
import { BundleError } from "../errors.js";
import type { Logger } from "../log.js";
import type { BundleOptions } from "../options.js";
import type { Plan } from "../plan.js";
import type { Progress } from "../../report/progress.js";
import { readShebang } from "../script.js";
import { present } from "../../present.js";

export async function dynamic(plan: Plan): Promise<void> {
  const options = plan.options.dynamic;
  if (!options) return;
  for (const [i, path] of plan.inputs.entries()) {
    const step = plan.progress.step(`trace a run of ${path} (--dynamic)`, [i + 1, plan.inputs.length]);
    step.done(`${await addDynamicAccesses(plan.graph, plan.root, plan.loader, path, options, plan.log, foreignAbi(plan.loads, plan.options), plan.options.test)} file accesses`);
  }
}

export async function dynamicTest(plan: Plan): Promise<void> {
  const options = plan.options.dynamicTest;
  if (!options) return;
  await addWorkloads(plan.graph, plan.root, plan.loader, plan.loads, plan.options, plan.log, plan.progress);
}

/** Files the traced run of `input` used: /proc, /sys and /dev are the kernel's, never bundled. */
async function addDynamicAccesses(
  graph: FileGraph,
  root: RootFs,
  loader: Loader,
  input: string,
  dynamic: NonNullable<BundleOptions["dynamic"]>,
  log: Logger,
  foreign: string | null,
  test: BundleOptions["test"],
): Promise<number> {
  log("Info", `trace a run of ${input}${dynamic.args?.length ? ` ${dynamic.args.join(" ")}` : ""}`);
  let result;
  try {
    const request = { argv: [input, ...(dynamic.args ?? [])], stdin: dynamic.stdin, timeoutMs: dynamic.timeoutMs };
    // The kernel reports descriptors by their real host paths: give the tracer the root's real path.
    if (foreign !== null) result = await traceForeign(root, request, workloadPlatform(foreign, test, undefined), log);
    else if (root.isHostRoot) result = await traceProgram(request, dynamic.tracer);
    else {
      // In a root the program runs as root: under the workload harness it cannot chroot out of it.
      let platform: WorkloadPlatform | null = null;
      try {
        platform = workloadPlatform(null, test, undefined);
      } catch (error) {
        if (!(error instanceof TracerUnavailable)) throw error;
        log("Warn", `the --dynamic run is a plain chroot of ${root.root}, which a program run as root can leave: ${error.message}`);
      }
      result = platform ? await traceForeign(root, request, platform, log) : await traceProgram({ ...request, root: realpathSync(root.root) }, dynamic.tracer);
    }
  } catch (error) {
    if (error instanceof TracerUnavailable) throw new BundleError("--dynamic", error.message);
    throw error;
  }
  log("Debug", `${"tracer" in result ? result.tracer : "strace under qemu"} recorded ${result.accesses.length} file accesses`);
  if (result.status !== 0) {
    const why = result.signal ? `was killed by ${result.signal}` : `exited with ${result.status}`;
    throw new BundleError(input, `the --dynamic run ${why}${result.stderr.trim() ? `: ${result.stderr.trim()}` : ""}`);
  }
  const self = root.tryResolve(input)?.path;
  const seen = new Set<string>();
  const loaded = loadedObjects(root, result.accesses);
  for (const access of result.accesses) {
    const path = access.path;
    if (seen.has(path) || isKernelPath(path)) continue;
    seen.add(path);
    const file = root.tryResolve(path);
    if (!file?.stats.isFile() || file.path === self || isKernelPath(file.path)) continue;
    log("Debug", `dynamic: ${access.syscall} ${path}`);
    addFromRoot(graph, root, path, { kind: "dynamic", by: input });
    if (isDynamicElf(root, file.path)) addClosure(graph, root, loader, path, loaded);
  }
  return result.accesses.length;
}

/**
 * A --dynamic run of another architecture: the program, exec'd by the harness shell, runs through
 * qemu-user as a workload does (lib/bundle/workload-platform.ts).
 */
async function traceForeign(root: RootFs, request: { argv: string[]; stdin?: string; timeoutMs?: number }, platform: WorkloadPlatform, log: Logger): Promise<WorkloadRun> {
  const timeoutMs = request.timeoutMs ?? 300_000;
  const command = `exec ${request.argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ")}`;
  const env = { PATH: DEFAULT_PATH.slice("PATH=".length), HOME: "/" };
  const run = await runWorkload({
    command,
    stdin: request.stdin,
    env,
    root: root.isHostRoot ? undefined : realpathSync(root.root),
    busybox: platform.busybox,
    timeoutMs,
    ...(platform.emulation ? { emulation: platform.emulation } : {}),
  });
  if (run.timedOut) throw new BundleError(present(request.argv[0], "the --dynamic program"), `the --dynamic run did not end within ${timeoutMs / 1000} s`);
  for (const warning of run.warnings) log("Warn", `--dynamic ${request.argv.join(" ")}: ${warning}`);
  return run;
}

/**
 * The run's own loaded objects, by SONAME and by file name: they satisfy DT_NEEDED as the loader
 * would (java dlopen()s libjvm.so by path, then libjava.so, which needs it by soname only).
 */
function loadedObjects(root: RootFs, accesses: { syscall: string; path: string; writes?: boolean }[]): Set<string> {
  const loaded = new Set<string>();
  for (const access of accesses) {
    if (access.writes || !access.syscall.startsWith("open") || isKernelPath(access.path)) continue;
    const file = root.tryResolve(access.path);
    if (!file?.stats.isFile()) continue;
    const soname = readElfOrNull(root, file.path)?.dynamic?.soname;
    if (soname) loaded.add(soname);
    loaded.add(posix.basename(access.path));
  }
  return loaded;
}

/** The workloads of --dynamic-test, each run traced; what their processes used is added. */
async function addWorkloads(graph: FileGraph, root: RootFs, loader: Loader, loads: LoadGraph[], options: BundleOptions, log: Logger, progress: Progress): Promise<void> {
  const dynamic = present(options.dynamicTest, "--dynamic-test");
  const workloads: { command: string; stdin?: string }[] = [];
  if (dynamic.testCommand !== false) {
    if (!options.test) throw new BundleError("--dynamic-test", "needs --test: the test command is the workload (or give --dynamic-command)");
    if (options.test.command !== undefined) workloads.push({ command: options.test.command, stdin: options.test.stdin });
    else for (const input of options.inputs) workloads.push({ command: posix.basename(input), stdin: options.test.stdin });
  }
  for (const command of dynamic.commands ?? []) workloads.push({ command });
  let platform: WorkloadPlatform;
  try {
    platform = workloadPlatform(foreignAbi(loads, options), options.test, dynamic.emulateHostArchitecture);
  } catch (error) {
    if (error instanceof TracerUnavailable) throw new BundleError("--dynamic-test", error.message);
    throw error;
  }
  const timeoutMs = dynamic.timeoutMs ?? 300_000;
  for (const [i, workload] of workloads.entries()) {
    // What an earlier workload brought in wins over the harness's applets in the next one too.
    const preamble = bundledShadows(graph, platform.applets);
    log("Info", `trace the workload ${JSON.stringify(workload.command)}`);
    const step = progress.step(`trace the workload ${JSON.stringify(workload.command)} (--dynamic-test)`, [i + 1, workloads.length]);
    let run: WorkloadRun;
    try {
      run = await runWorkload({
        command: preamble + workload.command,
        stdin: workload.stdin,
        env: { PATH: DEFAULT_PATH.slice("PATH=".length), HOME: "/", ...dynamic.env },
        root: root.isHostRoot ? undefined : realpathSync(root.root),
        busybox: platform.busybox,
        timeoutMs,
        ...(platform.emulation ? { emulation: platform.emulation } : {}),
      });
    } catch (error) {
      if (error instanceof TracerUnavailable) throw new BundleError("--dynamic-test", error.message);
      throw error;
    }
    if (run.timedOut) throw new BundleError(workload.command, `the --dynamic-test workload did not end within ${timeoutMs / 1000} s: every process of it was killed`);
    for (const warning of run.warnings) log("Warn", `--dynamic-test ${JSON.stringify(workload.command)}: ${warning}`);
    if (run.leftovers.length) log("Warn", `--dynamic-test ${JSON.stringify(workload.command)}: killed what was still running when the command ended: ${run.leftovers.join(", ")}`);
    if (run.status !== 0) {
      const why = run.signal ? `was killed by ${run.signal}` : `exited with ${run.status}`;
      throw new BundleError(workload.command, `the --dynamic-test workload ${why}${run.stderr.trim() ? `: ${run.stderr.trim()}` : ""}`);
    }
    log("Debug", `the workload's processes made ${run.accesses.length} file accesses`);
    step.done(`${run.accesses.length} file accesses`);
    addWorkloadAccesses(graph, root, loader, workload.command, run.accesses, log);
  }
}

/** The inputs' architecture when it is not this machine's (their loads come first), else null. */
function foreignAbi(loads: LoadGraph[], options: BundleOptions): string | null {
  const host = hostAbi()?.name ?? null;
  const foreign = loads.slice(0, options.inputs.length).find((l) => l.abi !== null && l.abi !== host);
  return foreign?.abi ?? (options.dynamicTest?.emulateHostArchitecture ? host : null);
}

/**
 * The harness busybox and, for another architecture, the emulator of a traced run (throws
 * TracerUnavailable). The harness's sh runs an applet before any program on PATH; the programs the
 * plan already holds (the inputs, --include) win over the applets, as in the --test jail
 * (bundledShadows), and the root's other programs are the workload's only when the program runs
 * them or the command names one busybox lacks.
 */
function workloadPlatform(architecture: string | null, test: BundleOptions["test"], emulateHostArchitecture: boolean | undefined): WorkloadPlatform {
  return chooseWorkloadPlatform({
    architecture,
    ...(test?.busybox !== undefined ? { busybox: test.busybox } : {}),
    ...(test?.emulator !== undefined ? { emulator: test.emulator } : {}),
    emulateHostArchitecture: emulateHostArchitecture === true,
  });
}

/** What a workload's processes used: files read (ELF files with their closure), directories written in. */
export function addWorkloadAccesses(graph: FileGraph, root: RootFs, loader: Loader, by: string, accesses: WorkloadAccess[], log: Logger): void {
  // What the workload made (created or truncated) is its own, not the root's: an output file, a
  // directory and all below it. A file it only opened for writing (O_RDWR on a database) is read too.
  const made = new Set<string>();
  const createdDirs: string[] = [];
  for (const a of accesses) {
    if (!a.creates) continue;
    made.add(a.path);
    if (a.syscall === "mkdir" || a.syscall === "mkdirat") createdDirs.push(a.path);
  }
  const madeByWorkload = (path: string) => made.has(path) || createdDirs.some((dir) => path.startsWith(`${dir}/`));
  const loaded = loadedObjects(
    root,
    accesses.filter((a) => !madeByWorkload(a.path)),
  );
  const files: { access: WorkloadAccess; path: string }[] = [];
  // Paths a process used that the root does not have once the run is over: the harness or the
  // workload made them (the test command's `printf > /tmp/x`, a `mktemp -d` the program reads in).
  const transient: WorkloadAccess[] = [];
  const seen = new Set<string>();
  for (const access of accesses) {
    if (seen.has(access.path) || isKernelPath(access.path) || madeByWorkload(access.path)) continue;
    seen.add(access.path);
    const file = root.tryResolve(access.path);
    if (file === null) transient.push(access);
    if (!file?.stats.isFile() || isKernelPath(file.path)) continue;
    files.push({ access, path: file.path });
  }
  for (const { access, path } of files) {
    log("Debug", `dynamic-test: pid ${access.pid} (${access.exe}) ${access.syscall} ${access.path}`);
    addFromRoot(graph, root, access.path, { kind: "dynamic", by, pid: access.pid, exe: access.exe, syscall: access.syscall, path: access.path });
    if (isDynamicElf(root, path)) addClosure(graph, root, loader, access.path, loaded);
    // An executed script: the kernel reads its "#!" line and starts the interpreter with no system
    // call of the process's own, so no tracer sees the interpreter; its chain comes from the file.
    else if (access.syscall.startsWith("exec") && readShebang(root, path) !== null) addRunnable(graph, root, loader, access.path, log);
  }
  // Directories the workload created files in, and those of the paths it used that the run made
  // and removed: the nearest one the root has, with its mode. A directory the harness made (the
  // test command's `mktemp -d`) and removed is not the root's: its parent (/tmp) is what the image
  // must have for the program to write or read there.
  const nearestRootDirectory = (path: string): { dir: string; mode: number } | null => {
    for (let dir = posix.dirname(path); dir !== "/"; dir = posix.dirname(dir)) {
      if (madeByWorkload(dir)) continue;
      const found = root.tryResolve(dir);
      if (found?.stats.isDirectory()) return { dir, mode: found.stats.mode & 0o7777 };
    }
    return null;
  };
  const dirs = new Map<string, { access: WorkloadAccess; mode: number; created: boolean }>();
  for (const a of [...accesses.filter((x) => x.creates), ...transient]) {
    if (isKernelPath(a.path)) continue;
    const nearest = nearestRootDirectory(a.path);
    if (nearest && !isKernelPath(nearest.dir) && !dirs.has(nearest.dir)) dirs.set(nearest.dir, { access: a, mode: nearest.mode, created: a.creates });
  }
  for (const [dir, { access: a, mode, created }] of dirs) {
    const at = addDirectoryChain(graph, root, dir);
    log("Debug", `dynamic-test: directory ${at} (pid ${a.pid} ${a.exe} ${created ? "wrote" : `${a.syscall}, then the run removed,`} ${a.path})`);
    graph.add({
      kind: "directory",
      path: graph.resolveInGraph(at),
      mode,
      reasons: [{ kind: "dynamic-directory", by, pid: a.pid, exe: a.exe, path: a.path, ...(created ? {} : { syscall: a.syscall }) }],
    });
  }
}

/** /proc, /sys and /dev are the kernel's: never bundled. */
function isKernelPath(path: string): boolean {
  return /^\/(proc|sys|dev)(\/|$)/.test(path);
}
