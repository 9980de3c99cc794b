import {
  EM_386,
  EM_AARCH64,
  EM_ARM,
  EM_LOONGARCH,
  EM_MIPS,
  EM_PPC,
  EM_PPC64,
  EM_RISCV,
  EM_S390,
  EM_X86_64,
  ELFCLASS32,
  ELFCLASS64,
  ELFDATA2LSB,
  ELFDATA2MSB,
  type ElfClass,
  type ElfData,
} from "../elf/constants.js";
import { readHeader, type FileHeader } from "../elf/file.js";

/**
 * What a loader needs to know about one Linux ABI. Values from glibc's
 * sysdeps/unix/sysv/linux/<arch>/shlib-versions, sysdeps/<arch>/dl-cache.h (cache flags),
 * <arch>/dl-hwcaps-subdirs.c and musl's arch/<arch>/reloc.h (LDSO_ARCH); the OCI platform from
 * the image spec's GOARCH list; the qemu target from qemu's linux-user/ directories.
 * A new architecture is added here and nowhere else.
 */
export interface Abi {
  /** Debian architecture name, used in messages and fixtures. */
  name: string;
  machine: number;
  class: ElfClass;
  data: ElfData;
  /** Canonical glibc PT_INTERP paths, preferred first. */
  glibcInterpreters: string[];
  /** Debian multiarch triplet. */
  triplet: string;
  /** ld.so.cache entry flags this ABI accepts (_dl_cache_check_flags). */
  cacheFlags: number[];
  /** glibc-hwcaps subdirectory names, best first (all the ones glibc knows for the ABI). */
  hwcaps: string[];
  /** Legacy (glibc <= 2.36) AT_PLATFORM values and hwcap names probed as subdirectories. */
  legacyPlatforms: string[];
  legacyHwcaps: string[];
  /** musl's LDSO_ARCH. */
  muslArch: string;
  /** Upstream slibdir when ld.so carries no SYSTEM_DIRS we can read. */
  defaultLibDir: string;
  /** The OCI image platform (GOARCH spelling and variant); null when an image cannot name it. */
  oci: OciPlatform | null;
  /** qemu-user's target name (qemu-<target>-static); null when qemu has no user-mode emulator for it. */
  qemuTarget: string | null;
}

/** An image config's architecture and variant, as the OCI image spec and Go spell them. */
export interface OciPlatform {
  architecture: string;
  variant?: string;
}

const FLAG_ELF_LIBC6 = 0x0003;

