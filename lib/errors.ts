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
    case "EEXIST":
      return "File exists";
    case "EROFS":
      return "Read-only file system";
    case "ENOSPC":
      return "No space left on device (or no free inodes)";
    case "EDQUOT":
      return "Disk quota exceeded";
    case "EPERM":
      return "Operation not permitted";
    case "ENOTEMPTY":
      return "Directory not empty";
    case "EBUSY":
      return "Device or resource busy";
    case "EXDEV":
      return "Invalid cross-device link";
    case "EFBIG":
      return "File too large";
    case "EIO":
      return "Input/output error";
    case "ENXIO":
      return "No such device or address";
    case "ETXTBSY":
      return "Text file busy";
    case "ENOEXEC":
      return "Exec format error";
    case undefined:
      return undefined;
    default:
      return code;
  }
}

/**
 * The one place a Node fs/child_process error (it carries `code` and `path`) becomes a user's
 * error: "PATH: strerror", as a PathError, or null for anything else (a real internal error).
 * `fallbackPath` names the path when the error has none (the destination being written).
 */
export function pathErrorOf(error: unknown, fallbackPath?: string): PathError | null {
  if (error instanceof PathError) return error;
  const e = error as NodeJS.ErrnoException | undefined;
  if (!e || typeof e !== "object" || typeof e.code !== "string" || !/^E[A-Z0-9]+$/.test(e.code)) return null;
  const path = typeof e.path === "string" ? e.path : fallbackPath;
  if (path === undefined) return null;
  return new PathError(path, errnoText(e.code) ?? e.code);
}
