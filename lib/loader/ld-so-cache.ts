// Reader for glibc's /etc/ld.so.cache (sysdeps/generic/dl-cache.h; lookup as elf/dl-cache.c
// _dl_load_cache_lookup / search_cache). Three layouts: old "ld.so-1.7.0", new
// "glibc-ld.so.cache1.1", and old followed by new.

import { PathError } from "../errors.js";
import { decodeName } from "../fs-name.js";
import { present } from "../present.js";

const OLD_MAGIC = "ld.so-1.7.0";
const NEW_MAGIC = "glibc-ld.so.cache1.1";
const OLD_HEADER = 16;
const OLD_ENTRY = 12;
const NEW_HEADER = 48;
const NEW_ENTRY = 24;
const EXTENSION_MAGIC = 0xeaa42174;
const EXTENSION_TAG_GENERATOR = 0;
const EXTENSION_TAG_GLIBC_HWCAPS = 1;
/** Bit 62 marks an entry inside a glibc-hwcaps subdirectory; the low 32 bits index the hwcaps name table. */
const HWCAP_EXTENSION = 1n << 62n;
const MAX_ENTRIES = 1 << 20;

export interface CacheEntry {
  flags: number;
  key: string;
  value: string;
  /** 0n for a plain entry; hwcaps entries carry HWCAP_EXTENSION and an index. */
  hwcap: bigint;
  /** Name of the glibc-hwcaps subdirectory of this entry, if any. */
  hwcapsName: string | null;
}

export class CacheFormatError extends PathError {
  override readonly name = "CacheFormatError";
}

export interface LdSoCache {
  format: "old" | "new" | "old+new";
  /** In file order (sorted descending by _dl_cache_libcmp as ldconfig writes them). */
  entries: CacheEntry[];
  generator: string | null;
}

export interface ParseOptions {
  littleEndian: boolean;
  /** Alignment of struct cache_file_new on the target (8, or 4 on i386). */
  newHeaderAlignment?: number;
}

