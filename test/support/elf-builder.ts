// Writes small, valid ELF shared objects of any class and byte order, with no section headers,
// so the reader can be checked against binutils' readelf on layouts the host compiler cannot make.

export interface BuildSpec {
  class: 32 | 64;
  little: boolean;
  machine: number;
  interp?: string;
  needed?: string[];
  soname?: string;
  rpath?: string;
  runpath?: string;
  flags1?: number;
  audit?: string;
}

const DT = { NULL: 0, NEEDED: 1, STRTAB: 5, STRSZ: 10, SONAME: 14, RPATH: 15, RUNPATH: 29, FLAGS_1: 0x6ffffffb, AUDIT: 0x6ffffefc };

export function buildElf(spec: BuildSpec): Buffer {
  const is64 = spec.class === 64;
  const ehsize = is64 ? 64 : 52;
  const phentsize = is64 ? 56 : 32;
  const dynent = is64 ? 16 : 8;
  // String table.
  const strings: string[] = [""];
  const offsets = new Map<string, number>();
  let strsz = 1;
  const str = (s: string) => {
    if (!offsets.has(s)) {
      offsets.set(s, strsz);
      strings.push(s);
      strsz += Buffer.byteLength(s) + 1;
    }
    return offsets.get(s)!;
  };
  const dyn: [number, number][] = [];
  for (const n of spec.needed ?? []) dyn.push([DT.NEEDED, str(n)]);
  if (spec.soname !== undefined) dyn.push([DT.SONAME, str(spec.soname)]);
  if (spec.rpath !== undefined) dyn.push([DT.RPATH, str(spec.rpath)]);
  if (spec.runpath !== undefined) dyn.push([DT.RUNPATH, str(spec.runpath)]);
  if (spec.audit !== undefined) dyn.push([DT.AUDIT, str(spec.audit)]);
  if (spec.flags1 !== undefined) dyn.push([DT.FLAGS_1, spec.flags1]);
  const strtab = Buffer.concat(strings.map((s) => Buffer.from(s + "\0")));
  const phnum = spec.interp !== undefined ? 3 : 2;
  const interpOffset = ehsize + phnum * phentsize;
  const interpBytes = spec.interp !== undefined ? Buffer.from(spec.interp + "\0") : Buffer.alloc(0);
  const strtabOffset = align(interpOffset + interpBytes.length, 8);
  const dynOffset = align(strtabOffset + strtab.length, 8);
  dyn.push([DT.STRTAB, 0x10000 + strtabOffset], [DT.STRSZ, strtab.length], [DT.NULL, 0]);
  const size = dynOffset + dyn.length * dynent;
  const b = Buffer.alloc(size);
  const u16 = (o: number, v: number) => (spec.little ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
  const u32 = (o: number, v: number) => (spec.little ? b.writeUInt32LE(v >>> 0, o) : b.writeUInt32BE(v >>> 0, o));
  const word = (o: number, v: number) => (is64 ? (spec.little ? b.writeBigUInt64LE(BigInt(v), o) : b.writeBigUInt64BE(BigInt(v), o)) : u32(o, v));
  b.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, spec.little ? 1 : 2, 1, 0], 0);
  u16(16, 3); // ET_DYN
  u16(18, spec.machine);
  u32(20, 1);
  const a = is64 ? 8 : 4;
  word(24, 0); // entry
  word(24 + a, ehsize); // phoff
  word(24 + 2 * a, 0); // shoff
  const o = 24 + 3 * a;
  u32(o, 0);
  u16(o + 4, ehsize);
  u16(o + 6, phentsize);
  u16(o + 8, phnum);
  u16(o + 10, is64 ? 64 : 40);
  u16(o + 12, 0);
  u16(o + 14, 0);
  const phdr = (i: number, type: number, offset: number, filesz: number, flags: number) => {
    const p = ehsize + i * phentsize;
    const vaddr = 0x10000 + offset;
    if (is64) {
      u32(p, type);
      u32(p + 4, flags);
      word(p + 8, offset);
      word(p + 16, vaddr);
      word(p + 24, vaddr);
      word(p + 32, filesz);
      word(p + 40, filesz);
      word(p + 48, type === 1 ? 0x1000 : 8);
    } else {
      u32(p, type);
      u32(p + 4, offset);
      u32(p + 8, vaddr);
      u32(p + 12, vaddr);
      u32(p + 16, filesz);
      u32(p + 20, filesz);
      u32(p + 24, flags);
      u32(p + 28, type === 1 ? 0x1000 : 4);
    }
  };
  let i = 0;
  if (spec.interp !== undefined) phdr(i++, 3, interpOffset, interpBytes.length, 4);
  // One PT_LOAD mapping the whole file at 0x10000, so DT_STRTAB maps back to its offset.
  phdr(i++, 1, 0, size, 6);
  phdr(i++, 2, dynOffset, dyn.length * dynent, 6);
  interpBytes.copy(b, interpOffset);
  strtab.copy(b, strtabOffset);
  dyn.forEach(([tag, value], k) => {
    word(dynOffset + k * dynent, tag);
    word(dynOffset + k * dynent + a, value);
  });
  return b;
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** A deterministic PRNG (mulberry32) for reproducible mutation tests. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
