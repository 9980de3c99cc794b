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

/** errno-style text for a Node fs error ("No such file or directory"), never a stack. */
export function describeIoError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return errnoText(code) ?? String((error as Error | undefined)?.message ?? error);
}

/** strerror(3) of the errno codes magicpak meets reading files; undefined for others. */
export function errnoText(code: string | undefined): string | undefined {
  switch (code) {
    case "ENOENT":
      return "No such file or directory";
    case "EACCES":
      return "Permission denied";
    case "ENOTDIR":
      return "Not a directory";
    case "EISDIR":
      return "Is a directory";
    case "ELOOP":
      return "Too many levels of symbolic links";
    case "ENAMETOOLONG":
      return "File name too long";
    case "EMFILE":
    case "ENFILE":
      return "Too many open files";
    default:
      return code;
  }
}
