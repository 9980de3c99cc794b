/** Every defect the reader can report. The reader throws nothing else. */
export type ElfDefect = "io" | "not-elf" | "truncated" | "bad-class" | "bad-data-encoding" | "bad-header-size" | "out-of-range" | "too-large" | "bad-string" | "bad-dynamic" | "bad-note";

/** A file that is not a readable ELF object, or one with a defect, named by path. */
export class ElfError extends Error {
  override readonly name = "ElfError";
  constructor(
    readonly path: string,
    readonly defect: ElfDefect,
    readonly detail: string,
  ) {
    super(`${path}: ${detail}`);
  }
}
