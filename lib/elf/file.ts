// A plain, typed model of an ELF file and one reader for it, in the manner of Go's debug/elf.
// The dynamic segment is found through PT_DYNAMIC and its strings through DT_STRTAB mapped by
// PT_LOAD, so files with stripped or missing section headers read the same.

import { decodeName } from "../fs-name.js";
import {
  DF_1_NODEFLIB,
  DT_AUDIT,
  DT_AUXILIARY,
  DT_DEPAUDIT,
  DT_FILTER,
  DT_FLAGS,
  DT_FLAGS_1,
  DT_GNU_HASH,
  DT_HASH,
  DT_NEEDED,
  DT_NULL,
  DT_RPATH,
  DT_RUNPATH,
  DT_SONAME,
  DT_STRSZ,
  DT_STRTAB,
  DT_SYMENT,
  DT_SYMTAB,
  DYN_SIZE,
  EHDR_SIZE,
  EI_ABIVERSION,
  EI_CLASS,
  EI_DATA,
  EI_NIDENT,
  EI_OSABI,
  EI_VERSION,
  ELFCLASS32,
  ELFCLASS64,
  ELFDATA2LSB,
  ELFDATA2MSB,
  ELFMAG,
  FDO_NOTE_OWNER,
  NT_FDO_DLOPEN_METADATA,
  PHDR_SIZE,
  PT_DYNAMIC,
  PT_INTERP,
  PT_LOAD,
  PT_NOTE,
  SHDR_SIZE,
  SHN_UNDEF,
  SHN_XINDEX,
  SHT_DYNSYM,
  SHT_NOTE,
  STB_GLOBAL,
  STB_WEAK,
  SYM_SIZE,
  type ElfClass,
  type ElfData,
} from "./constants.js";
import { ElfError } from "./errors.js";
import { Elf_Nhdr, Gnu_Hash, LAYOUT, type ClassLayout } from "./layout.js";
import { FileSource } from "./source.js";

export interface FileHeader {
  class: ElfClass;
  data: ElfData;
  /** e_ident[EI_VERSION] */
  identVersion: number;
  osabi: number;
  abiVersion: number;
  type: number;
  machine: number;
  /** e_version */
  version: number;
  entry: number;
  phoff: number;
  shoff: number;
  flags: number;
  ehsize: number;
  phentsize: number;
  phnum: number;
  shentsize: number;
  shnum: number;
  shstrndx: number;
}

export interface Prog {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  paddr: number;
  filesz: number;
  memsz: number;
  align: number;
}

export interface Section {
  name: string;
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
}

export interface DynTag {
  tag: number;
  /** d_val / d_ptr; values beyond 2^53 are clamped to NaN (no loader-relevant value is that large). */
  value: number;
}

/** What the dynamic section says, strings already read from DT_STRTAB. */
export interface Dynamic {
  tags: DynTag[];
  needed: string[];
  soname: string | null;
  rpath: string | null;
  runpath: string | null;
  flags: number;
  flags1: number;
  audit: string | null;
  depaudit: string | null;
  filter: string[];
  auxiliary: string[];
}

export interface DlopenNote {
  soname: string[];
  feature: string | null;
  description: string | null;
  priority: "required" | "recommended" | "suggested";
}

export interface ElfFile {
  path: string;
  size: number;
  header: FileHeader;
  progs: Prog[];
  /** PT_INTERP contents, or null. */
  interp: string | null;
  /** null when there is no PT_DYNAMIC (a static executable or a relocatable object). */
  dynamic: Dynamic | null;
  /** Present when asked for with `sections: true`; empty when the file has no section headers. */
  sections?: Section[];
  /** Names of undefined dynamic symbols, when asked for with `imports: true`. */
  imports?: string[];
  /** FDO .note.dlopen entries, when asked for with `dlopenNotes: true`. */
  dlopenNotes?: DlopenNote[];
  /** Bytes read from disk to build this object. */
  bytesRead: number;
}

export interface ReadOptions {
  sections?: boolean;
  imports?: boolean;
  dlopenNotes?: boolean;
}