/** Parses a cache image; throws CacheFormatError naming the defect and nothing else. */
export function parseLdSoCache(path: string, bytes: Buffer, options: ParseOptions): LdSoCache {
  const le = options.littleEndian;
  const u32 = (o: number) => {
    if (o < 0 || o + 4 > bytes.length) throw new CacheFormatError(path, `truncated at offset ${o}`);
    return le ? bytes.readUInt32LE(o) : bytes.readUInt32BE(o);
  };
  const i32 = (o: number) => u32(o) | 0;
  const u64 = (o: number) => {
    if (o + 8 > bytes.length) throw new CacheFormatError(path, `truncated at offset ${o}`);
    return le ? bytes.readBigUInt64LE(o) : bytes.readBigUInt64BE(o);
  };
  const cstr = (o: number, base: number, limit: number) => {
    if (o < base || o >= limit) throw new CacheFormatError(path, `string offset ${o - base} is outside the string table`);
    const end = bytes.indexOf(0, o);
    if (end < 0 || end >= limit) throw new CacheFormatError(path, `string at ${o - base} is not terminated`);
    // Names are bytes (lib/fs-name.ts): a key or path that is not UTF-8 still matches DT_NEEDED.
    return decodeName(bytes, o, end);
  };

  let newStart: number;
  let format: LdSoCache["format"];
  const entries: CacheEntry[] = [];
  if (hasMagic(bytes, 0, OLD_MAGIC)) {
    const nlibs = u32(12);
    if (nlibs > MAX_ENTRIES || OLD_HEADER + nlibs * OLD_ENTRY > bytes.length) throw new CacheFormatError(path, `old-format entry count ${nlibs} does not fit`);
    const oldEnd = OLD_HEADER + nlibs * OLD_ENTRY;
    const align = options.newHeaderAlignment ?? 8;
    newStart = Math.ceil(oldEnd / align) * align;
    if (newStart + NEW_HEADER <= bytes.length && hasMagic(bytes, newStart, NEW_MAGIC)) {
      format = "old+new";
    } else {
      // Old format alone: strings are relative to the end of the entry array.
      for (let i = 0; i < nlibs; i++) {
        const o = OLD_HEADER + i * OLD_ENTRY;
        entries.push({
          flags: i32(o),
          key: cstr(oldEnd + u32(o + 4), oldEnd, bytes.length),
          value: cstr(oldEnd + u32(o + 8), oldEnd, bytes.length),
          hwcap: 0n,
          hwcapsName: null,
        });
      }
      return { format: "old", entries, generator: null };
    }
  } else if (hasMagic(bytes, 0, NEW_MAGIC)) {
    newStart = 0;
    format = "new";
  } else {
    throw new CacheFormatError(path, "not an ld.so.cache (unknown magic)");
  }

  const nlibs = u32(newStart + 20);
  const lenStrings = u32(newStart + 24);
  const extensionOffset = u32(newStart + 32); // read first: its bounds check covers the flags byte
  const endianFlag = present(bytes[newStart + 28], "cache flags byte") & 3;
  if (endianFlag === 1) throw new CacheFormatError(path, "cache marks its byte order as invalid");
  if ((endianFlag === 2 && !le) || (endianFlag === 3 && le)) throw new CacheFormatError(path, "cache byte order does not match the target");
  if (nlibs > MAX_ENTRIES || newStart + NEW_HEADER + nlibs * NEW_ENTRY > bytes.length) {
    throw new CacheFormatError(path, `entry count ${nlibs} does not fit in the file`);
  }
  // String offsets in the new format are relative to the start of the new header.
  const stringsEnd = Math.min(bytes.length, newStart + NEW_HEADER + nlibs * NEW_ENTRY + lenStrings);
  const hwcapsNames = extensionOffset !== 0 ? readExtensions(path, bytes, extensionOffset, newStart, u32) : { names: [], generator: null };
  for (let i = 0; i < nlibs; i++) {
    const o = newStart + NEW_HEADER + i * NEW_ENTRY;
    const hwcap = u64(o + 16);
    let hwcapsName: string | null = null;
    if (hwcap >> 62n === 1n) {
      const index = Number(hwcap & 0xffffffffn);
      hwcapsName = hwcapsNames.names[index] ?? null;
    }
    entries.push({
      flags: i32(o),
      key: cstr(newStart + u32(o + 4), newStart, stringsEnd),
      value: cstr(newStart + u32(o + 8), newStart, stringsEnd),
      hwcap,
      hwcapsName,
    });
  }
  return { format, entries, generator: hwcapsNames.generator };
}

function readExtensions(path: string, bytes: Buffer, offset: number, newStart: number, u32: (o: number) => number): { names: string[]; generator: string | null } {
  if (offset % 4 !== 0 || offset + 8 > bytes.length) return { names: [], generator: null };
  if (u32(offset) !== EXTENSION_MAGIC) return { names: [], generator: null };
  const count = u32(offset + 4);
  if (count > 64 || offset + 8 + count * 16 > bytes.length) throw new CacheFormatError(path, `extension count ${count} does not fit`);
  let names: string[] = [];
  let generator: string | null = null;
  for (let i = 0; i < count; i++) {
    const o = offset + 8 + i * 16;
    const tag = u32(o);
    const sectionOffset = u32(o + 8);
    const size = u32(o + 12);
    if (sectionOffset + size > bytes.length) throw new CacheFormatError(path, `extension ${i} lies outside the file`);
    if (tag === EXTENSION_TAG_GENERATOR) {
      generator = bytes.toString("utf8", sectionOffset, sectionOffset + size);
    } else if (tag === EXTENSION_TAG_GLIBC_HWCAPS) {
      if (size % 4 !== 0 || size / 4 > 1024) throw new CacheFormatError(path, "glibc-hwcaps extension has a bad size");
      names = [];
      for (let j = 0; j < size / 4; j++) {
        const stringOffset = newStart + u32(sectionOffset + j * 4);
        if (stringOffset >= bytes.length) throw new CacheFormatError(path, "glibc-hwcaps name outside the file");
        const end = bytes.indexOf(0, stringOffset);
        names.push(decodeName(bytes, stringOffset, end < 0 ? bytes.length : end));
      }
    }
  }
  return { names, generator };
}

