// Capability sets for the processes magicpak runs in a root: what a container runtime grants by
// default, and this process's own sets (/proc/self/status).

import { readFileSync } from "node:fs";

/**
 * The capabilities every container engine grants by default: podman 5's list, which docker's and
 * podman 4's (also net_raw, mknod, audit_write) contain. The strictest default, so that a program
 * that passes here has what it needs in any engine's default container. Numbers: linux/capability.h.
 */
export const CONTAINER_CAPABILITIES: readonly (readonly [string, number])[] = [
  ["chown", 0],
  ["dac_override", 1],
  ["fowner", 3],
  ["fsetid", 4],
  ["kill", 5],
  ["setgid", 6],
  ["setuid", 7],
  ["setpcap", 8],
  ["net_bind_service", 10],
  ["sys_chroot", 18],
  ["setfcap", 31],
];
/** What the set-up needs beyond them, until the harness drops it. */
export const SETUP_CAPABILITIES = ["sys_admin", "net_admin"] as const;
export const CAP_SETPCAP = 8;
export const CAP_SYS_CHROOT = 18;

/** This process's bounding and effective sets (/proc/self/status), or null where /proc is absent. */
export function ownCapabilities(): { bounding: bigint; effective: bigint } | null {
  try {
    const status = readFileSync("/proc/self/status", "utf8");
    const field = (name: string) => BigInt(`0x${new RegExp(`^${name}:\\s*([0-9a-f]+)$`, "m").exec(status)?.[1] ?? "0"}`);
    return { bounding: field("CapBnd"), effective: field("CapEff") };
  } catch {
    return null;
  }
}

/** The default capabilities that `bounding` holds (all of them where it is unknown), minus `except`. */
export function keptCapabilities(bounding: bigint | undefined, except: number[] = []): string[] {
  return CONTAINER_CAPABILITIES.filter(([, n]) => (bounding === undefined || (bounding >> BigInt(n)) & 1n) && !except.includes(n)).map(([name]) => name);
}

/**
 * A host command prefix (util-linux setpriv twice) under which chroot(8) still has CAP_SYS_CHROOT,
 * as an inheritable capability only, while the bounding set is already the container defaults minus
 * it: the first exec inside the root that clears the inheritable set (busybox setpriv --inh-caps
 * -sys_chroot) leaves the program unable to chroot again. Null where this process cannot do that
 * (no CAP_SETPCAP, or no CAP_SYS_CHROOT to pass on).
 */
export function chrootCapabilityPrefix(setpriv: string): string[] | null {
  const own = ownCapabilities();
  if (own === null) return null;
  const has = (set: bigint, n: number) => ((set >> BigInt(n)) & 1n) === 1n;
  if (!has(own.effective, CAP_SETPCAP) || !has(own.bounding, CAP_SYS_CHROOT)) return null;
  const bounding = ["-all", ...keptCapabilities(own.bounding, [CAP_SYS_CHROOT]).map((c) => `+${c}`)].join(",");
  return [setpriv, "--inh-caps", "+sys_chroot", "--", setpriv, "--bounding-set", bounding, "--"];
}