/** Hard bounds that keep a hostile file from making the reader allocate or loop without limit. */
const MAX_PATH_STRING = 4096;
const MAX_SYMBOLS = 1 << 22;
const MAX_NOTES_BYTES = 1 << 20;

/** Reads an ELF file by positional reads of only the parts asked for. Throws ElfError and nothing else. */
export function readElf(path: string, options: ReadOptions = {}, hostPath: string = path): ElfFile {
  const source = FileSource.open(path, hostPath);
  try {
    return readFrom(source, options);
  } catch (error) {
    if (error instanceof ElfError) throw error;
    // A bug of ours, not a defect of the file; still never let it escape untyped.
    throw new ElfError(path, "io", `internal reader error: ${(error as Error)?.message ?? String(error)}`);
  } finally {
    source.close();
  }
}

/** The e_ident bytes, decoded but not judged: what open_verify checks before the rest of the header. */
export interface Ident {
  class: number;
  data: number;
  /** e_ident[EI_VERSION] */
  identVersion: number;
  osabi: number;
  abiVersion: number;
}

/** Decodes e_ident from a file's first EI_NIDENT bytes; null when they are too few or lack the magic. */
export function decodeIdent(bytes: Buffer): Ident | null {
  if (bytes.length < EI_NIDENT || !isElfMagic(bytes)) return null;
  const at = (index: number) => bytes[index] ?? 0;
  return { class: at(EI_CLASS), data: at(EI_DATA), identVersion: at(EI_VERSION), osabi: at(EI_OSABI), abiVersion: at(EI_ABIVERSION) };
}

/** A file's e_ident, or null when it cannot be read, is shorter than EI_NIDENT or is not ELF. */
export function readIdent(path: string, hostPath: string = path): Ident | null {
  let source: FileSource;
  try {
    source = FileSource.open(path, hostPath);
  } catch {
    return null;
  }
  try {
    return source.size < EI_NIDENT ? null : decodeIdent(source.read(0, EI_NIDENT, "e_ident"));
  } catch {
    return null;
  } finally {
    source.close();
  }
}

/** Reads only the e_ident and header fields; what the loader checks before mapping a candidate. */
export function readHeader(path: string, hostPath: string = path): FileHeader {
  const source = FileSource.open(path, hostPath);
  try {
    return parseHeader(source);
  } finally {
    source.close();
  }
}

function readFrom(source: FileSource, options: ReadOptions): ElfFile {
  const header = parseHeader(source);
  const codec = new Codec(header);
  const progs = readProgs(source, header, codec);
  // Debuginfo-only files (objcopy --only-keep-debug) keep PT_INTERP and PT_DYNAMIC with p_filesz 0;
  // glibc's _dl_map_object_from_fd skips such a PT_DYNAMIC, and so do we.
  const interpProg = progs.find((p) => p.type === PT_INTERP && p.filesz !== 0);
  const interp = interpProg ? readInterp(source, interpProg) : null;
  const dynamicProg = progs.find((p) => p.type === PT_DYNAMIC && p.filesz !== 0);
  const elf: ElfFile = { path: source.path, size: source.size, header, progs, interp, dynamic: null, bytesRead: 0 };
  let sections: Section[] | undefined;
  const needSections = options.sections || (options.imports && dynamicProg !== undefined);
  if (needSections && header.shoff !== 0) sections = readSections(source, header, codec);
  if (dynamicProg) elf.dynamic = readDynamic(source, header, codec, progs, dynamicProg);
  if (options.sections) elf.sections = sections ?? [];
  if (options.imports) elf.imports = elf.dynamic ? readImports(source, header, codec, progs, elf.dynamic, sections) : [];
  if (options.dlopenNotes) elf.dlopenNotes = readDlopenNotes(source, codec, progs, sections);
  elf.bytesRead = source.bytesRead;
  return elf;
}

