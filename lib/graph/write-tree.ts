// Writing a file graph out as a directory tree: the bundle (lib/bundle/emit.ts) and the --test
// jail (lib/jail) both need exactly this, so it lives with the graph and depends on neither.

import { chmodSync, linkSync, lutimesSync, mkdirSync, readdirSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { copyPlannedFile } from "../fs/copy-file.js";
import type { FileGraph } from "./file-graph.js";

/**
 * Writes every entry of the graph below `dir`, which must exist and be empty. Never writes outside
 * it. Files are copied from the inode the plan recorded (never another one), asynchronously, so a
 * signal is handled during a large copy; modes and mtimes do not depend on the umask or the clock:
 * directories get their planned mode (implied ones 0755), and what magicpak makes (directories,
 * symlinks, generated files) gets `epoch` (seconds).
 */
export async function writeTree(graph: FileGraph, dir: string, epoch = 0): Promise<void> {
  const written = new Map<string, string>(); // identity -> first host path written
  const directoryModes = new Map<string, number>();
  for (const node of graph.entries()) {
    const target = join(dir, node.path);
    if (node.path !== "/") mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
    switch (node.kind) {
      case "directory":
        mkdirSync(target, { recursive: true, mode: 0o755 });
        directoryModes.set(target, node.mode);
        break;
      case "symlink":
        symlinkSync(node.target, target);
        break;
      case "generated":
        writeFileSync(target, node.content, { flag: "wx", mode: node.mode });
        chmodSync(target, node.mode);
        utimesSync(target, epoch, epoch);
        break;
      case "file": {
        const first = written.get(node.identity);
        if (first) {
          linkSync(first, target);
          break;
        }
        if (node.content) writeFileSync(target, node.content, { flag: "wx", mode: 0o600 }); // magicpak's own packed copy
        else await copyPlannedFile(node, target, 0o600);
        chmodSync(target, node.mode);
        utimesSync(target, node.mtimeMs / 1000, node.mtimeMs / 1000);
        written.set(node.identity, target);
        break;
      }
    }
  }
  // Every directory (planned or implied) and symlink: a fixed mtime and mode, deepest first, so a
  // read-only directory does not block its own children and no later write changes an mtime.
  const finish = (path: string): void => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const child = join(path, entry.name);
      if (entry.isDirectory()) finish(child);
      else if (entry.isSymbolicLink()) lutimesSync(child, epoch, epoch);
    }
    chmodSync(path, directoryModes.get(path) ?? 0o755);
    utimesSync(path, epoch, epoch);
  };
  finish(dir);
}
