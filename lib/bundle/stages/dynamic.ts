// --dynamic (magicpak's step 3, so --exclude applies to what it finds): each input run once under
// a tracer. --dynamic-test: the test command and --dynamic-command run as traced workloads.
// Files the runs used come with their closures.

import { spawnSync } from "node:child_process";
import { realpathSync } from "node:fs";
import { posix } from "node:path";
import { findOnPath } from "../../fs/which.js";
import type { RootFs } from "../../fs/root.js";
import type { FileGraph } from "../../graph/file-graph.js";
import { DEFAULT_PATH } from "../../graph/paths.js";
import { appletShadows } from "../../jail/jail.js";
import type { Loader } from "../../loader/load.js";
import { hostAbi } from "../../loader/machines.js";
import type { LoadGraph } from "../../loader/model.js";
import { traceProgram, TracerUnavailable } from "../../trace/index.js";
import { runWorkload, type WorkloadAccess, type WorkloadRun } from "../../trace/workload.js";
import { addClosure } from "../closure.js";
import { addDirectoryChain, addFromRoot } from "../collect.js";
import { isDynamicElf, readElfOrNull } from "../elf.js";
import { BundleError } from "../errors.js";
import type { Logger } from "../log.js";
import type { BundleOptions } from "../options.js";
import type { Plan } from "../plan.js";
import { findInRootPath } from "../script.js";

export async function dynamic(plan: Plan): Promise<void> {
  const options = plan.options.dynamic;
  if (!options) return;
  for (const path of plan.inputs) await addDynamicAccesses(plan.graph, plan.root, plan.loader, path, options, plan.log);
}

export async function dynamicTest(plan: Plan): Promise<void> {
  const options = plan.options.dynamicTest;
  if (!options) return;
  await addWorkloads(plan.graph, plan.root, plan.loader, plan.loads, plan.options, options, plan.log);
}

/** Files the traced run of `input` used: /proc, /sys and /dev are the kernel's, never bundled. */
async function addDynamicAccesses(graph: FileGraph, root: RootFs, loader: Loader, input: string, dynamic: NonNullable<BundleOptions["dynamic"]>, log: Logger): Promise<void> {
  log("Info", `trace a run of ${input}${dynamic.args?.length ? ` ${dynamic.args.join(" ")}` : ""}`);
  let result;
  try {
    const request = { argv: [input, ...(dynamic.args ?? [])], stdin: dynamic.stdin, timeoutMs: dynamic.timeoutMs };
    // The kernel reports descriptors by their real host paths: give the tracer the root's real path.
    result = await traceProgram(root.isHostRoot ? request : { ...request, root: realpathSync(root.root) }, dynamic.tracer);
  } catch (error) {
    if (error instanceof TracerUnavailable) throw new BundleError("--dynamic", error.message);
    throw error;
  }
  log("Debug", `${result.tracer} recorded ${result.accesses.length} file accesses`);
  if (result.status !== 0) {
    const why = result.signal ? `was killed by ${result.signal}` : `exited with ${result.status}`;
    throw new BundleError(input, `the --dynamic run ${why}${result.stderr.trim() ? `: ${result.stderr.trim()}` : ""}`);
  }
  const self = root.tryResolve(input)?.path;
  const seen = new Set<string>();
  for (const access of result.accesses) {
    const path = access.path;
    if (seen.has(path) || isKernelPath(path)) continue;
    seen.add(path);
    const file = root.tryResolve(path);
    if (!file?.stats.isFile() || file.path === self || isKernelPath(file.path)) continue;
    log("Debug", `dynamic: ${access.syscall} ${path}`);
    addFromRoot(graph, root, path, { kind: "dynamic", by: input });
    if (isDynamicElf(root, file.path)) addClosure(graph, root, loader, path);
  }
}