/** Field decoding for one file's class and byte order. */
class Codec {
  readonly little: boolean;
  readonly is64: boolean;
  /** The class's record layouts (Elf32_* or Elf64_*). */
  readonly layout: ClassLayout;
  constructor(header: Pick<FileHeader, "class" | "data">) {
    this.little = header.data === ELFDATA2LSB;
    this.is64 = header.class === ELFCLASS64;
    this.layout = LAYOUT[header.class];
  }
  u16(b: Buffer, o: number): number {
    return this.little ? b.readUInt16LE(o) : b.readUInt16BE(o);
  }
  u32(b: Buffer, o: number): number {
    return this.little ? b.readUInt32LE(o) : b.readUInt32BE(o);
  }
  i32(b: Buffer, o: number): number {
    return this.little ? b.readInt32LE(o) : b.readInt32BE(o);
  }
  /** A u64 as a number, NaN beyond 2^53; read as two halves to avoid allocating a BigInt per field. */
  u64(b: Buffer, o: number): number {
    const lo = this.little ? b.readUInt32LE(o) : b.readUInt32BE(o + 4);
    const hi = this.little ? b.readUInt32LE(o + 4) : b.readUInt32BE(o);
    return hi < 0x200000 ? hi * 0x100000000 + lo : Number.NaN;
  }
  /** An address-sized field: 4 bytes in ELF32, 8 in ELF64. */
  addr(b: Buffer, o: number): number {
    return this.is64 ? this.u64(b, o) : this.u32(b, o);
  }
  /** A signed address-sized field (d_tag). */
  saddr(b: Buffer, o: number): number {
    if (!this.is64) return this.i32(b, o);
    const lo = this.little ? b.readUInt32LE(o) : b.readUInt32BE(o + 4);
    const hi = this.little ? b.readInt32LE(o + 4) : b.readInt32BE(o);
    if (hi >= -0x200000 && hi < 0x200000) return hi * 0x100000000 + lo;
    return Number.NaN;
  }
}

function parseHeader(source: FileSource): FileHeader {
  const path = source.path;
  if (source.size < EI_NIDENT) {
    const elfMagic = source.size >= 4 && isElfMagic(source.read(0, 4, "magic"));
    throw new ElfError(path, elfMagic ? "truncated" : "not-elf", "file too short");
  }
  const ident = decodeIdent(source.read(0, EI_NIDENT, "e_ident"));
  if (!ident) throw new ElfError(path, "not-elf", "invalid ELF header (no ELF magic)");
  const cls = ident.class;
  if (cls !== ELFCLASS32 && cls !== ELFCLASS64) throw new ElfError(path, "bad-class", `invalid ELF class ${cls}`);
  const data = ident.data;
  if (data !== ELFDATA2LSB && data !== ELFDATA2MSB) throw new ElfError(path, "bad-data-encoding", `invalid ELF data encoding ${data}`);
  const ehsize = EHDR_SIZE[cls];
  if (source.size < ehsize) throw new ElfError(path, "truncated", `file too short for an ELF${cls === ELFCLASS64 ? 64 : 32} header`);
  const b = source.read(0, ehsize, "ELF header");
  const c = new Codec({ class: cls, data });
  const f = c.layout.ehdr;
  const header: FileHeader = {
    class: cls,
    data,
    identVersion: ident.identVersion,
    osabi: ident.osabi,
    abiVersion: ident.abiVersion,
    type: c.u16(b, f.e_type),
    machine: c.u16(b, f.e_machine),
    version: c.u32(b, f.e_version),
    entry: c.addr(b, f.e_entry),
    phoff: c.addr(b, f.e_phoff),
    shoff: c.addr(b, f.e_shoff),
    flags: c.u32(b, f.e_flags),
    ehsize: c.u16(b, f.e_ehsize),
    phentsize: c.u16(b, f.e_phentsize),
    phnum: c.u16(b, f.e_phnum),
    shentsize: c.u16(b, f.e_shentsize),
    shnum: c.u16(b, f.e_shnum),
    shstrndx: c.u16(b, f.e_shstrndx),
  };
  if (Number.isNaN(header.phoff) || Number.isNaN(header.shoff)) throw new ElfError(path, "out-of-range", "header offsets beyond any file size");
  return header;
}

