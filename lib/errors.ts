/**
 * The base of every error magicpak reports to a user: the path it is about and the problem, shown
 * as one line "PATH: PROBLEM". Subclasses say which stage found it.
 */
export class PathError extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
  }
}
