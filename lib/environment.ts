// process.env as the plain record a child process, a worker or the addon takes, and the variables
// magicpak itself reads from it.

import { PathError } from "./errors.js";

/** A variable of the environment with a value magicpak cannot use, named as NAME=VALUE. */
export class EnvironmentError extends PathError {
  override readonly name = "EnvironmentError";
}

/** The variables of `env` that are set (process.env types every value as possibly undefined). */
export function setVariables(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) out[name] = value;
  return out;
}

/** SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/source-date-epoch/), else 0. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): number {
  const value = env["SOURCE_DATE_EPOCH"];
  if (value === undefined || value === "") return 0;
  if (!/^\d+$/.test(value) || Number(value) > 0o77777777777) throw new EnvironmentError(`SOURCE_DATE_EPOCH=${value}`, "must be a whole number of seconds since 1970 (at most 8589934591)");
  return Number(value);
}