function isElfMagic(bytes: Buffer): boolean {
  return bytes.length >= 4 && bytes.subarray(0, 4).equals(ELFMAG);
}

/** The section-0 record, which holds the real phnum/shnum/shstrndx when they overflow the header fields. */
function readSectionZero(source: FileSource, header: FileHeader): Buffer | null {
  if (header.shoff === 0 || header.shentsize < SHDR_SIZE[header.class]) return null;
  return source.read(header.shoff, SHDR_SIZE[header.class], "section header 0");
}

function readProgs(source: FileSource, header: FileHeader, c: Codec): Prog[] {
  if (header.phoff === 0 || header.phnum === 0) return [];
  const size = PHDR_SIZE[header.class];
  if (header.phentsize !== size) {
    throw new ElfError(source.path, "bad-header-size", `e_phentsize is ${header.phentsize}, expected ${size}`);
  }
  let count = header.phnum;
  if (count === 0xffff) {
    // PN_XNUM: the real count is in section 0's sh_info.
    const s0 = readSectionZero(source, header);
    if (s0) count = c.u32(s0, c.layout.shdr.sh_info);
  }
  if (count * size > source.size) throw new ElfError(source.path, "too-large", `${count} program headers cannot fit in a ${source.size}-byte file`);
  const table = source.read(header.phoff, count * size, "program header table");
  const f = c.layout.phdr;
  const progs: Prog[] = [];
  for (let i = 0; i < count; i++) {
    const o = i * size;
    progs.push({
      type: c.u32(table, o + f.p_type),
      flags: c.u32(table, o + f.p_flags),
      offset: c.addr(table, o + f.p_offset),
      vaddr: c.addr(table, o + f.p_vaddr),
      paddr: c.addr(table, o + f.p_paddr),
      filesz: c.addr(table, o + f.p_filesz),
      memsz: c.addr(table, o + f.p_memsz),
      align: c.addr(table, o + f.p_align),
    });
  }
  return progs;
}

function readInterp(source: FileSource, prog: Prog): string {
  if (prog.filesz === 0 || Number.isNaN(prog.filesz) || prog.filesz > MAX_PATH_STRING) {
    throw new ElfError(source.path, "bad-string", `PT_INTERP has an unusable size ${prog.filesz}`);
  }
  const bytes = source.read(prog.offset, prog.filesz, "PT_INTERP");
  const end = bytes.indexOf(0);
  return decodeName(bytes, 0, end >= 0 ? end : bytes.length);
}

/** Maps a virtual address to a file offset through the PT_LOAD segment that contains it. */
function vaddrToOffset(progs: Prog[], vaddr: number): { offset: number; available: number } | null {
  for (const p of progs) {
    if (p.type !== PT_LOAD) continue;
    if (vaddr >= p.vaddr && vaddr < p.vaddr + p.filesz) {
      return { offset: p.offset + (vaddr - p.vaddr), available: p.filesz - (vaddr - p.vaddr) };
    }
  }
  return null;
}

