// `--json`: one document for any number of files, versioned, described by schema/list.schema.json.
// A file that cannot be analysed is an entry with its error, so the document always says what
// happened to every FILE.

import type { LoadGraph, LoadedObject } from "../loader/model.js";
import type { NativeLoadGraph, NativeLoadedObject } from "../native/resolver.js";
import { isComplete } from "./trace.js";

/** Raised when the document's shape changes in a way a reader of the previous one would misread. */
export const LIST_SCHEMA_VERSION = 1;

export interface PackageRef {
  name: string;
  version: string;
  architecture: string;
}

/** A loaded object with the package that owns its real path (null: none, or the root has no dpkg database). */
export type ListedObject = LoadedObject & { package: PackageRef | null };

export interface ListedGraph extends Omit<LoadGraph, "objects" | "audit"> {
  objects: ListedObject[];
  audit: ListedGraph[];
}

export type ListEntry = { file: string; complete: boolean; error: null; graph: ListedGraph | NativeLoadGraph } | { file: string; complete: false; error: string; graph: null };

export interface ListDocument {
  schemaVersion: typeof LIST_SCHEMA_VERSION;
  resolver: "ts" | "native";
  files: ListEntry[];
}

/**
 * The graph as listed: the main program (the loader's l_name is "" for it) named by the path it
 * was given as, and each object with its package.
 */
export function listedGraph(graph: LoadGraph, packageOf: (realPath: string) => PackageRef | null): ListedGraph {
  return {
    ...graph,
    objects: graph.objects.map((o) => ({ ...mainNamed(o, graph.input), package: packageOf(o.realPath) })),
    audit: graph.audit.map((a) => listedGraph(a, packageOf)),
  };
}

export function listedEntry(file: string, graph: LoadGraph, packageOf: (realPath: string) => PackageRef | null): ListEntry {
  return { file, complete: isComplete(graph), error: null, graph: listedGraph(graph, packageOf) };
}

export function listedNativeEntry(file: string, graph: NativeLoadGraph): ListEntry {
  return { file, complete: graph.missing.length === 0, error: null, graph: { ...graph, objects: graph.objects.map((o) => mainNamed(o, graph.input)) } };
}

export function failedEntry(file: string, error: string): ListEntry {
  return { file, complete: false, error, graph: null };
}

export function formatListDocument(resolver: ListDocument["resolver"], files: ListEntry[]): string {
  const document: ListDocument = { schemaVersion: LIST_SCHEMA_VERSION, resolver, files };
  return JSON.stringify(document, null, 2);
}

function mainNamed<O extends LoadedObject | NativeLoadedObject>(object: O, input: string): O {
  return object.index === 0 ? { ...object, name: object.name || input, path: object.path || input } : object;
}
