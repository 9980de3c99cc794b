// Writing a file graph out as a directory tree: the bundle (lib/bundle/emit.ts) and the --test
// jail (lib/jail) both need exactly this, so it lives with the graph and depends on neither.

import { chmodSync, linkSync, lutimesSync, mkdirSync, readdirSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { copyPlannedFile } from "../fs/copy-file.js";
import { decodeName, fsPath } from "../fs-name.js";
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
    if (node.path !== "/") mkdirSync(fsPath(dirname(target)), { recursive: true, mode: 0o755 });
    switch (node.kind) {
      case "directory":
        mkdirSync(fsPath(target), { recursive: true, mode: 0o755 });
        directoryModes.set(target, node.mode);
        break;
      case "symlink":
        symlinkSync(fsPath(node.target), fsPath(target));
        break;
      case "generated":
        writeFileSync(fsPath(target), node.content, { flag: "wx", mode: node.mode });
        chmodSync(fsPath(target), node.mode);
        utimesSync(fsPath(target), epoch, epoch);
        break;
      case "file": {
        const first = written.get(node.identity);
        if (first) {
          linkSync(fsPath(first), fsPath(target));
          break;
        }
        if (node.content)
          writeFileSync(fsPath(target), node.content, { flag: "wx", mode: 0o600 }); // magicpak's own packed copy
        else await copyPlannedFile(node, target, 0o600);
        chmodSync(fsPath(target), node.mode);
        utimesSync(fsPath(target), node.mtimeMs / 1000, node.mtimeMs / 1000);
        written.set(node.identity, target);
        break;
      }
    }
  }
  // Every directory (planned or implied) and symlink: a fixed mtime and mode, deepest first, so a
  // read-only directory does not block its own children and no later write changes an mtime.
  const finish = (path: string): void => {
    for (const entry of readdirSync(fsPath(path), { withFileTypes: true, encoding: "buffer" })) {
      const child = join(path, decodeName(entry.name));
      if (entry.isDirectory()) finish(child);
      else if (entry.isSymbolicLink()) lutimesSync(fsPath(child), epoch, epoch);
    }
    chmodSync(fsPath(path), directoryModes.get(path) ?? 0o755);
    utimesSync(fsPath(path), epoch, epoch);
  };
  finish(dir);
}
