// Constants named as in the ELF specification (System V gABI, <elf.h>).

export const ELFMAG = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

// e_ident indexes
export const EI_CLASS = 4;
export const EI_DATA = 5;
export const EI_VERSION = 6;
export const EI_OSABI = 7;
export const EI_ABIVERSION = 8;
export const EI_NIDENT = 16;

export const ELFCLASS32 = 1;
export const ELFCLASS64 = 2;
export type ElfClass = typeof ELFCLASS32 | typeof ELFCLASS64;

export const ELFDATA2LSB = 1;
export const ELFDATA2MSB = 2;
export type ElfData = typeof ELFDATA2LSB | typeof ELFDATA2MSB;

export const EV_CURRENT = 1;

export const ELFOSABI_NONE = 0;
export const ELFOSABI_SYSV = 0;
export const ELFOSABI_GNU = 3;
export const ELFOSABI_LINUX = 3;
export const ELFOSABI_ARM_AEABI = 64;

// e_type
export const ET_NONE = 0;
export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;

// e_machine (the ones a Linux loader may meet)
export const EM_386 = 3;
export const EM_68K = 4;
export const EM_MIPS = 8;
export const EM_PARISC = 15;
export const EM_SPARC32PLUS = 18;
export const EM_PPC = 20;
export const EM_PPC64 = 21;
export const EM_S390 = 22;
export const EM_ARM = 40;
export const EM_SH = 42;
export const EM_SPARCV9 = 43;
export const EM_IA_64 = 50;
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
export const EM_RISCV = 243;
export const EM_LOONGARCH = 258;

// p_type
export const PT_NULL = 0;
export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_INTERP = 3;
export const PT_NOTE = 4;
export const PT_SHLIB = 5;
export const PT_PHDR = 6;
export const PT_TLS = 7;
export const PT_GNU_EH_FRAME = 0x6474e550;
export const PT_GNU_STACK = 0x6474e551;
export const PT_GNU_RELRO = 0x6474e552;
export const PT_GNU_PROPERTY = 0x6474e553;

// sh_type
export const SHT_NULL = 0;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_HASH = 5;
export const SHT_DYNAMIC = 6;
export const SHT_NOTE = 7;
export const SHT_NOBITS = 8;
export const SHT_DYNSYM = 11;
export const SHN_UNDEF = 0;
export const SHN_XINDEX = 0xffff;

// d_tag
export const DT_NULL = 0;
export const DT_NEEDED = 1;
export const DT_PLTRELSZ = 2;
export const DT_PLTGOT = 3;
export const DT_HASH = 4;
export const DT_STRTAB = 5;
export const DT_SYMTAB = 6;
export const DT_RELA = 7;
export const DT_RELASZ = 8;
export const DT_RELAENT = 9;
export const DT_STRSZ = 10;
export const DT_SYMENT = 11;
export const DT_INIT = 12;
export const DT_FINI = 13;
export const DT_SONAME = 14;
export const DT_RPATH = 15;
export const DT_SYMBOLIC = 16;
export const DT_FLAGS = 30;
export const DT_RUNPATH = 29;
export const DT_GNU_HASH = 0x6ffffef5;
export const DT_VERSYM = 0x6ffffff0;
export const DT_FLAGS_1 = 0x6ffffffb;
export const DT_VERDEF = 0x6ffffffc;
export const DT_VERNEED = 0x6ffffffe;
export const DT_AUXILIARY = 0x7ffffffd;
export const DT_FILTER = 0x7fffffff;
export const DT_DEPAUDIT = 0x6ffffefb;
export const DT_AUDIT = 0x6ffffefc;

// DT_FLAGS_1 bits
export const DF_1_NOW = 0x1;
export const DF_1_NODEFLIB = 0x800;
export const DF_1_PIE = 0x08000000;

// Symbol binding and type (st_info)
export const STB_LOCAL = 0;
export const STB_GLOBAL = 1;
export const STB_WEAK = 2;
export const STT_NOTYPE = 0;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_TLS = 6;
export const STT_GNU_IFUNC = 10;

// The FDO dlopen metadata note (https://systemd.io/ELF_DLOPEN_METADATA/).
export const NT_FDO_DLOPEN_METADATA = 0x407c0c0a;
export const FDO_NOTE_OWNER = "FDO";

// Sizes of the fixed-layout records, by class (their field offsets are in layout.ts).
export const EHDR_SIZE = { [ELFCLASS32]: 52, [ELFCLASS64]: 64 } as const;
export const PHDR_SIZE = { [ELFCLASS32]: 32, [ELFCLASS64]: 56 } as const;
export const SHDR_SIZE = { [ELFCLASS32]: 40, [ELFCLASS64]: 64 } as const;
export const DYN_SIZE = { [ELFCLASS32]: 8, [ELFCLASS64]: 16 } as const;
export const SYM_SIZE = { [ELFCLASS32]: 16, [ELFCLASS64]: 24 } as const;

const MACHINE_NAMES: Record<number, string> = {
  [EM_386]: "i386",
  [EM_68K]: "m68k",
  [EM_MIPS]: "mips",
  [EM_PARISC]: "parisc",
  [EM_SPARC32PLUS]: "sparc32plus",
  [EM_PPC]: "ppc",
  [EM_PPC64]: "ppc64",
  [EM_S390]: "s390",
  [EM_ARM]: "arm",
  [EM_SH]: "sh",
  [EM_SPARCV9]: "sparcv9",
  [EM_IA_64]: "ia64",
  [EM_X86_64]: "x86_64",
  [EM_AARCH64]: "aarch64",
  [EM_RISCV]: "riscv",
  [EM_LOONGARCH]: "loongarch",
};

export function machineName(machine: number): string {
  return MACHINE_NAMES[machine] ?? `machine-${machine}`;
}
