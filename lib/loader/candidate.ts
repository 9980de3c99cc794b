// open_verify (glibc elf/dl-load.c): what the loader does with one candidate path.

import { ELFOSABI_ARM_AEABI, ELFOSABI_GNU, ELFOSABI_SYSV, ET_DYN, ET_EXEC, EV_CURRENT, EM_ARM, PHDR_SIZE } from "../elf/constants.js";
import { ElfError } from "../elf/errors.js";
import { readIdent, type FileHeader, type Ident } from "../elf/file.js";
import { RootPathError, type PathErrorCode, type ResolvedPath, type RootFs } from "../fs/root.js";
import { machineMatches, type Abi } from "./machines.js";

/** Reads a resolved file's ELF header (the loader session caches these); throws ElfError. */
export type HeaderReader = (file: ResolvedPath) => FileHeader;

export type Verdict =
  | { kind: "ok"; file: ResolvedPath; header: FileHeader }
  /** ENOENT, EACCES: try the next place. */
  | { kind: "absent"; detail: string }
  /** Another open error (ENOTDIR, ELOOP, ...): glibc's open_path abandons the rest of this list. */
  | { kind: "stop"; detail: string }
  | { kind: "wrong-class"; detail: string }
  | { kind: "wrong-machine"; detail: string }
  /** The loader gives up on this name with this message. */
  | { kind: "fatal"; detail: string };

/** open_verify's e_ident checks, in its order: null when e_ident is acceptable. */
function identVerdict(ident: Ident, abi: Abi): Verdict | null {
  if (ident.class !== abi.class) return { kind: "wrong-class", detail: `wrong ELF class: ELFCLASS${ident.class === 2 ? 64 : 32}` };
  if (ident.data !== abi.data) return { kind: "fatal", detail: `ELF file data encoding not ${abi.data === 1 ? "little" : "big"}-endian` };
  if (ident.identVersion !== EV_CURRENT) return { kind: "fatal", detail: "ELF file version ident does not match current one" };
  const osabiOk = ident.osabi === ELFOSABI_SYSV || ident.osabi === ELFOSABI_GNU || (abi.machine === EM_ARM && ident.osabi === ELFOSABI_ARM_AEABI);
  if (!osabiOk) return { kind: "fatal", detail: "ELF file OS ABI invalid" };
  if (ident.abiVersion > (ident.osabi === ELFOSABI_GNU ? 5 : 0) && ident.osabi !== ELFOSABI_ARM_AEABI) {
    return { kind: "fatal", detail: "ELF file ABI version invalid" };
  }
  return null;
}

/** glibc's checks in open_verify, in its order. `path` is as the loader built it (maybe relative to cwd). */
export function verifyGlibcCandidate(root: RootFs, path: string, cwd: string, abi: Abi, readHeader: HeaderReader): Verdict {
  const file = root.lookup(path, cwd);
  if (file instanceof RootPathError) {
    if (file.code === "ENOENT" || file.code === "EACCES") return { kind: "absent", detail: file.message };
    return { kind: "stop", detail: file.message };
  }
  // open() of a directory succeeds and read() fails with EISDIR, which ld.so's own minimal
  // strerror (elf/dl-minimal.c, glibc <= 2.36) does not name: "Error 21".
  if (file.stats.isDirectory()) return { kind: "fatal", detail: "cannot read file data: Error 21" };
  // A FIFO would block the real loader forever; a device reads as empty or garbage. Neither loads.
  if (!file.stats.isFile()) {
    if (file.stats.isCharacterDevice() || file.stats.isBlockDevice()) return { kind: "fatal", detail: "file too short" };
    return { kind: "fatal", detail: "not a regular file (the loader would block or fail on it)" };
  }
  const expectedSize = abi.class === 2 ? 64 : 52;
  if (file.stats.size < expectedSize) return { kind: "fatal", detail: "file too short" };
  let header: FileHeader;
  try {
    header = readHeader(file);
  } catch (error) {
    if (!(error instanceof ElfError)) throw error;
    if (error.defect === "io") return { kind: "absent", detail: error.detail };
    if (error.defect === "not-elf") return { kind: "fatal", detail: "invalid ELF header" };
    // e_ident is judged before the rest of the header: a foreign byte order or class is reported
    // as such even when the other fields, read in that order, make no sense.
    const ident = readIdent(file.path, file.hostPath);
    const verdict = ident ? identVerdict(ident, abi) : null;
    if (verdict) return verdict;
    if (error.defect === "truncated") return { kind: "fatal", detail: "file too short" };
    return { kind: "fatal", detail: error.detail };
  }
  const verdict = identVerdict(header, abi);
  if (verdict) return verdict;
  if (header.version !== EV_CURRENT) return { kind: "fatal", detail: "ELF file version does not match current one" };
  if (!machineMatches(abi, header)) return { kind: "wrong-machine", detail: `machine ${header.machine} is not the target's ${abi.machine}` };
  if (header.type !== ET_DYN && header.type !== ET_EXEC) return { kind: "fatal", detail: "only ET_DYN and ET_EXEC can be loaded" };
  if (header.phentsize !== PHDR_SIZE[header.class]) return { kind: "fatal", detail: "ELF file's phentsize not the expected size" };
  return { kind: "ok", file, header };
}

/** musl's strerror text (src/errno/__strerror.h): what load_library's "%m" prints for a fatal candidate. */
const MUSL_STRERROR: Record<PathErrorCode, string> = {
  ENOENT: "No such file or directory",
  ENOTDIR: "Not a directory",
  ELOOP: "Symbolic link loop",
  EACCES: "Permission denied",
  EIO: "I/O error",
};

/**
 * musl's path_open + map_library: no class or machine check; only these open errors continue the
 * search. A fatal verdict's detail is musl's own message for it.
 */
export function verifyMuslCandidate(root: RootFs, path: string, cwd: string, readHeader: HeaderReader): Verdict {
  const file = root.lookup(path, cwd);
  if (file instanceof RootPathError) {
    if (file.code === "ENOENT" || file.code === "ENOTDIR" || file.code === "EACCES") return { kind: "absent", detail: file.message };
    return { kind: "fatal", detail: MUSL_STRERROR[file.code] };
  }
  if (!file.stats.isFile()) return { kind: "fatal", detail: file.stats.isDirectory() ? "Is a directory" : "not a regular file" };
  let header: FileHeader;
  try {
    header = readHeader(file);
  } catch (error) {
    if (!(error instanceof ElfError)) throw error;
    // map_library: a file it cannot map as an ELF object fails with ENOEXEC.
    return { kind: "fatal", detail: error.defect === "io" ? error.detail : "Exec format error" };
  }
  return { kind: "ok", file, header };
}
