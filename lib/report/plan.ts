// --explain: the plan, every entry with its size and why it is there, largest first, so a user
// can see why a bundle is large.

import type { FileGraph, Reason } from "../graph/file-graph.js";

export function formatReason(r: Reason): string {
  switch (r.kind) {
    case "input":
      return `input ${r.path}`;
    case "interpreter":
      return `interpreter of ${r.of}`;
    case "needed":
      return `DT_NEEDED ${r.name} of ${r.by}`;
    case "preload":
      return `LD_PRELOAD ${r.name}`;
    case "audit":
      return `audit module ${r.name}`;
    case "symlink":
      return `symlink towards ${r.towards}`;
    case "include":
      return `--include ${r.pattern}`;
    case "interpreter-script":
      return `interpreter of ${r.script} (${r.line})`;
    case "env-program":
      return `${r.name}, run by env for ${r.script}`;
    case "dynamic":
      return r.pid === undefined ? `used by the traced run of ${r.by}` : `${r.syscall} ${r.path} by pid ${r.pid} (${r.exe}) in ${JSON.stringify(r.by)}`;
    case "dynamic-directory":
      return `pid ${r.pid} (${r.exe}) ${r.syscall === undefined ? "wrote" : `${r.syscall}, then the run removed,`} ${r.path} in ${JSON.stringify(r.by)}`;
    case "mkdir":
      return "--mkdir";
    case "extra":
      return r.what;
    case "package-record":
      return `package record of ${r.package} for ${r.file}`;
  }
}

function size(bytes: number): string {
  return bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)}M` : bytes >= 1024 ? `${(bytes / 1024).toFixed(1)}K` : `${bytes}B`;
}

export function formatPlan(graph: FileGraph): string {
  const entries = graph.entries().map((n) => ({ node: n, bytes: n.kind === "file" ? n.size : n.kind === "generated" ? n.content.length : 0 }));
  entries.sort((a, b) => b.bytes - a.bytes || (a.node.path < b.node.path ? -1 : a.node.path > b.node.path ? 1 : 0));
  // Hard links (one inode at several paths) hold their bytes once.
  const stored = new Set<string>();
  const total = entries.reduce((sum, { node, bytes }) => {
    if (node.kind !== "file") return sum + bytes;
    if (stored.has(node.identity)) return sum;
    stored.add(node.identity);
    return sum + bytes;
  }, 0);
  const lines = entries.map(
    ({ node, bytes }) =>
      `${size(bytes).padStart(7)}  ${node.kind === "directory" ? `${node.path}/` : node.path}${node.kind === "symlink" ? ` -> ${node.target}` : ""}\n${node.reasons.map((r) => `           ${formatReason(r)}\n`).join("")}`,
  );
  return `${lines.join("")}${size(total).padStart(7)}  total, ${entries.length} entries\n`;
}
