// --list, --tree and --json: what the loader would load for each FILE, in the format asked for.

import { pathErrorOf } from "../lib/errors.js";
import { InputError, Loader } from "../lib/loader/load.js";
import { openPackageDatabase } from "../lib/provenance/dpkg.js";
import { failedEntry, formatListDocument, listedEntry, listedNativeEntry, type ListEntry, type PackageRef } from "../lib/report/list-json.js";
import { formatNativeTrace } from "../lib/report/native-trace.js";
import { formatTrace, isComplete } from "../lib/report/trace.js";
import { formatTree } from "../lib/report/tree.js";
import { UsageError, type CliOptions } from "./options.js";

export interface ListOutput {
  /** A line for standard output; `raw` for JSON, already escaped. */
  print: (text: string, raw?: boolean) => void;
  warn: (text: string) => void;
}

type Format = "list" | "tree" | "json";

export async function listMode(format: Format, files: string[], options: CliOptions, root: string | undefined, out: ListOutput): Promise<number> {
  if (files.length === 0) throw new UsageError("expected at least one FILE to list");
  if (options.resolver === "native") return nativeListMode(format, files, options, root, out);
  const loader = new Loader(root ?? "/", {
    libraryPath: options.libraryPath ?? null,
    preload: options.preload ?? null,
    // A relative FILE on the host root is relative to where magicpak runs, as for ldd; inside
    // another root there is no such place, so / unless --cwd says otherwise.
    cwd: options.cwd ?? (root === undefined ? process.cwd() : "/"),
  });
  const db = openPackageDatabase(loader.root);
  const packageOf = (path: string): PackageRef | null => {
    const resolved = db ? loader.root.tryResolve(path) : null;
    const pkg = db && resolved ? db.ownersOf(resolved.path)[0] : undefined;
    return pkg ? { name: pkg.name, version: pkg.version, architecture: pkg.architecture } : null;
  };
  let status = 0;
  const entries: ListEntry[] = [];
  for (const file of files) {
    let graph;
    try {
      graph = loader.load(file);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      out.warn(`error: ${error.message}`);
      entries.push(failedEntry(file, error.problem));
      status = 1;
      continue;
    }
    if (!isComplete(graph)) status = 1;
    if (format === "json") {
      entries.push(listedEntry(file, graph, packageOf));
      continue;
    }
    if (files.length > 1) out.print(`${file}:`);
    if (format === "tree") {
      const describe = db
        ? (path: string) => {
            const pkg = packageOf(path);
            return pkg ? `${pkg.name} ${pkg.version}` : "no package";
          }
        : undefined;
      for (const line of formatTree(graph, describe)) out.print(line);
    } else {
      const trace = formatTrace(graph, file);
      for (const line of trace.lines) out.print(line);
      for (const line of trace.errors) out.warn(line);
    }
  }
  if (format === "json") out.print(formatListDocument("ts", entries), true);
  return status;
}

/** --resolver native: what this machine's loader answers for each name (dlopen + dlinfo). */
async function nativeListMode(format: Format, files: string[], options: CliOptions, root: string | undefined, out: ListOutput): Promise<number> {
  if (format === "tree") throw new UsageError("--resolver native works with --list and --json");
  if (root !== undefined && root !== "/") throw new UsageError("--resolver native asks this machine's loader: it cannot be combined with --root");
  const { nativeLoadGraph } = await import("../lib/native/resolver.js");
  let status = 0;
  const entries: ListEntry[] = [];
  for (const file of files) {
    let graph;
    try {
      graph = await nativeLoadGraph(file, { libraryPath: options.libraryPath ?? null });
    } catch (error) {
      const message = pathErrorOf(error)?.message ?? (error as Error).message;
      out.warn(`error: ${message}`);
      const problem = message.startsWith(`${file}: `) ? message.slice(file.length + 2) : message;
      entries.push(failedEntry(file, problem));
      status = 1;
      continue;
    }
    if (graph.missing.length > 0) status = 1;
    if (format === "json") {
      entries.push(listedNativeEntry(file, graph));
      continue;
    }
    if (files.length > 1) out.print(`${file}:`);
    for (const line of formatNativeTrace(graph)) out.print(line);
  }
  if (format === "json") out.print(formatListDocument("native", entries), true);
  return status;
}
