// The real loader as a resolver (`--resolver native`, host root only): each DT_NEEDED name of a
// program's closure is looked up by dlopen(name) + dlinfo(RTLD_DI_LINKMAP) in a child process of
// the native addon, breadth first as the loader walks them.
//
// What a bare dlopen answers is what the loader finds for a name from a neutral caller: the
// caller's RPATH/RUNPATH (the addon and node have none), LD_LIBRARY_PATH, /etc/ld.so.cache and
// the system directories. It does NOT apply the RPATH, RUNPATH or $ORIGIN of the object that
// needs the name, so a name the program finds through those is answered as the cache and system
// directories would answer it (or not found): crossCheck() compares only the names the
// TypeScript Loader found through the cache or a system directory, and lists the others.

import { realpathSync } from "node:fs";
import { readElf } from "../elf/file.js";
import { flavourOfInterpreter } from "../loader/config.js";
import { hostAbi, machineMatches } from "../loader/machines.js";
import type { FoundBy, LoadGraph } from "../loader/model.js";
import { resolveNative, type NativeResolution, type ResolveNativeOptions } from "./addon.js";
import { present } from "../present.js";

/** One object the real loader loaded, shaped like LoadedObject's fields of the same names. */
export interface NativeLoadedObject {
  index: number;
  /** The name it was first asked for; "" for the main program. */
  name: string;
  /** l_name: the path as the loader found it. */
  path: string;
  realPath: string;
  /** Index of the first object that asked for it; null for the main program. */
  loader: number | null;
  requestedBy: number[];
  /** Other names that gave the same file. */
  aliases: string[];
  needed: string[];
}

export interface NativeMissingObject {
  index: number;
  name: string;
  requestedBy: number;
  /** dlerror()'s text (not found, wrong class, a static TLS failure, ...). */
  error: string;
}

export interface NativeLoadGraph {
  input: string;
  resolver: "native";
  /** Index 0 is the main program. */
  objects: NativeLoadedObject[];
  missing: NativeMissingObject[];
  /** The LD_LIBRARY_PATH the loader searched. */
  libraryPath: string | null;
}

/** The closure of `input` (a host path) as the real loader resolves each name by itself. */
export async function nativeLoadGraph(input: string, options: ResolveNativeOptions = {}): Promise<NativeLoadGraph> {
  const elf = readElf(input);
  const host = hostAbi();
  if (!host || !machineMatches(host, elf.header)) {
    throw new Error(`${input}: the native resolver asks this machine's loader, which cannot load this file's architecture`);
  }
  if (elf.interp !== null && flavourOfInterpreter(elf.interp) !== "glibc") {
    throw new Error(`${input}: the native resolver asks glibc's loader; this program's interpreter is ${elf.interp}`);
  }
  const graph: NativeLoadGraph = { input, resolver: "native", objects: [], missing: [], libraryPath: options.libraryPath ?? null };
  const main: NativeLoadedObject = { index: 0, name: "", path: input, realPath: realpathSync(input), loader: null, requestedBy: [], aliases: [], needed: elf.dynamic?.needed ?? [] };
  graph.objects.push(main);
  const byName = new Map<string, NativeLoadedObject | NativeMissingObject>();
  const byRealPath = new Map<string, NativeLoadedObject>([[main.realPath, main]]);

  // One batch per breadth-first level: names of the level in the order they were asked for.
  let level: { name: string; by: number }[] = main.needed.map((name) => ({ name, by: 0 }));
  while (level.length > 0) {
    const fresh = [...new Set(level.map((l) => l.name).filter((n) => !byName.has(n)))];
    const answers = new Map<string, NativeResolution>();
    if (fresh.length) for (const r of await resolveNative(fresh, options)) answers.set(r.name, r);
    const next: { name: string; by: number }[] = [];
    for (const { name, by } of level) {
      const known = byName.get(name);
      if (known) {
        if ("realPath" in known && !known.requestedBy.includes(by)) known.requestedBy.push(by);
        continue;
      }
      const answer = present(answers.get(name), `the native answer for ${name}`); // every fresh name was asked
      if (answer.path === null) {
        const miss: NativeMissingObject = { index: graph.missing.length, name, requestedBy: by, error: answer.error ?? "not found" };
        graph.missing.push(miss);
        byName.set(name, miss);
        continue;
      }
      let realPath: string;
      try {
        realPath = realpathSync(answer.path);
      } catch {
        realPath = answer.path;
      }
      const same = byRealPath.get(realPath);
      if (same) {
        if (!same.aliases.includes(name) && same.name !== name) same.aliases.push(name);
        if (!same.requestedBy.includes(by)) same.requestedBy.push(by);
        byName.set(name, same);
        continue;
      }
      let needed: string[] = [];
      try {
        needed = readElf(answer.path).dynamic?.needed ?? [];
      } catch {
        // The loader loaded it, so it is an ELF object; unreadable here means no further names.
      }
      const object: NativeLoadedObject = { index: graph.objects.length, name, path: answer.path, realPath, loader: by, requestedBy: [by], aliases: [], needed };
      graph.objects.push(object);
      byName.set(name, object);
      byRealPath.set(realPath, object);
      for (const n of needed) next.push({ name: n, by: object.index });
    }
    level = next;
  }
  return graph;
}

