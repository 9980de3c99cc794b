// Atomic destinations: everything is built in a hidden staging directory beside the destination
// and renamed into place when complete; on failure the staging directory is removed, so an error
// leaves the destination as it was.

import { chmodSync, lstatSync, mkdirSync, renameSync, rmdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { onInterrupt } from "../cleanup.js";
import { directoryDestinationProblem } from "../destination.js";
import { pathErrorOf } from "../errors.js";
import { acquireDestination } from "../fs/staging.js";
import { ImageError } from "./errors.js";

/**
 * Runs `build(staging)` and renames the directory it filled to `destination`, which must be absent
 * or an empty directory (as a bundle OUTPUT). Returns the absolute destination.
 */
export async function intoDirectory<T>(destination: string, build: (staging: string) => Promise<T>): Promise<{ path: string; result: T }> {
  const absolute = resolve(destination);
  const problem = directoryDestinationProblem(absolute);
  if (problem) throw new ImageError(destination, problem);
  return staged(absolute, destination, async (staging) => {
    const again = directoryDestinationProblem(absolute);
    if (again) throw new ImageError(destination, again);
    const dir = join(staging, "out");
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const result = await build(dir);
    if (lstatOrNull(absolute)) rmdirSync(absolute);
    renameSync(dir, absolute);
    return { path: absolute, result };
  });
}

/**
 * Runs `build(staging, file)`, which writes the file `file` (and whatever else it needs inside
 * `staging`), then renames `file` to `destination`, replacing a regular file there.
 */
export async function intoFile<T>(destination: string, build: (staging: string, file: string) => Promise<T>): Promise<{ path: string; result: T }> {
  const absolute = resolve(destination);
  const existing = lstatOrNull(absolute);
  if (existing && !existing.isFile()) throw new ImageError(destination, "destination exists and is not a regular file");
  return staged(absolute, destination, async (staging) => {
    const file = join(staging, "out");
    const result = await build(staging, file);
    chmodSync(file, 0o644);
    renameSync(file, absolute);
    return { path: absolute, result };
  });
}

async function staged<T>(absolute: string, shown: string, work: (staging: string) => Promise<T>): Promise<T> {
  const parent = dirname(absolute);
  try {
    mkdirSync(parent, { recursive: true });
  } catch (error) {
    throw new ImageError(parent, `cannot create the destination's directory: ${pathErrorOf(error, parent)?.problem ?? String(error)}`);
  }
  let held;
  try {
    held = acquireDestination(absolute, shown, (path, problem) => new ImageError(path, problem));
  } catch (error) {
    if (error instanceof ImageError) throw error;
    throw new ImageError(shown, `cannot write: ${pathErrorOf(error, parent)?.problem ?? String(error)}`);
  }
  const unregister = onInterrupt(() => held.release());
  try {
    return await work(held.makeStaging());
  } catch (error) {
    if (error instanceof ImageError) throw error;
    const mapped = pathErrorOf(error);
    if (mapped) throw new ImageError(shown, `cannot write: ${mapped.problem}`);
    throw error;
  } finally {
    held.release();
    unregister();
  }
}

function lstatOrNull(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}