function readDynamic(source: FileSource, header: FileHeader, c: Codec, progs: Prog[], prog: Prog): Dynamic {
  const entSize = DYN_SIZE[header.class];
  const length = Math.min(prog.filesz, source.size - Math.min(prog.offset, source.size));
  if (Number.isNaN(prog.filesz) || prog.offset > source.size) {
    throw new ElfError(source.path, "out-of-range", `PT_DYNAMIC at offset ${prog.offset} lies outside the file`);
  }
  const count = Math.floor(length / entSize);
  const table = source.read(prog.offset, count * entSize, "dynamic section");
  const tags: DynTag[] = [];
  for (let i = 0; i < count; i++) {
    const o = i * entSize;
    const tag = c.saddr(table, o + c.layout.dyn.d_tag);
    const value = c.addr(table, o + c.layout.dyn.d_val);
    if (tag === DT_NULL) break;
    tags.push({ tag, value });
  }
  const strtabAddr = dynValue({ tags }, DT_STRTAB);
  const strsz = dynValue({ tags }, DT_STRSZ);
  const stringTags = [DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH, DT_AUDIT, DT_DEPAUDIT, DT_FILTER, DT_AUXILIARY];
  const hasStrings = tags.some((t) => stringTags.includes(t.tag));
  let strtab: { offset: number; size: number } | null = null;
  if (hasStrings) {
    if (strtabAddr === undefined || Number.isNaN(strtabAddr)) {
      throw new ElfError(source.path, "bad-dynamic", "dynamic section has strings but no DT_STRTAB");
    }
    const mapped = vaddrToOffset(progs, strtabAddr);
    if (!mapped) throw new ElfError(source.path, "bad-dynamic", `DT_STRTAB address 0x${strtabAddr.toString(16)} is not in any PT_LOAD segment`);
    const size = Math.min(strsz !== undefined && !Number.isNaN(strsz) ? strsz : mapped.available, mapped.available, source.size - mapped.offset);
    strtab = { offset: mapped.offset, size };
  }
  // The strings the loader needs usually sit together: fetch their span in one read, not one read each.
  let window: { start: number; bytes: Buffer } | null = null;
  if (strtab) {
    const strtabSize = strtab.size;
    const offsets = tags.filter((t) => stringTags.includes(t.tag) && t.value < strtabSize).map((t) => t.value);
    if (offsets.length > 1) {
      const start = Math.min(...offsets);
      const end = Math.min(Math.max(...offsets) + 256, strtab.size);
      if (end - start <= 64 * 1024) window = { start, bytes: source.read(strtab.offset + start, end - start, "dynamic string table") };
    }
  }
  const str = (tag: DynTag): string => {
    const name = tagName(tag.tag);
    if (!strtab || Number.isNaN(tag.value) || tag.value >= strtab.size) {
      throw new ElfError(source.path, "bad-string", `${name} value ${tag.value} is not within the string table`);
    }
    if (window && tag.value >= window.start) {
      const at = tag.value - window.start;
      const nul = window.bytes.indexOf(0, at);
      if (nul >= 0 && nul - at <= MAX_PATH_STRING) return decodeName(window.bytes, at, nul);
    }
    return source.readCString(strtab.offset + tag.value, Math.min(MAX_PATH_STRING, strtab.size - tag.value - 1), name);
  };
  const dynamic: Dynamic = {
    tags,
    needed: [],
    soname: null,
    rpath: null,
    runpath: null,
    flags: 0,
    flags1: 0,
    audit: null,
    depaudit: null,
    filter: [],
    auxiliary: [],
  };
  for (const t of tags) {
    switch (t.tag) {
      case DT_NEEDED:
        dynamic.needed.push(str(t));
        break;
      case DT_SONAME:
        dynamic.soname = str(t);
        break;
      // glibc keeps the last of repeated single-valued tags (elf_get_dynamic_info overwrites).
      case DT_RPATH:
        dynamic.rpath = str(t);
        break;
      case DT_RUNPATH:
        dynamic.runpath = str(t);
        break;
      case DT_AUDIT:
        dynamic.audit = str(t);
        break;
      case DT_DEPAUDIT:
        dynamic.depaudit = str(t);
        break;
      case DT_FILTER:
        dynamic.filter.push(str(t));
        break;
      case DT_AUXILIARY:
        dynamic.auxiliary.push(str(t));
        break;
      case DT_FLAGS:
        dynamic.flags = t.value;
        break;
      case DT_FLAGS_1:
        dynamic.flags1 = t.value;
        break;
    }
  }
  return dynamic;
}

