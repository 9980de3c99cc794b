// Files that are the same bytes, mode and mtime but separate inodes in the root (git's
// /usr/lib/git-core/git beside /usr/bin/git, a package's duplicated data files) become one inode
// of the bundle, as rdfind/hardlink(1) would make them: OUTPUT and every image layer hold the bytes
// once and the other paths as hard links. Only sizes shared by two inodes are read, each file once.
// Packed (UPX) and generated files are magicpak's own bytes and never linked.

import { closeSync } from "node:fs";
import { createHash } from "node:crypto";
import { openPlannedFile, readPlannedChunks } from "../../fs/copy-file.js";
import type { FileNode } from "../../graph/file-graph.js";
import type { Plan } from "../plan.js";
import { present } from "../../present.js";
import { formatBytes } from "../../report/progress.js";

export async function linkIdentical(plan: Plan): Promise<void> {
  // One representative node per source inode, in path order (the first path of an inode is the one written).
  const byIdentity = new Map<string, FileNode>();
  for (const node of plan.graph.entries()) {
    if (node.kind === "file" && node.content === undefined && node.size > 0 && !byIdentity.has(node.identity)) byIdentity.set(node.identity, node);
  }
  const candidates = new Map<string, FileNode[]>(); // size, mode, mtime -> inodes
  for (const node of byIdentity.values()) {
    const key = `${node.size}:${node.mode}:${node.mtimeMs}`;
    const group = candidates.get(key);
    if (group) group.push(node);
    else candidates.set(key, [node]);
  }
  const canonical = new Map<string, string>(); // identity -> identity of the first inode with its bytes
  for (const group of candidates.values()) {
    if (group.length < 2) continue;
    const firstOfDigest = new Map<string, FileNode>();
    for (const node of group) {
      const digest = await sha256(node);
      const first = firstOfDigest.get(digest);
      if (first) canonical.set(node.identity, first.identity);
      else firstOfDigest.set(digest, node);
    }
  }
  if (canonical.size === 0) return;
  let saved = 0;
  for (const node of plan.graph.entries()) {
    if (node.kind !== "file") continue;
    const target = canonical.get(node.identity);
    if (target === undefined) continue;
    const first = present(byIdentity.get(target), `the first file of ${target}`);
    if (node === byIdentity.get(node.identity)) saved += node.size;
    node.identity = target;
    node.reasons.push({ kind: "extra", what: `the same bytes as ${first.source}: one inode (hard link)` });
  }
  plan.log("Info", `${canonical.size} ${canonical.size === 1 ? "file has" : "files have"} the same bytes as another: hard-linked, ${formatBytes(saved)} stored once`);
}

async function sha256(node: FileNode): Promise<string> {
  const fd = openPlannedFile(node);
  try {
    const hash = createHash("sha256");
    for await (const chunk of readPlannedChunks(fd, node.size, node.source)) hash.update(chunk);
    return hash.digest("hex");
  } finally {
    closeSync(fd);
  }
}
