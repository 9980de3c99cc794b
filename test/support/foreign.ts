// Running arm64 programs on this x86_64 host without any of lib/jail or lib/trace: new user, mount
// and PID namespaces, binfmt_misc mounted there with Debian's aarch64 handler (qemu-user-static
// 7.2's /usr/lib/binfmt.d/qemu-aarch64.conf) pointing at the host's qemu with the F flag, then
// chroot. `inFullRoot` runs a command in the whole arm64 root (the reference: the real programs
// outside any jail); `withForeignJail` in a copy of a bundle plus Debian's arm64 busybox.

import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture } from "./fixtures.js";
import { pathInJail, runProcess, SYSTEM_PATH, type ProcessResult } from "./scratch-jail.js";

/** Debian's qemu-user-binfmt handler for aarch64 up to the interpreter. */
export const DEBIAN_AARCH64 =
  ":qemu-aarch64:M::\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:";

// $J the directory, $CMD the command, $REG the handler; $DEV=tmpfs mounts a tmpfs on $J/dev and
// $J/tmp first (the full root is a shared fixture: nothing is created in it).
const SETUP = [
  "set -e",
  'mount -t proc proc "$J/proc"',
  'mount -t binfmt_misc binfmt_misc "$J/proc/sys/fs/binfmt_misc"',
  'printf "%s" "$REG" > "$J/proc/sys/fs/binfmt_misc/register"',
  'if [ "$DEV" = tmpfs ]; then mount -t tmpfs tmpfs "$J/dev"; mount -t tmpfs -o mode=1777 tmpfs "$J/tmp"; fi',
  'for d in null zero urandom random; do : > "$J/dev/$d"; mount --bind "/dev/$d" "$J/dev/$d"; done',
  'exec chroot "$J" /bin/sh -c "$CMD"',
].join("; ");

function runIn(dir: string, command: string, dev: "tmpfs" | "", options: { stdin?: string | Buffer; timeoutMs?: number }): Promise<ProcessResult> {
  return runProcess("unshare", ["--user", "--map-root-user", "--mount", "--pid", "--fork", "--kill-child", "/bin/sh", "-c", SETUP], {
    env: { PATH: SYSTEM_PATH, J: dir, CMD: command, DEV: dev, REG: `${DEBIAN_AARCH64}${fixture("MAGICPAK_QEMU_AARCH64")}:F` },
    stdin: options.stdin,
    timeoutMs: options.timeoutMs ?? 120_000,
  });
}

/** `sh -c COMMAND` in the whole arm64 root (its own /bin/sh), PATH as in a container; throws unless it exits 0. */
export async function inFullRoot(command: string, options: { stdin?: string } = {}): Promise<string> {
  const root = fixture("MAGICPAK_ARM64_ROOT");
  const r = await runIn(root, `export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/; ${command}`, "tmpfs", options);
  if (r.status !== 0) throw new Error(`the reference run of ${command} in ${root} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export interface ForeignJail {
  dir: string;
  run(command: string, options?: { stdin?: string | Buffer; timeoutMs?: number }): Promise<ProcessResult>;
}

/** A copy of the arm64 bundle `out` with Debian's arm64 busybox in /bin (its applets installed), for `use`. */
export async function withForeignJail<T>(out: string, use: (jail: ForeignJail) => Promise<T>): Promise<T> {
  const qemu = fixture("MAGICPAK_QEMU_AARCH64");
  const busybox = fixture("MAGICPAK_BUSYBOX_ARM64");
  const dir = mkdtempSync(join(tmpdir(), "magicpak-e2e-foreign-jail-"));
  try {
    const copy = await runProcess("cp", ["-a", `${out}/.`, `${dir}/`]);
    if (copy.status !== 0) throw new Error(`cannot copy ${out} into the jail: ${copy.stderr}`);
    const bin = pathInJail(dir, "/bin");
    mkdirSync(bin, { recursive: true });
    if (existsSync(join(bin, "busybox"))) throw new Error(`the bundle already has /bin/busybox`);
    copyFileSync(busybox, join(bin, "busybox"));
    chmodSync(join(bin, "busybox"), 0o755);
    // Links its applets beside itself, with no overwrite: the bundle's own programs stay.
    const install = await runProcess(qemu, [join(bin, "busybox"), "--install", bin]);
    if (install.status !== 0 || !existsSync(join(bin, "sh"))) throw new Error(`busybox --install through qemu failed: ${install.stderr}`);
    for (const d of ["/proc", "/dev"]) mkdirSync(pathInJail(dir, d), { recursive: true });
    return await use({ dir, run: (command, options = {}) => runIn(dir, command, "", options) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What of the harness is in `out`: names with busybox, qemu or .magicpak, and files with the bytes of one of `hostFiles`. */
export function harnessPiecesIn(out: string, hostFiles: string[]): string[] {
  const digest = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");
  const sizes = new Map(hostFiles.map((f) => [lstatSync(f).size, digest(f)] as const));
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = lstatSync(path);
      if (/busybox|qemu|^\.magicpak/.test(name)) found.push(path);
      if (st.isDirectory()) walk(path);
      else if (st.isFile() && sizes.get(st.size) === digest(path)) found.push(`${path} (same bytes as ${hostFiles.find((f) => lstatSync(f).size === st.size)})`);
    }
  };
  walk(out);
  return found;
}
