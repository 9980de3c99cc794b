// How a traced workload runs: the harness busybox (a static one that runs on this machine, else
// one of the root's architecture run through qemu) and, for a root of another architecture, the
// binfmt_misc handler that makes the kernel start the root's programs through the static qemu-user,
// registered in the workload's own user namespace exactly as the --test jail does
// (lib/jail/emulation.ts). The tracer then sees qemu's host system calls, which carry the guest's
// paths; qemu's own ones (its /proc reads) are the kernel's and never bundled.

import { spawnSync } from "node:child_process";
import { ElfError } from "../elf/errors.js";
import { readElf } from "../elf/file.js";
import { findOnPath } from "../fs/which.js";
import { binfmtRegistration, choosePlatform } from "../jail/emulation.js";
import { JailError } from "../jail/errors.js";
import { abiOf, hostAbi } from "../loader/machines.js";
import { TracerUnavailable } from "../trace/types.js";
import { present } from "../present.js";

export interface WorkloadPlatform {
  /** The harness shell's static busybox (a host path). */
  busybox: string;
  /** Its applets (busybox --list), one a line. */
  applets: string;
  /** For a foreign root: the emulator's host path and its binfmt_misc registration line (F flag). */
  emulation?: { emulator: string; registration: string };
}

export interface WorkloadPlatformOptions {
  /** The root programs' architecture (machines.ts names; null: unknown, taken as this machine's). */
  architecture: string | null;
  /** --busybox: a static busybox of this machine or of the root's architecture. */
  busybox?: string;
  /** --emulator: the static qemu-user for the root's architecture. */
  emulator?: string;
  /** Run the root's programs through the emulator even when they are this machine's (a test of this path). */
  emulateHostArchitecture?: boolean;
}

/** The ABI name of a static executable, or null when `path` is not one magicpak knows. */
function executableAbi(path: string): string | null {
  try {
    return abiOf(readElf(path).header)?.name ?? null;
  } catch (error) {
    if (error instanceof ElfError) return null;
    throw error;
  }
}

/**
 * Chooses the harness busybox and, when the root is foreign (or emulation is asked for), the
 * emulator. A busybox that runs here is preferred (the given one, else `busybox` on PATH), so the
 * harness costs no emulation; a given busybox of the root's architecture runs through qemu.
 * Failures are TracerUnavailable naming what is missing.
 */
export function chooseWorkloadPlatform(options: WorkloadPlatformOptions): WorkloadPlatform {
  const host = hostAbi()?.name ?? null;
  const target = options.architecture ?? host;
  const emulate = (target !== null && target !== host) || options.emulateHostArchitecture === true;
  const given = options.busybox === undefined ? null : findOnPath(options.busybox);
  if (options.busybox !== undefined && !given) throw new TracerUnavailable(`${options.busybox}: busybox not found (the harness shell of the traced workload)`);
  const busybox = given && (!emulate || executableAbi(given) === host) ? given : (findOnPath("busybox") ?? given);
  if (!busybox) throw new TracerUnavailable("the traced workload needs a static busybox for the harness shell (--busybox, or busybox on PATH)");
  if (!emulate) return { busybox, applets: listApplets(busybox, null) };
  let platform;
  try {
    platform = choosePlatform({
      architectures: [target],
      busybox,
      ...(options.emulator !== undefined ? { emulator: options.emulator } : {}),
      emulateHostArchitecture: options.emulateHostArchitecture === true,
    });
  } catch (error) {
    if (error instanceof JailError) throw new TracerUnavailable(`${error.path}: ${error.problem}`);
    throw error;
  }
  const emulation = present(platform.emulation, "the emulation of a foreign target");
  let registration: string;
  try {
    // F: the kernel opens the emulator now, by its host path, and uses that file inside the chroot.
    registration = binfmtRegistration(`magicpak-${emulation.qemuTarget}`, platform.target, emulation.emulator, emulation.osabi);
  } catch (error) {
    if (error instanceof JailError) throw new TracerUnavailable(`${error.path}: ${error.problem}`);
    throw error;
  }
  const native = platform.busybox.abi.name === platform.host.name;
  return { busybox, applets: listApplets(busybox, native ? null : emulation.emulator), emulation: { emulator: emulation.emulator, registration } };
}

/** `busybox --list`, through the emulator when busybox is not this machine's. */
function listApplets(busybox: string, emulator: string | null): string {
  const list = emulator ? spawnSync(emulator, [busybox, "--list"], { encoding: "utf8" }) : spawnSync(busybox, ["--list"], { encoding: "utf8" });
  if (list.status !== 0) throw new TracerUnavailable(`${busybox}: --list failed: is it a static busybox? ${String(list.stderr ?? list.error?.message ?? "").trim()}`);
  return list.stdout;
}
