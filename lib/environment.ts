// process.env as the plain record a child process, a worker or the addon takes.

/** The variables of `env` that are set (process.env types every value as possibly undefined). */
export function setVariables(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) out[name] = value;
  return out;
}