/** How the TypeScript Loader found a name: only these can be compared with a bare dlopen. */
const COMPARABLE: ReadonlySet<FoundBy> = new Set<FoundBy>(["ld.so.cache", "system"]);

export interface CrossCheckEntry {
  /** The program whose closure asked for the name (the first one, when several did). */
  program: string;
  name: string;
  /** Our Loader's path as found (l_name) and how it was found. */
  ours: string;
  foundBy: FoundBy;
  native: NativeResolution;
  /** Same path; or the loader located the same file and then failed to load it (its error names the file). */
  agree: boolean;
  /** Set when the loader located our file but could not finish loading it (the dlerror text). */
  loadError: string | null;
}

export interface CrossCheckSkip {
  program: string;
  name: string;
  foundBy: FoundBy;
  reason: string;
}

/**
 * Compares every closure member of `graphs` (our Loader's answers) that was found through the
 * cache or a system directory with what dlopen of the same name loads. Each distinct name is
 * asked once; the rest are listed with the reason they cannot be compared.
 */
export async function crossCheck(graphs: LoadGraph[], options: ResolveNativeOptions = {}): Promise<{ entries: CrossCheckEntry[]; skipped: CrossCheckSkip[] }> {
  const wanted = new Map<string, { program: string; path: string; foundBy: FoundBy }>();
  const skipped: CrossCheckSkip[] = [];
  const conflicting = new Set<string>();
  for (const graph of graphs) {
    for (const object of graph.objects.slice(1)) {
      const names = [object.name, ...object.aliases].filter((n) => n !== "");
      for (const name of names) {
        if (!COMPARABLE.has(object.foundBy)) {
          skipped.push({ program: graph.input, name, foundBy: object.foundBy, reason: skipReason(object.foundBy) });
          continue;
        }
        if (name !== object.name) continue; // an alias by SONAME or file identity: not what was searched for
        const seen = wanted.get(name);
        if (!seen) wanted.set(name, { program: graph.input, path: object.path, foundBy: object.foundBy });
        else if (seen.path !== object.path) conflicting.add(name);
      }
    }
  }
  const names = [...wanted.keys()].filter((n) => !conflicting.has(n));
  const answers = names.length ? await resolveNative(names, options) : [];
  const entries = answers.map((native, i): CrossCheckEntry => {
    const w = present(wanted.get(present(names[i], `name ${i}`)), `what our Loader found for ${native.name}`);
    const loadError = native.path === null && native.error?.startsWith(`${w.path}: `) ? native.error : null;
    return { program: w.program, name: native.name, ours: w.path, foundBy: w.foundBy, native, agree: native.path === w.path || loadError !== null, loadError };
  });
  for (const name of conflicting) {
    const w = present(wanted.get(name), `what our Loader found for ${name}`);
    skipped.push({ program: w.program, name, foundBy: w.foundBy, reason: "our Loader found it at different paths in different programs' closures (DF_1_NODEFLIB)" });
  }
  return { entries, skipped };
}

function skipReason(foundBy: FoundBy): string {
  switch (foundBy) {
    case "rpath":
    case "runpath":
      return `found through the requesting object's ${foundBy.toUpperCase()}, which a bare dlopen from another caller does not search`;
    case "interpreter":
      return "the program interpreter, placed by the kernel's PT_INTERP, not searched for";
    case "path":
      return "a name with a '/', opened as given (relative to the cwd)";
    case "LD_LIBRARY_PATH":
      return "found through LD_LIBRARY_PATH";
    case "main":
    case "preload":
    case "ld.so.cache":
    case "system":
    case "musl-libc":
    case "musl-path":
    case "audit":
      return `found by ${foundBy}`;
  }
}