function tagName(tag: number): string {
  switch (tag) {
    case DT_NEEDED:
      return "DT_NEEDED";
    case DT_SONAME:
      return "DT_SONAME";
    case DT_RPATH:
      return "DT_RPATH";
    case DT_RUNPATH:
      return "DT_RUNPATH";
    case DT_AUDIT:
      return "DT_AUDIT";
    case DT_DEPAUDIT:
      return "DT_DEPAUDIT";
    case DT_FILTER:
      return "DT_FILTER";
    case DT_AUXILIARY:
      return "DT_AUXILIARY";
    default:
      return `tag 0x${tag.toString(16)}`;
  }
}

/** The value of the first entry with this d_tag, as Go's File.DynValue; undefined when there is none. */
export function dynValue(dynamic: { readonly tags: readonly DynTag[] }, tag: number): number | undefined {
  return dynamic.tags.find((t) => t.tag === tag)?.value;
}

export function hasNodeflib(dynamic: Dynamic | null): boolean {
  return dynamic !== null && (dynamic.flags1 & DF_1_NODEFLIB) !== 0;
}

function readSections(source: FileSource, header: FileHeader, c: Codec): Section[] {
  const size = SHDR_SIZE[header.class];
  if (header.shentsize !== size) {
    throw new ElfError(source.path, "bad-header-size", `e_shentsize is ${header.shentsize}, expected ${size}`);
  }
  let count = header.shnum;
  let shstrndx = header.shstrndx;
  if (count === 0 || shstrndx === SHN_XINDEX) {
    const s0 = readSectionZero(source, header);
    if (!s0) return [];
    // SHN_UNDEF and SHN_XINDEX escapes: the real values are in section 0's sh_size and sh_link.
    if (count === 0) count = c.addr(s0, c.layout.shdr.sh_size);
    if (shstrndx === SHN_XINDEX) shstrndx = c.u32(s0, c.layout.shdr.sh_link);
  }
  if (Number.isNaN(count) || count * size > source.size) {
    throw new ElfError(source.path, "too-large", `${count} section headers cannot fit in a ${source.size}-byte file`);
  }
  const table = source.read(header.shoff, count * size, "section header table");
  const f = c.layout.shdr;
  const raw: (Section & { nameOffset: number })[] = [];
  for (let i = 0; i < count; i++) {
    const o = i * size;
    const s = {
      nameOffset: c.u32(table, o + f.sh_name),
      type: c.u32(table, o + f.sh_type),
      flags: c.addr(table, o + f.sh_flags),
      addr: c.addr(table, o + f.sh_addr),
      offset: c.addr(table, o + f.sh_offset),
      size: c.addr(table, o + f.sh_size),
      link: c.u32(table, o + f.sh_link),
      info: c.u32(table, o + f.sh_info),
      addralign: c.addr(table, o + f.sh_addralign),
      entsize: c.addr(table, o + f.sh_entsize),
    };
    raw.push({ ...s, name: "" });
  }
  const names = raw[shstrndx];
  if (names && names.offset < source.size && names.size > 0) {
    const available = Math.min(names.size, source.size - names.offset);
    const bytes = source.read(names.offset, available, "section name table");
    for (const s of raw) {
      if (s.nameOffset < bytes.length) {
        const end = bytes.indexOf(0, s.nameOffset);
        s.name = bytes.toString("utf8", s.nameOffset, end >= 0 ? end : bytes.length);
      }
    }
  }
  return raw.map(({ nameOffset: _nameOffset, ...s }) => s);
}

