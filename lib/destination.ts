// What a destination directory (the bundle's OUTPUT, an OCI image layout) must be before it is
// written: absent or empty (magicpak's "destination is invalid / not empty").

import { lstatSync, readdirSync } from "node:fs";

/** Why the directory `absolute` cannot be written, or null when it is absent or an empty directory. */
export function directoryDestinationProblem(absolute: string): string | null {
  let stats;
  try {
    stats = lstatSync(absolute);
  } catch {
    return null;
  }
  if (!stats.isDirectory()) return "destination exists and is not a directory";
  if (readdirSync(absolute).length > 0) return "destination is not empty";
  return null;
}
