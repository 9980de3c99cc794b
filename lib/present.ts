// Invariants the type checker cannot see (an index within bounds, a match a test has just made),
// stated where they are relied on: a broken one is an Error naming what was missing, not a
// TypeError somewhere later.

/** `value`, which the caller's logic guarantees is there; otherwise an Error naming `what`. */
export function present<T>(value: T | null | undefined, what: string): T {
  if (value === undefined || value === null) throw new Error(`internal error: ${what} is missing`);
  return value;
}