/** Number of .dynsym entries: from the section header, else DT_HASH's nchain, else by walking DT_GNU_HASH. */
function dynsymCount(source: FileSource, c: Codec, progs: Prog[], dynamic: Dynamic, sections: Section[] | undefined, symSize: number): number {
  const fromSection = sections?.find((s) => s.type === SHT_DYNSYM);
  if (fromSection && fromSection.size > 0) return Math.floor(fromSection.size / symSize);
  const hash = dynValue(dynamic, DT_HASH);
  if (hash !== undefined) {
    const m = vaddrToOffset(progs, hash);
    if (!m) throw new ElfError(source.path, "bad-dynamic", "DT_HASH is not in any PT_LOAD segment");
    return c.u32(source.read(m.offset + 4, 4, "DT_HASH nchain"), 0);
  }
  const gnuHash = dynValue(dynamic, DT_GNU_HASH);
  if (gnuHash !== undefined) {
    const m = vaddrToOffset(progs, gnuHash);
    if (!m) throw new ElfError(source.path, "bad-dynamic", "DT_GNU_HASH is not in any PT_LOAD segment");
    const h = source.read(m.offset, Gnu_Hash.size, "DT_GNU_HASH header");
    const nbuckets = c.u32(h, Gnu_Hash.nbuckets);
    const symoffset = c.u32(h, Gnu_Hash.symoffset);
    const bloomSize = c.u32(h, Gnu_Hash.bloom_size);
    const wordSize = c.is64 ? 8 : 4;
    if (nbuckets > MAX_SYMBOLS || bloomSize > MAX_SYMBOLS) throw new ElfError(source.path, "too-large", "DT_GNU_HASH table sizes are absurd");
    const bucketsOffset = m.offset + Gnu_Hash.size + bloomSize * wordSize;
    const buckets = source.read(bucketsOffset, nbuckets * 4, "DT_GNU_HASH buckets");
    let last = 0;
    for (let i = 0; i < nbuckets; i++) last = Math.max(last, c.u32(buckets, i * 4));
    if (last < symoffset) return symoffset;
    const chainsOffset = bucketsOffset + nbuckets * 4;
    // Walk the last bucket's chain to its end marker (low bit set).
    for (let index = last; index < MAX_SYMBOLS; index++) {
      const word = c.u32(source.read(chainsOffset + (index - symoffset) * 4, 4, "DT_GNU_HASH chain"), 0);
      if (word & 1) return index + 1;
    }
    throw new ElfError(source.path, "too-large", "DT_GNU_HASH chain does not end");
  }
  return 0;
}

function readImports(source: FileSource, header: FileHeader, c: Codec, progs: Prog[], dynamic: Dynamic, sections: Section[] | undefined): string[] {
  const symtab = dynValue(dynamic, DT_SYMTAB);
  const strtab = dynValue(dynamic, DT_STRTAB);
  if (symtab === undefined || strtab === undefined) return [];
  const symSize = dynValue(dynamic, DT_SYMENT) ?? SYM_SIZE[header.class];
  if (symSize !== SYM_SIZE[header.class]) throw new ElfError(source.path, "bad-dynamic", `DT_SYMENT is ${symSize}, expected ${SYM_SIZE[header.class]}`);
  const count = dynsymCount(source, c, progs, dynamic, sections, symSize);
  if (count > MAX_SYMBOLS || count * symSize > source.size) throw new ElfError(source.path, "too-large", `${count} dynamic symbols cannot fit in the file`);
  const symMap = vaddrToOffset(progs, symtab);
  const strMap = vaddrToOffset(progs, strtab);
  if (!symMap || !strMap) throw new ElfError(source.path, "bad-dynamic", "DT_SYMTAB or DT_STRTAB is not in any PT_LOAD segment");
  const symBytes = source.read(symMap.offset, Math.min(count * symSize, symMap.available), "dynamic symbol table");
  const strsz = dynValue(dynamic, DT_STRSZ) ?? strMap.available;
  const strBytes = source.read(strMap.offset, Math.min(strsz, strMap.available, source.size - strMap.offset), "dynamic string table");
  const names: string[] = [];
  const entries = Math.floor(symBytes.length / symSize);
  for (let i = 1; i < entries; i++) {
    const o = i * symSize;
    const nameOffset = c.u32(symBytes, o + c.layout.sym.st_name);
    const info = symBytes.readUInt8(o + c.layout.sym.st_info);
    const shndx = c.u16(symBytes, o + c.layout.sym.st_shndx);
    const bind = info >> 4;
    if (shndx !== SHN_UNDEF || (bind !== STB_GLOBAL && bind !== STB_WEAK) || nameOffset === 0) continue;
    if (nameOffset >= strBytes.length) throw new ElfError(source.path, "bad-string", `symbol ${i} name offset ${nameOffset} is outside the string table`);
    const end = strBytes.indexOf(0, nameOffset);
    names.push(strBytes.toString("utf8", nameOffset, end >= 0 ? end : strBytes.length));
  }
  return names;
}

