// Field offsets of the fixed-layout records, named as in <elf.h>'s Elf32_* and Elf64_* structs
// (Go's debug/elf reads the same structs with binary.Read). The structs' sizes are EHDR_SIZE
// and the others in constants.ts.
// Address-sized fields (Elf32_Addr/Off/Word vs Elf64_Addr/Off/Xword) are read with Codec.addr.

import { ELFCLASS32, ELFCLASS64, type ElfClass } from "./constants.js";

export interface EhdrLayout {
  e_type: number;
  e_machine: number;
  e_version: number;
  e_entry: number;
  e_phoff: number;
  e_shoff: number;
  e_flags: number;
  e_ehsize: number;
  e_phentsize: number;
  e_phnum: number;
  e_shentsize: number;
  e_shnum: number;
  e_shstrndx: number;
}

export interface PhdrLayout {
  p_type: number;
  p_flags: number;
  p_offset: number;
  p_vaddr: number;
  p_paddr: number;
  p_filesz: number;
  p_memsz: number;
  p_align: number;
}

export interface ShdrLayout {
  sh_name: number;
  sh_type: number;
  sh_flags: number;
  sh_addr: number;
  sh_offset: number;
  sh_size: number;
  sh_link: number;
  sh_info: number;
  sh_addralign: number;
  sh_entsize: number;
}

export interface DynLayout {
  d_tag: number;
  d_val: number;
}

export interface SymLayout {
  st_name: number;
  st_info: number;
  st_shndx: number;
}

export interface ClassLayout {
  ehdr: EhdrLayout;
  phdr: PhdrLayout;
  shdr: ShdrLayout;
  dyn: DynLayout;
  sym: SymLayout;
}

export const Elf32_Ehdr: EhdrLayout = {
  e_type: 16,
  e_machine: 18,
  e_version: 20,
  e_entry: 24,
  e_phoff: 28,
  e_shoff: 32,
  e_flags: 36,
  e_ehsize: 40,
  e_phentsize: 42,
  e_phnum: 44,
  e_shentsize: 46,
  e_shnum: 48,
  e_shstrndx: 50,
};

export const Elf64_Ehdr: EhdrLayout = {
  e_type: 16,
  e_machine: 18,
  e_version: 20,
  e_entry: 24,
  e_phoff: 32,
  e_shoff: 40,
  e_flags: 48,
  e_ehsize: 52,
  e_phentsize: 54,
  e_phnum: 56,
  e_shentsize: 58,
  e_shnum: 60,
  e_shstrndx: 62,
};

// p_flags moves: after p_memsz in ELF32, after p_type in ELF64 (for alignment).
export const Elf32_Phdr: PhdrLayout = { p_type: 0, p_offset: 4, p_vaddr: 8, p_paddr: 12, p_filesz: 16, p_memsz: 20, p_flags: 24, p_align: 28 };
export const Elf64_Phdr: PhdrLayout = { p_type: 0, p_flags: 4, p_offset: 8, p_vaddr: 16, p_paddr: 24, p_filesz: 32, p_memsz: 40, p_align: 48 };

export const Elf32_Shdr: ShdrLayout = {
  sh_name: 0,
  sh_type: 4,
  sh_flags: 8,
  sh_addr: 12,
  sh_offset: 16,
  sh_size: 20,
  sh_link: 24,
  sh_info: 28,
  sh_addralign: 32,
  sh_entsize: 36,
};

export const Elf64_Shdr: ShdrLayout = {
  sh_name: 0,
  sh_type: 4,
  sh_flags: 8,
  sh_addr: 16,
  sh_offset: 24,
  sh_size: 32,
  sh_link: 40,
  sh_info: 44,
  sh_addralign: 48,
  sh_entsize: 56,
};

export const Elf32_Dyn: DynLayout = { d_tag: 0, d_val: 4 };
export const Elf64_Dyn: DynLayout = { d_tag: 0, d_val: 8 };

// st_info and st_shndx follow st_value/st_size in ELF32 and precede them in ELF64.
export const Elf32_Sym: SymLayout = { st_name: 0, st_info: 12, st_shndx: 14 };
export const Elf64_Sym: SymLayout = { st_name: 0, st_info: 4, st_shndx: 6 };

/** Elf64_Nhdr and Elf32_Nhdr are the same: three Elf_Word fields, then name and desc. */
export const Elf_Nhdr = { n_namesz: 0, n_descsz: 4, n_type: 8, size: 12 } as const;

/** The GNU hash table's header (four Elf32_Word fields in both classes). */
export const Gnu_Hash = { nbuckets: 0, symoffset: 4, bloom_size: 8, bloom_shift: 12, size: 16 } as const;

export const LAYOUT: Record<ElfClass, ClassLayout> = {
  [ELFCLASS32]: { ehdr: Elf32_Ehdr, phdr: Elf32_Phdr, shdr: Elf32_Shdr, dyn: Elf32_Dyn, sym: Elf32_Sym },
  [ELFCLASS64]: { ehdr: Elf64_Ehdr, phdr: Elf64_Phdr, shdr: Elf64_Shdr, dyn: Elf64_Dyn, sym: Elf64_Sym },
};
