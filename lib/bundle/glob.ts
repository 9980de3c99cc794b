// --include and --exclude patterns (micromatch syntax; magicpak's glob crate semantics where they differ).

import micromatch from "micromatch";
import { joinGuest, type RootFs } from "../fs/root.js";

const MAX_DEPTH = 40;

/**
 * Paths inside the root matching `pattern`, sorted, spelled as the pattern spells them (so
 * symlinked directories in the pattern are kept). Directory levels are matched one by one, as
 * shells and magicpak's include do; `**` crosses levels but does not follow symlinked directories.
 */
export function expandGlob(root: RootFs, pattern: string, cwd: string): string[] {
  const absolute = pattern.startsWith("/") ? pattern : joinGuest(cwd, pattern);
  const scan = micromatch.scan(absolute);
  if (!scan.isGlob) return root.tryResolve(absolute, "/", false) ? [absolute] : [];
  const base = scan.base === "" ? "/" : scan.base;
  const levels = scan.glob.split("/").length;
  const unbounded = scan.glob.includes("**");
  const matcher = micromatch.matcher(absolute, { dot: true });
  const results: string[] = [];
  const visit = (dir: string, depth: number) => {
    const names = root.listDirectory(dir);
    if (!names) return;
    for (const name of [...names].sort()) {
      const path = dir === "/" ? `/${name}` : `${dir}/${name}`;
      if (matcher(path)) results.push(path);
      if (depth + 1 >= (unbounded ? MAX_DEPTH : levels)) continue;
      const entry = root.tryResolve(path, "/", unbounded ? false : true);
      if (entry?.stats.isDirectory()) visit(path, depth + 1);
    }
  };
  visit(base, 0);
  return results;
}

/**
 * Whether an image path is excluded by `pattern`. magicpak matched the whole path with `*`
 * crossing '/', so `/usr/share/*` removes a whole subtree and `*.a` any file so named: an entry
 * is excluded when it or one of its ancestors matches, and a pattern without '/' matches names.
 */
export function isExcluded(path: string, pattern: string): boolean {
  const options = { dot: true, basename: !pattern.includes("/") };
  for (let p = path; p !== "" && p !== "/"; p = p.slice(0, p.lastIndexOf("/"))) {
    if (micromatch.isMatch(p, pattern, options)) return true;
  }
  return false;
}
