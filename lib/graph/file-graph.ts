// The file graph every stage shares: what the bundle will contain, each entry with the reasons it
// is there. Analysis builds it, stages transform it, one emit step writes it.

import { posix } from "node:path";
import { PathError } from "../errors.js";
import { byPath, parentOf } from "./paths.js";
import { present } from "../present.js";

/** Linux's limit on symlinks followed in one path walk (MAXSYMLINKS). */
const MAX_SYMLINKS = 40;

/** Why an entry is in the bundle. */
export type Reason =
  | { kind: "input"; path: string }
  | { kind: "interpreter"; of: string }
  | { kind: "needed"; by: string; name: string }
  | { kind: "preload"; name: string }
  | { kind: "audit"; name: string }
  | { kind: "symlink"; towards: string }
  | { kind: "include"; pattern: string }
  | { kind: "interpreter-script"; script: string; line: string }
  | { kind: "env-program"; script: string; name: string }
  /** Found by tracing: which run, which process (pid and its executable), which call, by what path. */
  | { kind: "dynamic"; by: string; pid?: number; exe?: string | null; syscall?: string; path?: string }
  /** The nearest directory of the root above `path`, which a traced process created (`syscall` absent) or used and the run removed. */
  | { kind: "dynamic-directory"; by: string; pid?: number; exe?: string | null; path: string; syscall?: string }
  | { kind: "mkdir" }
  | { kind: "extra"; what: string }
  /** A package scanner's record of the package `file` (an image path) comes from: "NAME VERSION". */
  | { kind: "package-record"; package: string; file: string };

interface NodeBase {
  /** Absolute path inside the image, normalised, no symlinks in its parent. */
  path: string;
  mode: number;
  reasons: Reason[];
}

/** A regular file copied from the root. */
export interface FileNode extends NodeBase {
  kind: "file";
  /** Canonical path inside the root. */
  source: string;
  /** Where to read it on the host. */
  hostSource: string;
  size: number;
  /** dev:ino of the source: entries with the same identity are written once and hard-linked. */
  identity: string;
  mtimeMs: number;
  /**
   * The bytes to write instead of hostSource's, when magicpak made them (the UPX-packed input).
   * The plan owns them, so it stays valid after the temporary files of the run are gone.
   */
  content?: Buffer;
}

export interface SymlinkNode extends NodeBase {
  kind: "symlink";
  /** The link text, relative where that stays valid both in the image and on the host. */
  target: string;
}

export interface DirectoryNode extends NodeBase {
  kind: "directory";
}

/** Content made by magicpak (a test helper, a generated config file). */
export interface GeneratedNode extends NodeBase {
  kind: "generated";
  content: Buffer;
}

export type GraphNode = FileNode | SymlinkNode | DirectoryNode | GeneratedNode;

export class GraphConflictError extends PathError {
  override readonly name = "GraphConflictError";
}

/** Entries by image path. Iteration is always in sorted path order, so every stage is deterministic. */
export class FileGraph {
  private readonly nodes = new Map<string, GraphNode>();
  /** Every proper ancestor of an entry: these must stay directories. */
  private readonly ancestors = new Set<string>();

  get size(): number {
    return this.nodes.size;
  }

  get(path: string): GraphNode | undefined {
    return this.nodes.get(path);
  }

  has(path: string): boolean {
    return this.nodes.has(path);
  }

  /** Sorted by path: parents before children. */
  entries(): GraphNode[] {
    return [...this.nodes.values()].sort(byPath);
  }

