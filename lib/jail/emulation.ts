// What the --test jail needs to run a bundle built for another architecture than this machine's:
// the static qemu-user for it and a binfmt_misc handler that makes the kernel start every ELF file
// of that architecture through it (registered in the jail's own user namespace, Linux >= 6.7), and
// a static busybox that can run there. Nothing is installed on the host.

import { EM_386, EM_X86_64, ELFDATA2LSB } from "../elf/constants.js";
import { ElfError } from "../elf/errors.js";
import { readElf } from "../elf/file.js";
import { findOnPath } from "../fs/which.js";
import { abiByName, abiOf, hostAbi as knownHostAbi, type Abi } from "../loader/machines.js";
import { JailError } from "./errors.js";

/** This machine's ABI: the one of the running node executable. */
function hostAbi(): Abi {
  const abi = knownHostAbi();
  if (!abi) throw new JailError(process.execPath, "cannot tell this machine's architecture: node's own ELF header is unreadable or names no machine magicpak knows");
  return abi;
}

/**
 * The bytes a binfmt_misc handler compares with the first 20 bytes of a file, and its mask, as
 * qemu-binfmt-conf.sh (and Debian's qemu-user-binfmt) write them: the ELF magic, class, data and
 * version, any EI_OSABI, zero padding, e_type ET_EXEC or ET_DYN (mask 0xfe), and e_machine. The x86
 * family's masks also accept 0 in EI_DATA and EI_VERSION, as qemu's do.
 *
 * `osabi` matches only files whose EI_OSABI is that value, so that the emulator of this machine's
 * own architecture can be registered without matching itself: Debian's qemu-*-static are marked
 * GNU/Linux (3), most programs SYSV (0).
 */
function binfmtMagic(abi: Abi, osabi?: number): { magic: number[]; mask: number[] } {
  const le = abi.data === ELFDATA2LSB;
  const lo = abi.machine & 0xff;
  const hi = abi.machine >> 8;
  const x86 = abi.machine === EM_X86_64 || abi.machine === EM_386;
  const magic = [0x7f, 0x45, 0x4c, 0x46, abi.class, abi.data, 1, osabi ?? 0, 0, 0, 0, 0, 0, 0, 0, 0, ...(le ? [2, 0, lo, hi] : [0, 2, hi, lo])];
  const mask = [
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    x86 ? 0xfe : 0xff,
    x86 ? 0xfe : 0xff,
    osabi === undefined ? 0 : 0xff,
    ...new Array<number>(8).fill(0xff),
    ...(le ? [0xfe, 0xff] : [0xff, 0xfe]),
    0xff,
    0xff,
  ];
  return { magic, mask };
}

/** The line written to binfmt_misc's `register`: magic (M) at offset 0, flags P, O and F (open now). */
export function binfmtRegistration(name: string, abi: Abi, interpreter: string, osabi?: number): string {
  if (/[:\n]/.test(interpreter)) throw new JailError(interpreter, "the emulator's path in the jail cannot contain ':' or a newline (binfmt_misc's separator): set TMPDIR to another directory");
  const hex = (bytes: number[]) => bytes.map((b) => `\\x${b.toString(16).padStart(2, "0")}`).join("");
  const { magic, mask } = binfmtMagic(abi, osabi);
  return `:${name}:M::${hex(magic)}:${hex(mask)}:${interpreter}:POF`;
}

/** A static ELF executable's ABI; a JailError naming `what` for anything else. */
function staticExecutableAbi(path: string, what: string, staticAdvice: string): Abi {
  let elf;
  try {
    elf = readElf(path);
  } catch (error) {
    if (error instanceof ElfError) throw new JailError(path, `${what} is not an ELF executable (${error.detail})`);
    throw error;
  }
  const abi = abiOf(elf.header);
  if (!abi) throw new JailError(path, `${what} is for a machine magicpak does not know (e_machine ${elf.header.machine})`);
  if (elf.interp !== null) throw new JailError(path, `${what} must be statically linked to run in the jail (${staticAdvice})`);
  return abi;
}

/** How the jail runs a bundle: natively, or through an emulator registered with binfmt_misc. */
export interface JailPlatform {
  /** The bundle's ABI. */
  target: Abi;
  host: Abi;
  busybox: { path: string; abi: Abi };
  /** Absent when the bundle runs natively. */
  emulation?: {
    /** The static qemu-user on the host, copied into the jail. */
    emulator: string;
    /** Its file name in the jail's /.magicpak. */
    name: string;
    qemuTarget: string;
    /** EI_OSABI the handler requires (only when emulating the host's own architecture). */
    osabi?: number;
  };
}

