// --compress: the input executables only, as magicpak does (never the libraries), packed with UPX
// after the analysis and before the test, so the test runs the packed program. (magicpak 1.4.0
// compresses before it places the executables and runs --mkdir, --include and --exclude; the
// result is the same, since those never touch the packed file's bytes.)

import { readFileSync } from "node:fs";
import { join, posix } from "node:path";
import { makeTempDir } from "../../cleanup.js";
import { compressFile, CompressError } from "../../compress/upx.js";
import { fileIdentity, type RootFs } from "../../fs/root.js";
import type { FileGraph, FileNode } from "../../graph/file-graph.js";
import { BundleError } from "../errors.js";
import type { Logger } from "../log.js";
import type { BundleOptions } from "../options.js";
import type { Plan } from "../plan.js";
import { formatBytes, type Progress } from "../../report/progress.js";

export async function compress(plan: Plan): Promise<void> {
  const options = plan.options.compress;
  if (!options) return;
  // Registered for removal on SIGINT/SIGTERM (lib/cleanup.ts); the plan keeps the packed bytes.
  const scratch = makeTempDir("magicpak-upx-");
  try {
    await compressInputs(plan.graph, plan.root, plan.inputs, options, scratch.dir, plan.log, plan.progress);
  } finally {
    scratch.remove();
  }
}

/** Replaces each input's file in the plan by its UPX-packed copy (every path that is that file). */
async function compressInputs(graph: FileGraph, root: RootFs, inputs: string[], compress: NonNullable<BundleOptions["compress"]>, scratch: string, log: Logger, progress: Progress): Promise<void> {
  for (const [i, input] of inputs.entries()) {
    const file = root.resolve(input);
    const identity = fileIdentity(file.stats);
    const nodes = graph.entries().filter((n): n is FileNode => n.kind === "file" && n.identity === identity);
    if (nodes.length === 0) continue; // excluded
    const packed = join(scratch, `${i}-${posix.basename(file.path)}`);
    log("Info", `compress ${input} with ${compress.upx ?? "the built-in UPX"}${compress.upxArgs?.length ? ` ${compress.upxArgs.join(" ")}` : ""}`);
    const step = progress.step(`compress ${input} with UPX (${formatBytes(file.stats.size)})`, [i + 1, inputs.length]);
    let result;
    try {
      result = await compressFile(file.hostPath, packed, compress.upxArgs ?? [], { upx: compress.upx });
    } catch (error) {
      if (error instanceof CompressError) throw new BundleError(input, `cannot be compressed: ${error.reason}`);
      throw error;
    }
    log("Info", `${input}: ${result.inputSize} -> ${result.outputSize} bytes`);
    step.done(`${formatBytes(result.inputSize)} -> ${formatBytes(result.outputSize)}`);
    // The plan keeps the packed bytes: the scratch directory is removed when this stage ends.
    const content = readFileSync(packed);
    for (const node of nodes) {
      graph.remove(node.path);
      graph.add({ ...node, content, size: result.outputSize, identity: `upx:${identity}`, reasons: [...node.reasons, { kind: "extra", what: "compressed with UPX" }] });
    }
  }
}
