// The command line: a thin layer over the library. Exit codes: 0 success, 1 runtime error, 2 usage error.

import { cac } from "cac";
import { InputError, Loader } from "../lib/loader/load.js";
import { formatTrace, isComplete } from "../lib/report/trace.js";
import { formatTree } from "../lib/report/tree.js";
import { VERSION } from "../lib/version.js";
import type { LoadGraph } from "../lib/loader/model.js";

class UsageError extends Error {}

interface ListOptions {
  root: string;
  libraryPath?: string;
  preload?: string;
  cwd?: string;
  list?: boolean;
  tree?: boolean;
  json?: boolean;
}

export async function main(argv: string[], out = process.stdout, err = process.stderr): Promise<number> {
  const write = (stream: NodeJS.WritableStream, text: string) => stream.write(text.endsWith("\n") ? text : `${text}\n`);
  const cli = cac("magicpak");
  cli
    .command("[...paths]", "Bundle INPUT... into OUTPUT, or list dependencies with --list/--tree/--json")
    .usage("[OPTIONS] <INPUT>... <OUTPUT>\n  magicpak --list|--tree|--json [OPTIONS] <FILE>...")
    .option("--list", "Print what the loader would load, as `LD_TRACE_LOADED_OBJECTS=1 FILE` does")
    .option("--tree", "Print the dependency tree with the reason each object was found")
    .option("--json", "Print the whole load graph as JSON")
    .option("--root <DIR>", "Analyse inside this root filesystem, as after chroot", { default: "/" })
    .option("--library-path <PATH>", "LD_LIBRARY_PATH of the target program")
    .option("--preload <LIST>", "LD_PRELOAD of the target program")
    .option("--cwd <DIR>", "Working directory of the target program (inside the root)");
  cli.help();
  cli.version(VERSION);
  let parsed;
  try {
    parsed = cli.parse(["node", "magicpak", ...argv], { run: false });
  } catch (error) {
    write(err, `error: ${(error as Error).message}`);
    return 2;
  }
  const options = parsed.options as ListOptions & { help?: boolean; version?: boolean };
  if (options.help || options.version) return 0;
  const known = new Set(["--", "list", "tree", "json", "root", "libraryPath", "preload", "cwd", "help", "h", "version", "v"]);
  const unknown = Object.keys(options).filter((k) => !known.has(k));
  if (unknown.length > 0) {
    write(err, `error: unknown option --${unknown[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} (see --help)`);
    return 2;
  }
  const paths = parsed.args.map(String);
  try {
    const modes = [options.list, options.tree, options.json].filter(Boolean).length;
    if (modes > 1) throw new UsageError("--list, --tree and --json cannot be combined");
    if (modes === 1) return listMode(paths, options, (t) => write(out, t), (t) => write(err, t));
    if (paths.length < 2) throw new UsageError("expected <INPUT>... <OUTPUT> (see --help)");
    write(err, "error: bundling (<INPUT>... <OUTPUT>) is not yet supported in this build; use --list, --tree or --json");
    return 1;
  } catch (error) {
    if (error instanceof UsageError) {
      write(err, `error: ${error.message}`);
      return 2;
    }
    throw error;
  }
}

function listMode(files: string[], options: ListOptions, print: (text: string) => void, warn: (text: string) => void): number {
  if (files.length === 0) throw new UsageError("expected at least one FILE to list");
  for (const value of [options.root, options.libraryPath, options.preload, options.cwd]) {
    if (Array.isArray(value)) throw new UsageError("--root, --library-path, --preload and --cwd may be given once");
  }
  const loader = new Loader(String(options.root), {
    libraryPath: options.libraryPath === undefined ? null : String(options.libraryPath),
    preload: options.preload === undefined ? null : String(options.preload),
    cwd: options.cwd === undefined ? "/" : String(options.cwd),
  });
  let status = 0;
  const graphs: LoadGraph[] = [];
  for (const file of files) {
    let graph: LoadGraph;
    try {
      graph = loader.load(file);
    } catch (error) {
      if (error instanceof InputError) {
        warn(`error: ${error.message}`);
        status = 1;
        continue;
      }
      throw error;
    }
    if (!isComplete(graph)) status = 1;
    if (options.json) {
      graphs.push(graph);
      continue;
    }
    if (files.length > 1) print(`${file}:`);
    if (options.tree) {
      for (const line of formatTree(graph)) print(line);
    } else {
      const trace = formatTrace(graph, file);
      for (const line of trace.lines) print(line);
      for (const line of trace.errors) warn(line);
    }
  }
  if (options.json) print(JSON.stringify(graphs.length === 1 && files.length === 1 ? graphs[0] : graphs, null, 2));
  return status;
}
