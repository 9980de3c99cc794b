// The file graph as the entries of one image layer: what emit writes as a tree, as tar entries.
// Sorted, parents first; directories the graph only implies are explicit (0755); files that are one
// inode in the graph are stored once and hard-linked.

import { ImageError } from "./errors.js";
import type { FileGraph } from "../graph/file-graph.js";
import { byPath } from "../graph/paths.js";
import type { TarEntry } from "./tar.js";

export function layerEntries(graph: FileGraph): TarEntry[] {
  const entries = new Map<string, TarEntry>();
  const firstOfIdentity = new Map<string, string>();
  for (const node of graph.entries()) {
    if (node.path === "/") continue; // the root directory belongs to the image, not to a layer
    const path = node.path.slice(1);
    const base = path.slice(path.lastIndexOf("/") + 1);
    // A layer file named .wh.* deletes something in the layers below: it cannot be bundled as is.
    if (base.startsWith(".wh.")) throw new ImageError(node.path, "a file named .wh.* is a whiteout in an image layer and cannot be stored");
    for (let slash = path.indexOf("/"); slash !== -1; slash = path.indexOf("/", slash + 1)) {
      const parent = path.slice(0, slash);
      if (!entries.has(parent) && !graph.has(`/${parent}`)) entries.set(parent, { type: "directory", path: parent, mode: 0o755 });
    }
    switch (node.kind) {
      case "directory":
        entries.set(path, { type: "directory", path, mode: node.mode & 0o7777 });
        break;
      case "symlink":
        entries.set(path, { type: "symlink", path, target: node.target });
        break;
      case "generated":
        entries.set(path, { type: "file", path, mode: node.mode & 0o7777, content: node.content });
        break;
      case "file": {
        const first = firstOfIdentity.get(node.identity);
        if (first !== undefined) {
          entries.set(path, { type: "hardlink", path, mode: node.mode & 0o7777, target: first });
        } else {
          firstOfIdentity.set(node.identity, path);
          entries.set(
            path,
            node.content
              ? { type: "file", path, mode: node.mode & 0o7777, content: node.content }
              : { type: "file", path, mode: node.mode & 0o7777, planned: { hostSource: node.hostSource, source: node.source, identity: node.identity, size: node.size } },
          );
        }
        break;
      }
    }
  }
  // Graph order already puts the first of each identity first, so sorting keeps links after targets.
  return [...entries.values()].sort(byPath);
}
