// --include patterns (micromatch syntax) and --exclude patterns (magicpak 1.4.0's glob crate semantics).

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
 * Whether an image path is excluded by `pattern`. magicpak matched the whole path with the glob
 * crate's default MatchOptions, where `*` and `?` cross '/', so `/usr/share/*` removes a whole
 * subtree and `/usr/lib/*.a` also /usr/lib/x86_64-linux-gnu/libm.a: an entry is excluded when it
 * or one of its ancestors matches, and a pattern without '/' matches names.
 */
export function isExcluded(path: string, pattern: string): boolean {
  const matcher = crateGlob(pattern);
  const byName = !pattern.includes("/");
  for (let p = path; p !== "" && p !== "/"; p = p.slice(0, p.lastIndexOf("/"))) {
    if (matcher.test(byName ? p.slice(p.lastIndexOf("/") + 1) : p)) return true;
  }
  return false;
}

const crateGlobs = new Map<string, RegExp>();

/**
 * The glob crate's Pattern with require_literal_separator false (its default): `*` is any run of
 * characters and `?` any one, '/' included; `**` as a whole component also matches none; `[...]`
 * and `[!...]` are classes with ranges; `{a,b}` alternatives are kept from micromatch. Written here because no matcher on npm lets `*` cross '/'.
 * An unclosed '[' is a literal, as the crate's Pattern::new accepts nothing else.
 */
function crateGlob(pattern: string): RegExp {
  const cached = crateGlobs.get(pattern);
  if (cached) return cached;
  const compiled = new RegExp(`^${globSource(pattern)}$`, "s");
  crateGlobs.set(pattern, compiled);
  return compiled;
}

/** The RegExp source of a glob (see crateGlob). */
function globSource(pattern: string): string {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charAt(i);
    if (c === "*") {
      const run = i;
      while (pattern[i + 1] === "*") i++;
      // "/**/" matches "/" too (zero components).
      if (i > run && pattern[i + 1] === "/" && re.endsWith("/")) {
        re = `${re.slice(0, -1)}(?:/|/[\\s\\S]*/)`;
        i++;
      } else re += "[\\s\\S]*";
    } else if (c === "?") re += "[\\s\\S]";
    else if (c === "[") {
      const negate = pattern[i + 1] === "!";
      const close = pattern.indexOf("]", i + (negate ? 3 : 2));
      if (close < 0) re += "\\[";
      else {
        const body = pattern.slice(i + (negate ? 2 : 1), close).replace(/[\\\]^]/g, "\\$&");
        re += `[${negate ? "^" : ""}${body}]`;
        i = close;
      }
    } else if (c === "{" && braceEnd(pattern, i) > 0) {
      // {a,b}: alternatives, as micromatch (which --include uses) reads them; the crate has none.
      const end = braceEnd(pattern, i);
      re += `(?:${splitTopLevel(pattern.slice(i + 1, end))
        .map(globSource)
        .join("|")})`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return re;
}

/** The index of the '}' that closes the '{' at `open` and has a ',' at its level, or -1. */
function braceEnd(pattern: string, open: number): number {
  let depth = 0;
  let comma = false;
  for (let i = open; i < pattern.length; i++) {
    if (pattern[i] === "{") depth++;
    else if (pattern[i] === "}" && --depth === 0) return comma ? i : -1;
    else if (pattern[i] === "," && depth === 1) comma = true;
  }
  return -1;
}

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}") depth--;
    else if (text[i] === "," && depth === 0) {
      parts.push(text.slice(from, i));
      from = i + 1;
    }
  }
  parts.push(text.slice(from));
  return parts;
}
