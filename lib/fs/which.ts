import { accessSync, constants, lstatSync } from "node:fs";
import { delimiter, join } from "node:path";

/** A program given as a path, or looked up on PATH by name (as which(1)); null when absent. */
export function findOnPath(given: string): string | null {
  const candidates = given.includes("/")
    ? [given]
    : (process.env["PATH"] ?? "")
        .split(delimiter)
        .filter((d) => d !== "")
        .map((d) => join(d, given));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  return null;
}

/** Whether anything (even a dangling symlink) is at `path`. */
export function pathExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
