// Harness and workload (lib/trace/workload.ts): only processes that executed a file other than
// the harness busybox, and their children, are the workload; strace's own lines as input.

import t from "tap";
import { parseStraceLine, type Line } from "../../lib/trace/strace.js";
import { workloadAccesses } from "../../lib/trace/workload.js";

function trace(files: Record<number, string[]>): Map<number, Line[]> {
  const byPid = new Map<number, Line[]>();
  for (const [pid, lines] of Object.entries(files)) byPid.set(Number(pid), lines.map((l) => parseStraceLine(Number(pid), l)!).filter(Boolean));
  return byPid;
}

const BB = "/opt/busybox";

t.test("the harness shell and its applets are not the workload; what it exec'd and its children are", async (t) => {
  const byPid = trace({
    // The harness: busybox sh, reading its own things, forking an applet and a program.
    2: [
      `execve("${BB}", ["busybox", "sh", "-c", "..."], 0x1 /* 3 vars */) = 0`,
      `openat(AT_FDCWD</>, "/etc/harness-only", O_RDONLY) = 3</etc/harness-only>`,
      `clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|SIGCHLD) = 3`,
      `clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|SIGCHLD) = 4`,
    ],
    // An applet through /proc/self/exe: still the harness.
    3: [`execve("/proc/self/exe", ["cut"], 0x1 /* 3 vars */) = 0`, `openat(AT_FDCWD</>, "/etc/applet-only", O_RDONLY) = 3</etc/applet-only>`],
    // The workload program, a child of its own, and a write.
    4: [
      `execve("/usr/bin/prog", ["prog"], 0x1 /* 3 vars */) = 0`,
      `openat(AT_FDCWD</>, "/usr/lib/x86_64-linux-gnu/libc.so.6", O_RDONLY|O_CLOEXEC) = 3</usr/lib/x86_64-linux-gnu/libc.so.6>`,
      `chdir("/srv") = 0`,
      `openat(AT_FDCWD</srv>, "data.txt", O_RDONLY) = 3</srv/data.txt>`,
      `openat(AT_FDCWD</srv>, "out.log", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 4</srv/out.log>`,
      `creat("made", 0666) = 5</srv/made>`,
      `mkdir("/srv/new", 0777) = 0`,
      `clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|SIGCHLD) = 5`,
    ],
    // The child inherits the image and cwd, then runs the harness again: no longer the workload.
    5: [
      `newfstatat(AT_FDCWD</srv>, "child.txt", {st_mode=S_IFREG|0644, st_size=1, ...}, 0) = 0`,
      `execve("${BB}", ["busybox", "true"], 0x1 /* 3 vars */) = 0`,
      `openat(AT_FDCWD</>, "/etc/after", O_RDONLY) = 3</etc/after>`,
    ],
  });
  const accesses = workloadAccesses(byPid, { root: null, harness: new Set([BB]) });
  t.same(
    accesses.map((a) => `${a.pid} ${a.exe} ${a.syscall} ${a.path}${a.writes ? " w" : ""}`),
    [
      "4 /usr/bin/prog execve /usr/bin/prog",
      "4 /usr/bin/prog openat /usr/lib/x86_64-linux-gnu/libc.so.6",
      "4 /usr/bin/prog openat /srv/data.txt",
      "4 /usr/bin/prog openat /srv/out.log w",
      "4 /usr/bin/prog creat /srv/made w",
      "4 /usr/bin/prog mkdir /srv/new w",
      "5 /usr/bin/prog newfstatat /srv/child.txt",
    ],
  );
});

t.test("in a root, nothing before chroot counts and decoded paths lose the root's prefix", async (t) => {
  const byPid = trace({
    1: [
      `execve("/usr/sbin/chroot", ["chroot", "/r", "/h/busybox"], 0x1 /* 3 vars */) = 0`,
      `openat(AT_FDCWD</host>, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3</etc/ld.so.cache>`,
      `chroot("/r") = 0`,
      `execve("/h/busybox", ["busybox", "sh"], 0x1 /* 3 vars */) = 0`,
      `clone(child_stack=NULL, flags=SIGCHLD) = 2`,
    ],
    2: [`execve("/usr/bin/python3", ["python3"], 0x1 /* 3 vars */) = 0`, `openat(AT_FDCWD</r/tmp>, "x.py", O_RDONLY) = 3</r/tmp/x.py>`],
  });
  const accesses = workloadAccesses(byPid, { root: "/r", harness: new Set(["/h/busybox"]) });
  t.same(
    accesses.map((a) => `${a.pid} ${a.syscall} ${a.path}`),
    ["2 execve /usr/bin/python3", "2 openat /tmp/x.py"],
  );
});

t.test("an exec of /proc/self/fd/N (fexecve without execveat, as under qemu-user 7.2) is the descriptor's file, also in a child", async (t) => {
  const byPid = trace({
    0: [`chroot("/r") = 0`, `clone(child_stack=NULL, flags=SIGCHLD) = 1`],
    1: [`execve("/usr/bin/prog", ["prog"], 0x1 /* 3 vars */) = 0`, `openat(AT_FDCWD</r>, "/t/app/fexeced", O_RDONLY|O_CLOEXEC) = 8</r/t/app/fexeced>`, `clone(child_stack=NULL, flags=SIGCHLD) = 2`],
    2: [
      `execve("/proc/self/fd/8", ["fexeced"], 0x1 /* 3 vars */) = 0`,
      `openat(AT_FDCWD</r>, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3</r/etc/ld.so.cache>`,
      `execve("/proc/self/fd/9", ["x"], 0x1 /* 3 vars */) = 0`,
    ],
  });
  const inRoot = workloadAccesses(byPid, { root: "/r", harness: new Set(["/h/busybox"]) });
  t.same(
    inRoot.map((a) => `${a.pid} ${a.exe} ${a.syscall} ${a.path}`),
    [
      "1 /usr/bin/prog execve /usr/bin/prog",
      "1 /usr/bin/prog openat /t/app/fexeced",
      "2 /t/app/fexeced execve /t/app/fexeced",
      "2 /t/app/fexeced openat /etc/ld.so.cache",
      "2 /proc/self/fd/9 execve /proc/self/fd/9",
    ],
    "the inherited descriptor names the file; an unknown one stays a /proc path (never bundled)",
  );
});