interface NoteRecord {
  owner: string;
  type: number;
  desc: Buffer;
}

function* walkNotes(source: FileSource, c: Codec, bytes: Buffer, align: number): Generator<NoteRecord> {
  const a = align === 8 ? 8 : 4;
  const up = (n: number) => Math.ceil(n / a) * a;
  let o = 0;
  while (o + Elf_Nhdr.size <= bytes.length) {
    const namesz = c.u32(bytes, o + Elf_Nhdr.n_namesz);
    const descsz = c.u32(bytes, o + Elf_Nhdr.n_descsz);
    const type = c.u32(bytes, o + Elf_Nhdr.n_type);
    const nameStart = o + Elf_Nhdr.size;
    const descStart = up(nameStart + namesz);
    const next = up(descStart + descsz);
    if (nameStart + namesz > bytes.length || descStart + descsz > bytes.length) {
      throw new ElfError(source.path, "bad-note", `note at offset ${o} runs past the end of its segment`);
    }
    const rawName = bytes.subarray(nameStart, nameStart + namesz);
    const nul = rawName.indexOf(0);
    yield { owner: rawName.toString("utf8", 0, nul >= 0 ? nul : rawName.length), type, desc: bytes.subarray(descStart, descStart + descsz) };
    if (next <= o) break;
    o = next;
  }
}

function readDlopenNotes(source: FileSource, c: Codec, progs: Prog[], sections: Section[] | undefined): DlopenNote[] {
  const regions: { offset: number; size: number; align: number }[] = progs.filter((p) => p.type === PT_NOTE).map((p) => ({ offset: p.offset, size: p.filesz, align: p.align }));
  if (regions.length === 0 && sections) {
    for (const s of sections) if (s.type === SHT_NOTE) regions.push({ offset: s.offset, size: s.size, align: s.addralign });
  }
  const notes: DlopenNote[] = [];
  let total = 0;
  for (const region of regions) {
    total += region.size;
    if (Number.isNaN(region.size) || total > MAX_NOTES_BYTES) throw new ElfError(source.path, "too-large", "note segments are larger than 1 MiB");
    const bytes = source.read(region.offset, region.size, "note segment");
    for (const note of walkNotes(source, c, bytes, region.align)) {
      if (note.owner !== FDO_NOTE_OWNER || note.type !== NT_FDO_DLOPEN_METADATA) continue;
      notes.push(...parseDlopenMetadata(source.path, note.desc));
    }
  }
  return notes;
}

/** Parses the JSON payload of an FDO dlopen note: an array of {soname: [...], feature, description, priority}. */
export function parseDlopenMetadata(path: string, desc: Buffer): DlopenNote[] {
  const nul = desc.indexOf(0);
  const text = desc.toString("utf8", 0, nul >= 0 ? nul : desc.length);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ElfError(path, "bad-note", ".note.dlopen payload is not valid JSON");
  }
  if (!Array.isArray(value)) throw new ElfError(path, "bad-note", ".note.dlopen payload is not a JSON array");
  return value.map((entry: unknown, i: number): DlopenNote => {
    const e = entry as Record<string, unknown> | null;
    const soname = e?.["soname"];
    if (!Array.isArray(soname) || !soname.every((s) => typeof s === "string")) {
      throw new ElfError(path, "bad-note", `.note.dlopen entry ${i} has no soname list`);
    }
    const priority = e?.["priority"] ?? "recommended";
    if (priority !== "required" && priority !== "recommended" && priority !== "suggested") {
      throw new ElfError(path, "bad-note", `.note.dlopen entry ${i} has an unknown priority`);
    }
    const text = (k: string) => (typeof e?.[k] === "string" ? (e[k] as string) : null);
    return { soname: soname as string[], feature: text("feature"), description: text("description"), priority };
  });
}