  /**
   * Adds an entry, merging reasons when the same entry is already there. Two different entries
   * for one path are a conflict; so is an entry below a path that is not a directory.
   */
  add(node: GraphNode): GraphNode {
    const existing = this.nodes.get(node.path);
    if (existing) {
      if (!sameEntry(existing, node)) {
        throw new GraphConflictError(node.path, `wanted as ${describe(node)} but already planned as ${describe(existing)}`);
      }
      for (const reason of node.reasons) {
        if (!existing.reasons.some((r) => JSON.stringify(r) === JSON.stringify(reason))) existing.reasons.push(reason);
      }
      return existing;
    }
    if (!/^\/[^\0]*$/.test(node.path) || /(^|\/)\.\.?(\/|$)/.test(node.path.slice(1)) || (node.path !== "/" && node.path.endsWith("/"))) {
      throw new GraphConflictError(node.path, "not a normalised absolute path");
    }
    if (node.kind !== "directory" && this.ancestors.has(node.path)) {
      throw new GraphConflictError(node.path, `wanted as ${describe(node)} but entries below it need a directory`);
    }
    for (let parent = parentOf(node.path); parent !== "/"; parent = parentOf(parent)) {
      const above = this.nodes.get(parent);
      if (above && above.kind !== "directory") {
        throw new GraphConflictError(node.path, `its parent ${parent} is planned as ${describe(above)}`);
      }
    }
    for (let parent = parentOf(node.path); parent !== "/"; parent = parentOf(parent)) this.ancestors.add(parent);
    this.nodes.set(node.path, node);
    return node;
  }

  /** Removes an entry (its now-empty parents stay implied directories). */
  remove(path: string): void {
    this.nodes.delete(path);
  }

  /**
   * A copy for a stage that must not change its input (the test jail): its entries and their
   * reason lists are its own, so adding, removing or merging in one never shows in the other.
   * Shallow below that: the reason objects and `content` Buffers are shared; nothing changes
   * them in place.
   */
  clone(): FileGraph {
    const copy = new FileGraph();
    for (const node of this.nodes.values()) copy.nodes.set(node.path, { ...node, reasons: [...node.reasons] });
    for (const ancestor of this.ancestors) copy.ancestors.add(ancestor);
    return copy;
  }

  /** Follows directory symlinks planned in the graph, so an entry lands where the image will resolve it. */
  resolveInGraph(path: string): string {
    const parts = path.split("/").filter((p) => p !== "");
    let resolved: string[] = [];
    for (let i = 0, hops = 0; i < parts.length; i++) {
      const part = present(parts[i], `path component ${i}`);
      if (part === ".") continue;
      if (part === "..") {
        resolved.pop();
        continue;
      }
      const candidate = "/" + [...resolved, part].join("/");
      const node = this.nodes.get(candidate);
      if (node?.kind === "symlink" && i < parts.length - 1) {
        if (++hops > MAX_SYMLINKS) throw new GraphConflictError(path, "too many levels of symbolic links in the bundle");
        const target = node.target.split("/").filter((p) => p !== "");
        if (node.target.startsWith("/")) resolved = [];
        parts.splice(i + 1, 0, ...target);
        continue;
      }
      resolved.push(part);
    }
    return "/" + resolved.join("/");
  }
}

/** The entry an image path ends at after every symlink planned in `graph`; null when it ends at nothing (or loops). */
export function followSymlinks(graph: FileGraph, path: string): string | null {
  let at = graph.resolveInGraph(path);
  for (let hops = 0; hops <= MAX_SYMLINKS; hops++) {
    const node = graph.get(at);
    if (!node) return null;
    if (node.kind !== "symlink") return at;
    at = graph.resolveInGraph(node.target.startsWith("/") ? node.target : posix.join(parentOf(at), node.target));
  }
  return null;
}

function sameEntry(a: GraphNode, b: GraphNode): boolean {
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case "file":
      return a.identity === (b as FileNode).identity;
    case "symlink":
      return a.target === (b as SymlinkNode).target;
    case "directory":
      return true;
    case "generated":
      return a.content.equals((b as GeneratedNode).content) && a.mode === b.mode;
  }
}

function describe(node: GraphNode): string {
  switch (node.kind) {
    case "file":
      return `a copy of ${node.source}`;
    case "symlink":
      return `a symlink to ${node.target}`;
    case "directory":
      return "a directory";
    case "generated":
      return "a generated file";
  }
}
