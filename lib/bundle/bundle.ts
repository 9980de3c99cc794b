// bundle(): one plan (lib/bundle/plan.ts) and the stages that build it, in this order:
//   inputs (each input's closure, then the input), --dynamic, --dynamic-test, --mkdir, --include,
//   the runtime extras, --exclude, the package records; then --compress, identical files as one
//   inode, --test, and only once the test has passed: OUTPUT, --sbom, the images.
// That is magicpak 1.4.0's order (closure, --dynamic, executables, --mkdir, --include, --exclude,
// --test, emit) with the stages it lacks added, except --compress, which 1.4.0 runs before it
// places the executables and this runs after --exclude (so the plan is complete when UPX runs).
// Nothing is written until the plan is complete and the test has passed.

import { statSync } from "node:fs";
import { posix, resolve as resolveHost } from "node:path";
import { directoryDestinationProblem, fileDestinationProblem, parentProblem } from "../destination.js";
import { describeIoError } from "../errors.js";
import { RootFs } from "../fs/root.js";
import { FileGraph } from "../graph/file-graph.js";
import { warmUpUpx } from "../compress/upx.js";
import { Loader } from "../loader/load.js";
import { checkBundleOptions } from "./check-options.js";
import { BundleError, asBundleError } from "./errors.js";
import type { Logger } from "./log.js";
import type { BundleOptions, BundleResult } from "./options.js";
import type { Plan, Stage } from "./plan.js";
import { silentProgress, type Progress } from "../report/progress.js";
import { compress } from "./stages/compress.js";
import { dynamic, dynamicTest } from "./stages/dynamic.js";
import { exclude } from "./stages/exclude.js";
import { extras } from "./stages/extras.js";
import { images } from "./stages/images.js";
import { include } from "./stages/include.js";
import { linkIdentical } from "./stages/link-identical.js";
import { inputs } from "./stages/inputs.js";
import { mkdir } from "./stages/mkdir.js";
import { output } from "./stages/output.js";
import { records } from "./stages/records.js";
import { sbom } from "./stages/sbom.js";
import { test } from "./stages/test.js";
// Registers the native ptrace tracer when the optional addon loads; everything works without it.
import "../native/addon.js";

export type { BundleOptions, BundleResult } from "./options.js";

/** The stages that build the plan; a GraphConflictError among them is a BundleError. */
const ANALYSIS: Stage[] = [inputs, dynamic, dynamicTest, mkdir, include, extras, exclude, records];
/** The stages that pack, test and write the complete plan. */
const DELIVERY: Stage[] = [compress, linkIdentical, test, output, sbom, images];

export async function bundle(options: BundleOptions): Promise<BundleResult> {
  checkBundleOptions(options);
  const progress = options.progress ?? silentProgress;
  try {
    return await bundleWith(options, progress);
  } finally {
    progress.close();
  }
}

async function bundleWith(options: BundleOptions, progress: Progress): Promise<BundleResult> {
  const log: Logger = options.log ?? (() => undefined);
  if (options.inputs.length === 0) throw new BundleError("<INPUT>", "at least one input is required");
  const rootDir = options.root ?? "/";
  checkRoot(rootDir);
  // Every destination is checked before the analysis, so a bad one costs nothing and writes nothing.
  checkDestinations(options);
  const root = new RootFs(rootDir);
  if (options.compress && options.compress.upx === undefined) void warmUpUpx(); // start UPX while the inputs are analysed
  const cwd = options.cwd ?? (root.isHostRoot ? process.cwd() : "/");
  const plan: Plan = {
    options,
    root,
    cwd,
    loader: new Loader(root, { ...options.environment, cwd }),
    inputs: options.inputs.map((i) => (posix.isAbsolute(i) ? i : posix.join(cwd, i))),
    graph: new FileGraph(),
    loads: [],
    packages: null,
    sbom: null,
    output: null,
    log,
    progress,
  };
  try {
    for (const stage of ANALYSIS) await stage(plan);
  } catch (error) {
    throw asBundleError(error);
  }
  for (const stage of DELIVERY) await stage(plan);
  return { graph: plan.graph, loads: plan.loads, output: plan.output, packages: plan.packages };
}

/** --root must be a directory; named when it is not. */
function checkRoot(rootDir: string): void {
  try {
    if (!statSync(rootDir).isDirectory()) throw new BundleError(rootDir, "--root: Not a directory");
  } catch (error) {
    if (error instanceof BundleError) throw error;
    throw new BundleError(rootDir, `--root: ${describeIoError(error)}`);
  }
}

/** OUTPUT and the image destinations: each must be writable and of the right kind, before anything is written. */
function checkDestinations(options: BundleOptions): void {
  const wanted: [string | undefined, "directory" | "file"][] = [
    [options.output, "directory"],
    [options.images?.ociLayout, "directory"],
    [options.images?.ociArchive, "file"],
    [options.images?.dockerArchive, "file"],
  ];
  const seen = new Map<string, string>();
  for (const [given, kind] of wanted) {
    if (given === undefined || given === "") continue;
    const absolute = resolveHost(given);
    const other = seen.get(absolute);
    if (other !== undefined) throw new BundleError(given, `is also the destination ${other}`);
    seen.set(absolute, given);
    const problem = kind === "directory" ? directoryDestinationProblem(absolute) : fileDestinationProblem(absolute);
    if (problem) throw new BundleError(given, problem);
    const parent = parentProblem(absolute);
    if (parent) throw new BundleError(given, `${parent.path}: ${parent.problem}`);
  }
}