function hasMagic(bytes: Buffer, offset: number, magic: string): boolean {
  return bytes.length >= offset + magic.length && bytes.toString("latin1", offset, offset + magic.length) === magic;
}

/** _dl_cache_libcmp: digit runs compare numerically, digits sort after other characters. */
export function cacheLibCompare(a: string, b: string): number {
  let i = 0;
  let j = 0;
  const isDigit = (c: number) => c >= 48 && c <= 57;
  while (i < a.length) {
    const ca = a.charCodeAt(i);
    const cb = j < b.length ? b.charCodeAt(j) : 0;
    if (isDigit(ca)) {
      if (!isDigit(cb)) return 1;
      let va = 0;
      let vb = 0;
      while (i < a.length && isDigit(a.charCodeAt(i))) va = va * 10 + a.charCodeAt(i++) - 48;
      while (j < b.length && isDigit(b.charCodeAt(j))) vb = vb * 10 + b.charCodeAt(j++) - 48;
      if (va !== vb) return va - vb;
    } else if (isDigit(cb)) {
      return -1;
    } else if (ca !== cb) {
      return ca - cb;
    } else {
      i++;
      j++;
    }
  }
  return j < b.length ? -b.charCodeAt(j) : 0;
}

export interface CacheHit {
  entry: CacheEntry;
  /** Other entries for the same name the target CPU might pick instead (glibc-hwcaps variants). */
  alternatives: CacheEntry[];
}

/**
 * search_cache: binary search by key, back up to the first equal key, then take the best
 * glibc-hwcaps entry among the active subdirectories or else the first plain entry whose flags
 * the ABI accepts. Legacy hwcap entries (no bit 62, hwcap != 0) are skipped, as since glibc 2.37.
 */
export function lookupCache(cache: LdSoCache, name: string, acceptedFlags: number[], activeHwcaps: string[]): CacheHit | null {
  const entries = cache.entries;
  let left = 0;
  let right = entries.length - 1;
  let middle = -1;
  while (left <= right) {
    const m = (left + right) >> 1;
    const cmp = cacheLibCompare(name, present(entries[m], `cache entry ${m}`).key);
    if (cmp === 0) {
      middle = m;
      break;
    }
    if (cmp < 0) left = m + 1;
    else right = m - 1;
  }
  if (middle < 0) return null;
  while (middle > 0 && cacheLibCompare(name, present(entries[middle - 1], `cache entry ${middle - 1}`).key) === 0) middle--;
  let best: CacheEntry | null = null;
  let bestPriority = Number.POSITIVE_INFINITY;
  const candidates: CacheEntry[] = [];
  for (let i = middle; i < entries.length; i++) {
    const entry = present(entries[i], `cache entry ${i}`);
    if (cacheLibCompare(name, entry.key) !== 0) break;
    if (!acceptedFlags.includes(entry.flags)) continue;
    candidates.push(entry);
    if (entry.hwcap >> 62n === 1n) {
      const priority = entry.hwcapsName === null ? -1 : activeHwcaps.indexOf(entry.hwcapsName);
      if (priority >= 0 && priority < bestPriority) {
        best = entry;
        bestPriority = priority;
      }
      continue;
    }
    if (entry.hwcap !== 0n) continue;
    if (best === null) best = entry;
    break;
  }
  if (!best) return null;
  return { entry: best, alternatives: candidates.filter((c) => c !== best) };
}

export { HWCAP_EXTENSION };
