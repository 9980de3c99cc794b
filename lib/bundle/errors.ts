// The error every bundling step throws for something a user can act on (and the --test jail for a
// bad busybox or emulator): the path as the user gave it and the problem, as one line.

import { PathError } from "../errors.js";
import { GraphConflictError } from "../graph/file-graph.js";

export class BundleError extends PathError {
  override readonly name = "BundleError";
}

/** A conflict in the plan is the user's to resolve (two inputs at one path): a BundleError. */
export function asBundleError(error: unknown): unknown {
  if (error instanceof GraphConflictError) return new BundleError(error.path, error.problem);
  return error;
}
