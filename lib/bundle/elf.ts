// Reading the root's ELF files where a file that is not one (a script, a damaged library) is
// simply not an ELF file to the caller, never an error.

import { ElfError } from "../elf/errors.js";
import { readElf, type ElfFile, type ReadOptions } from "../elf/file.js";
import type { RootFs } from "../fs/root.js";

/** The ELF file at a canonical guest path, with the parts asked for; null when it is not a readable ELF file. */
export function readElfOrNull(root: RootFs, path: string, options: ReadOptions = {}): ElfFile | null {
  try {
    return readElf(path, options, root.hostPath(path));
  } catch (error) {
    if (error instanceof ElfError) return null;
    throw error;
  }
}

/** Whether the file at a canonical guest path is a dynamically linked ELF file (one with a closure to bundle). */
export function isDynamicElf(root: RootFs, path: string): boolean {
  return (readElfOrNull(root, path)?.dynamic ?? null) !== null;
}