const ABIS: Abi[] = [
  {
    name: "amd64",
    machine: EM_X86_64,
    class: ELFCLASS64,
    data: ELFDATA2LSB,
    glibcInterpreters: ["/lib64/ld-linux-x86-64.so.2"],
    triplet: "x86_64-linux-gnu",
    cacheFlags: [0x0300 | FLAG_ELF_LIBC6],
    hwcaps: ["x86-64-v4", "x86-64-v3", "x86-64-v2"],
    legacyPlatforms: ["haswell", "xeon_phi", "x86_64"],
    legacyHwcaps: ["x86_64", "avx512_1"],
    muslArch: "x86_64",
    defaultLibDir: "/lib64",
    oci: { architecture: "amd64" },
    qemuTarget: "x86_64",
  },
  {
    name: "x32",
    machine: EM_X86_64,
    class: ELFCLASS32,
    data: ELFDATA2LSB,
    glibcInterpreters: ["/libx32/ld-linux-x32.so.2"],
    triplet: "x86_64-linux-gnux32",
    cacheFlags: [0x0800 | FLAG_ELF_LIBC6],
    hwcaps: ["x86-64-v4", "x86-64-v3", "x86-64-v2"],
    legacyPlatforms: ["haswell", "xeon_phi", "x86_64"],
    legacyHwcaps: ["x86_64"],
    muslArch: "x32",
    defaultLibDir: "/libx32",
    oci: null,
    qemuTarget: null,
  },
  {
    name: "i386",
    machine: EM_386,
    class: ELFCLASS32,
    data: ELFDATA2LSB,
    glibcInterpreters: ["/lib/ld-linux.so.2"],
    triplet: "i386-linux-gnu",
    cacheFlags: [0x0001, FLAG_ELF_LIBC6],
    hwcaps: [],
    legacyPlatforms: ["i686", "i586", "i486", "i386"],
    legacyHwcaps: ["sse2"],
    muslArch: "i386",
    defaultLibDir: "/lib",
    oci: { architecture: "386" },
    qemuTarget: "i386",
  },
  {
    name: "arm64",
    machine: EM_AARCH64,
    class: ELFCLASS64,
    data: ELFDATA2LSB,
    glibcInterpreters: ["/lib/ld-linux-aarch64.so.1"],
    triplet: "aarch64-linux-gnu",
    cacheFlags: [0x0a00 | FLAG_ELF_LIBC6],
    hwcaps: [],
    legacyPlatforms: ["aarch64"],
    legacyHwcaps: ["atomics"],
    muslArch: "aarch64",
    defaultLibDir: "/lib64",
    oci: { architecture: "arm64", variant: "v8" },
    qemuTarget: "aarch64",
  },
  {
    name: "arm64be",
    machine: EM_AARCH64,
    class: ELFCLASS64,
    data: ELFDATA2MSB,
    glibcInterpreters: ["/lib/ld-linux-aarch64_be.so.1"],
    triplet: "aarch64_be-linux-gnu",
    cacheFlags: [0x0a00 | FLAG_ELF_LIBC6],
    hwcaps: [],
    legacyPlatforms: ["aarch64_be"],
    legacyHwcaps: [],
    muslArch: "aarch64_be",
    defaultLibDir: "/lib64",
    oci: { architecture: "arm64be" },
    qemuTarget: "aarch64_be",
  },
  {
    name: "armhf",
    machine: EM_ARM,
    class: ELFCLASS32,
    data: ELFDATA2LSB,
    glibcInterpreters: ["/lib/ld-linux-armhf.so.3", "/lib/ld-linux.so.3"],
    triplet: "arm-linux-gnueabihf",
    cacheFlags: [0x0900 | FLAG_ELF_LIBC6, 0x0b00 | FLAG_ELF_LIBC6, FLAG_ELF_LIBC6],
    hwcaps: [],
    legacyPlatforms: ["v7l", "v8l", "v6l", "v5l"],
    legacyHwcaps: ["vfp", "neon"],
    muslArch: "armhf",
    defaultLibDir: "/lib",
    oci: { architecture: "arm", variant: "v7" },
    qemuTarget: "arm",
  },
  {
    name: "ppc64el",
    machine: EM_PPC64,
    class: ELFCLASS64,
    data: ELFDATA2LSB,
    glibcInterpreters: ["/lib64/ld64.so.2"],
    triplet: "powerpc64le-linux-gnu",
    cacheFlags: [0x0500 | FLAG_ELF_LIBC6],
    hwcaps: ["power10", "power9"],
    legacyPlatforms: ["power10", "power9", "power8"],
    legacyHwcaps: [],
    muslArch: "powerpc64le",
    defaultLibDir: "/lib64",
    oci: { architecture: "ppc64le" },
    qemuTarget: "ppc64le",
  },
  {
    name: "ppc64",
    machine: EM_PPC64,
    class: ELFCLASS64,
    data: ELFDATA2MSB,
    glibcInterpreters: ["/lib64/ld64.so.1"],
    triplet: "powerpc64-linux-gnu",
    cacheFlags: [0x0500 | FLAG_ELF_LIBC6],
    hwcaps: ["power10", "power9"],
    legacyPlatforms: ["power10", "power9", "power8"],
    legacyHwcaps: [],
    muslArch: "powerpc64",
    defaultLibDir: "/lib64",
    oci: { architecture: "ppc64" },
    qemuTarget: "ppc64",
  },
  {
    name: "powerpc",
    machine: EM_PPC,
    class: ELFCLASS32,
    data: ELFDATA2MSB,
    glibcInterpreters: ["/lib/ld.so.1"],
    triplet: "powerpc-linux-gnu",
    cacheFlags: [0x0001, FLAG_ELF_LIBC6],
    hwcaps: [],
    legacyPlatforms: [],
    legacyHwcaps: [],
    muslArch: "powerpc",
    defaultLibDir: "/lib",
    oci: { architecture: "ppc" },
    qemuTarget: "ppc",
  },
  {
    name: "s390x",
    machine: EM_S390,
    class: ELFCLASS64,
    data: ELFDATA2MSB,
    glibcInterpreters: ["/lib/ld64.so.1"],
    triplet: "s390x-linux-gnu",
    cacheFlags: [0x0400 | FLAG_ELF_LIBC6],
    hwcaps: ["z17", "z16", "z15", "z14", "z13"],
    legacyPlatforms: ["z900", "z990", "z9-109", "z10", "z196", "zEC12", "z13"],
    legacyHwcaps: [],
    muslArch: "s390x",
    defaultLibDir: "/lib64",
    oci: { architecture: "s390x" },
    qemuTarget: "s390x",
  },
  {
    name: "riscv64",
    machine: EM_RISCV,
    class: ELFCLASS64,
    data: ELFDATA2LSB,
    glibcInterpreters: ["/lib/ld-linux-riscv64-lp64d.so.1", "/lib/ld-linux-riscv64-lp64.so.1"],
    triplet: "riscv64-linux-gnu",
    cacheFlags: [0x1000 | FLAG_ELF_LIBC6, 0x0f00 | FLAG_ELF_LIBC6],
    hwcaps: [],
    legacyPlatforms: [],
    legacyHwcaps: [],
    muslArch: "riscv64",
    defaultLibDir: "/lib64/lp64d",
    oci: { architecture: "riscv64" },
    qemuTarget: "riscv64",
  },
  {
    name: "loong64",
    machine: EM_LOONGARCH,
    class: ELFCLASS64,
    data: ELFDATA2LSB,
    glibcInterpreters: ["/lib64/ld-linux-loongarch-lp64d.so.1"],
    triplet: "loongarch64-linux-gnu",
    cacheFlags: [0x1200 | FLAG_ELF_LIBC6, 0x1100 | FLAG_ELF_LIBC6],
    hwcaps: [],
    legacyPlatforms: [],
    legacyHwcaps: [],
    muslArch: "loongarch64",
    defaultLibDir: "/lib64",
    oci: { architecture: "loong64" },
    qemuTarget: "loongarch64",
  },
  {
    name: "mips64el",
    machine: EM_MIPS,
    class: ELFCLASS64,
    data: ELFDATA2LSB,
    glibcInterpreters: ["/lib64/ld.so.1"],
    triplet: "mips64el-linux-gnuabi64",
    cacheFlags: [0x0700 | FLAG_ELF_LIBC6, 0x0e00 | FLAG_ELF_LIBC6],
    hwcaps: [],
    legacyPlatforms: [],
    legacyHwcaps: [],
    muslArch: "mips64el",
    defaultLibDir: "/lib64",
    oci: { architecture: "mips64le" },
    qemuTarget: "mips64el",
  },
];

/** The ABI of an ELF header, or null for a machine we know nothing about. */
export function abiOf(header: Pick<FileHeader, "machine" | "class" | "data">): Abi | null {
  return ABIS.find((a) => a.machine === header.machine && a.class === header.class && a.data === header.data) ?? null;
}

/** elf_machine_matches_host: the per-arch test glibc applies after the class check. */
export function machineMatches(abi: Abi, header: Pick<FileHeader, "machine" | "class" | "data">): boolean {
  return header.machine === abi.machine && header.class === abi.class;
}

export function abiByName(name: string): Abi | null {
  return ABIS.find((a) => a.name === name) ?? null;
}

let host: Abi | null | undefined;

/**
 * This machine's ABI: the one of the running node executable; null for one magicpak does not know.
 * Read through /proc/self/exe first: the running file opens there even when a directory of
 * process.execPath is not searchable by this user (node under /root, run as nobody).
 */
export function hostAbi(): Abi | null {
  if (host === undefined) {
    host = null;
    for (const exe of ["/proc/self/exe", process.execPath]) {
      try {
        host = abiOf(readHeader(exe));
        break;
      } catch {
        // the next one, else null
      }
    }
  }
  return host;
}