interface PlatformOptions {
  busybox?: string;
  architectures?: (string | null)[];
  emulator?: string;
  emulateHostArchitecture?: boolean;
}

/**
 * Chooses the busybox and the emulator for a bundle whose executables have the ABIs given (names of
 * machines.ts; default this machine's). The busybox must be static and for the bundle's or this
 * machine's architecture; by default `busybox` on PATH for a bundle of this machine, else
 * `busybox-<arch>` (Debian's name of the architecture, as busybox-arm64). The emulator, needed for
 * a foreign bundle, is `qemu-<qemu target>-static` on PATH unless given, static and for this machine.
 */
export function choosePlatform(options: PlatformOptions): JailPlatform {
  const hostAbiNow = hostAbi();
  const names = [...new Set((options.architectures ?? []).filter((a): a is string => a !== null))];
  if (names.length > 1) throw new JailError("--test", `the inputs are for several architectures (${names.join(", ")}): one jail runs one architecture`);
  const target = names[0] === undefined ? hostAbiNow : abiByName(names[0]);
  if (!target) throw new JailError("--test", `unknown architecture ${names[0]}`);
  const emulate = target.name !== hostAbiNow.name || options.emulateHostArchitecture === true;

  // busybox: given, or found on PATH by the name for the target.
  const wanted = options.busybox ?? (target.name === hostAbiNow.name ? "busybox" : `busybox-${target.name}`);
  const busyboxPath = findOnPath(wanted);
  if (!busyboxPath) {
    throw new JailError(
      wanted,
      options.busybox !== undefined || target.name === hostAbiNow.name
        ? "busybox not found (give a static busybox with --busybox PATH)"
        : `busybox not found: a jail for ${target.name} programs needs a static busybox for ${target.name} (Debian's busybox-static of that architecture): give it with --busybox PATH or put it on PATH as ${wanted}`,
    );
  }
  const busyboxAbi = staticExecutableAbi(busyboxPath, "busybox", "install busybox-static");
  if (busyboxAbi.name !== target.name && busyboxAbi.name !== hostAbiNow.name) {
    const runs = target.name === hostAbiNow.name ? target.name : `${target.name} or ${hostAbiNow.name}`;
    throw new JailError(busyboxPath, `busybox is for ${busyboxAbi.name}: a jail for ${target.name} programs on this ${hostAbiNow.name} machine needs a static busybox for ${runs}`);
  }
  const platform: JailPlatform = { target, host: hostAbiNow, busybox: { path: busyboxPath, abi: busyboxAbi } };
  if (!emulate) return platform;

  const qemu = target.qemuTarget;
  if (!qemu && options.emulator === undefined) throw new JailError("--test", `no qemu-user target is known for ${target.name}: give an emulator with --emulator PATH`);
  const emulatorName = options.emulator ?? `qemu-${qemu}-static`;
  const emulator = findOnPath(emulatorName);
  if (!emulator) {
    throw new JailError(
      emulatorName,
      `emulator not found: ${target.name} programs are tested on this ${hostAbiNow.name} machine through a static qemu-user for ${target.name} (Debian's qemu-user-static): give it with --emulator PATH${options.emulator === undefined ? ` or put ${emulatorName} on PATH` : ""}`,
    );
  }
  const emulatorAbi = staticExecutableAbi(emulator, "the emulator", "use qemu-user-static, whose emulators are static");
  if (emulatorAbi.name !== hostAbiNow.name) throw new JailError(emulator, `the emulator is for ${emulatorAbi.name}: it must be a program for this ${hostAbiNow.name} machine`);
  let osabi: number | undefined;
  if (target.name === hostAbiNow.name) {
    // Emulating this machine's own architecture: the handler must not match the emulator itself.
    osabi = 0;
    if (readElf(emulator).header.osabi === osabi)
      throw new JailError(emulator, "the emulator is marked EI_OSABI 0 (SYSV) like the programs it would run: it cannot emulate this machine's own architecture");
  }
  platform.emulation = { emulator, name: `qemu-${qemu ?? target.name}-static`, qemuTarget: qemu ?? target.name, ...(osabi === undefined ? {} : { osabi }) };
  return platform;
}