/** The workloads of --dynamic-test, each run traced; what their processes used is added. */
async function addWorkloads(graph: FileGraph, root: RootFs, loader: Loader, loads: LoadGraph[], options: BundleOptions, dynamic: NonNullable<BundleOptions["dynamicTest"]>, log: Logger): Promise<void> {
  const host = hostAbi()?.name ?? null;
  const foreign = loads.slice(0, options.inputs.length).find((l) => l.abi !== null && l.abi !== host);
  if (foreign) throw new BundleError("--dynamic-test", `tracing a workload of another architecture (${foreign.abi}) is not supported yet`);
  const workloads: { command: string; stdin?: string }[] = [];
  if (dynamic.testCommand !== false) {
    if (!options.test) throw new BundleError("--dynamic-test", "needs --test: the test command is the workload (or give --dynamic-command)");
    if (options.test.command !== undefined) workloads.push({ command: options.test.command, stdin: options.test.stdin });
    else for (const input of options.inputs) workloads.push({ command: posix.basename(input), stdin: options.test.stdin });
  }
  for (const command of dynamic.commands ?? []) workloads.push({ command });
  const busybox = options.test?.busybox ?? findOnPath("busybox");
  if (!busybox) throw new BundleError("--dynamic-test", "needs a static busybox for the harness shell (--busybox, or busybox on PATH)");
  const timeoutMs = dynamic.timeoutMs ?? 300_000;
  const preamble = rootProgramsFirst(root, busybox);
  for (const workload of workloads) {
    log("Info", `trace the workload ${JSON.stringify(workload.command)}`);
    let run: WorkloadRun;
    try {
      run = await runWorkload({
        command: preamble + workload.command,
        stdin: workload.stdin,
        env: { PATH: DEFAULT_PATH.slice("PATH=".length), HOME: "/", ...dynamic.env },
        root: root.isHostRoot ? undefined : realpathSync(root.root),
        busybox,
        timeoutMs,
      });
    } catch (error) {
      if (error instanceof TracerUnavailable) throw new BundleError("--dynamic-test", error.message);
      throw error;
    }
    if (run.timedOut) throw new BundleError(workload.command, `the --dynamic-test workload did not end within ${timeoutMs / 1000} s: every process of it was killed`);
    if (run.leftovers.length) log("Warn", `--dynamic-test ${JSON.stringify(workload.command)}: killed what was still running when the command ended: ${run.leftovers.join(", ")}`);
    if (run.status !== 0) {
      const why = run.signal ? `was killed by ${run.signal}` : `exited with ${run.status}`;
      throw new BundleError(workload.command, `the --dynamic-test workload ${why}${run.stderr.trim() ? `: ${run.stderr.trim()}` : ""}`);
    }
    log("Debug", `the workload's processes made ${run.accesses.length} file accesses`);
    addWorkloadAccesses(graph, root, loader, workload.command, run.accesses, log);
  }
}

/**
 * Shell functions that make the root's programs win over the harness busybox's applets (its sh
 * runs an applet before any program on PATH), as the --test jail does for the bundle's: one per
 * applet name that PATH finds in the root.
 */
function rootProgramsFirst(root: RootFs, busybox: string): string {
  const list = spawnSync(busybox, ["--list"], { encoding: "utf8" });
  if (list.status !== 0) throw new BundleError(busybox, `--list failed: is it a static busybox? ${String(list.stderr ?? list.error?.message ?? "").trim()}`);
  return appletShadows(list.stdout, (name) => findInRootPath(root, name));
}

/** What a workload's processes used: files read (ELF files with their closure), directories written in. */
export function addWorkloadAccesses(graph: FileGraph, root: RootFs, loader: Loader, by: string, accesses: WorkloadAccess[], log: Logger): void {
  const written = new Set<string>();
  const created: string[] = [];
  for (const a of accesses) {
    if (!a.writes) continue;
    written.add(a.path);
    if (a.syscall === "mkdir" || a.syscall === "mkdirat") created.push(a.path);
  }
  const madeByWorkload = (path: string) => written.has(path) || created.some((dir) => path.startsWith(`${dir}/`));
  // The run's own loaded objects, by SONAME and by file name: they satisfy DT_NEEDED as the loader would.
  const loaded = new Set<string>();
  const files: { access: WorkloadAccess; path: string }[] = [];
  const seen = new Set<string>();
  for (const access of accesses) {
    if (access.writes || seen.has(access.path) || isKernelPath(access.path) || madeByWorkload(access.path)) continue;
    seen.add(access.path);
    const file = root.tryResolve(access.path);
    if (!file?.stats.isFile() || isKernelPath(file.path)) continue;
    files.push({ access, path: file.path });
    if (access.syscall.startsWith("open")) {
      const soname = readElfOrNull(root, file.path)?.dynamic?.soname;
      if (soname) loaded.add(soname);
      loaded.add(posix.basename(access.path));
    }
  }
  for (const { access, path } of files) {
    log("Debug", `dynamic-test: pid ${access.pid} (${access.exe}) ${access.syscall} ${access.path}`);
    addFromRoot(graph, root, access.path, { kind: "dynamic", by, pid: access.pid, exe: access.exe, syscall: access.syscall, path: access.path });
    if (isDynamicElf(root, path)) addClosure(graph, root, loader, access.path, loaded);
  }
  // Directories the workload created files in: the nearest one the root has, with its mode.
  const dirs = new Map<string, WorkloadAccess>();
  for (const a of accesses) {
    if (!a.writes || isKernelPath(a.path)) continue;
    let dir = posix.dirname(a.path);
    while (dir !== "/" && madeByWorkload(dir)) dir = posix.dirname(dir);
    if (dir !== "/" && !isKernelPath(dir) && !dirs.has(dir)) dirs.set(dir, a);
  }
  for (const [dir, a] of dirs) {
    const found = root.tryResolve(dir);
    if (!found?.stats.isDirectory()) continue;
    const at = addDirectoryChain(graph, root, dir);
    log("Debug", `dynamic-test: directory ${at} (pid ${a.pid} ${a.exe} wrote ${a.path})`);
    graph.add({ kind: "directory", path: graph.resolveInGraph(at), mode: found.stats.mode & 0o7777, reasons: [{ kind: "dynamic-directory", by, pid: a.pid, exe: a.exe, path: a.path }] });
  }
}

/** /proc, /sys and /dev are the kernel's: never bundled. */
function isKernelPath(path: string): boolean {
  return /^\/(proc|sys|dev)(\/|$)/.test(path);
}
