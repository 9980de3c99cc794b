// --dynamic-test (issue #12): real Debian programs bundled with only
//   PROG OUT --dynamic-test --test --test-command CMD --test-stdout EXP
// Expected outputs come from the same command run outside any jail; each bundle must then pass
// again in the independent jail of test/support/scratch-jail.ts (0 false passes). Also the
// lifetime rules: a daemon left running is killed with a warning naming it, a never-ending
// workload is killed at --dynamic-timeout, and no process of either is left.

import t, { type Test } from "tap";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture } from "../support/fixtures.js";
import { magicpakCli, pathInJail, runProcess, withFreshJail } from "../support/scratch-jail.js";

const work = mkdtempSync(join(tmpdir(), "magicpak-e2e-dyntest-"));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const busybox = fixture("MAGICPAK_BUSYBOX");

/** The command outside any jail (in the root by chroot), as the reference. */
async function reference(command: string, root?: string): Promise<string> {
  const r = root
    ? await runProcess("/usr/sbin/chroot", [root, "/bin/sh", "-c", command], { env: { PATH: "/usr/bin:/bin", HOME: "/" } })
    : await runProcess("/bin/sh", ["-c", command], { env: { PATH: "/usr/bin:/bin", HOME: "/" } });
  if (r.status !== 0) throw new Error(`reference run of ${command} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

async function bundleAndRun(t: Test, name: string, program: string, command: string, options: { root?: string; files?: string[] } = {}): Promise<string> {
  if (!existsSync(join(options.root ?? "/", program))) throw new Error(`${program} is missing ${options.root ? `from ${options.root} (npm run fixtures)` : "on this host (apt-get install it)"}`);
  const expected = await reference(command, options.root);
  const out = join(work, name);
  const r = await magicpakCli([
    ...(options.root ? ["--root", options.root] : []),
    program,
    out,
    "--dynamic-test",
    "--test",
    "--busybox",
    busybox,
    "--test-command",
    command,
    "--test-stdout",
    expected.trim(),
  ]);
  t.equal(r.status, 0, `bundled with --dynamic-test and tested (${r.ms} ms)`, { stderr: r.stderr });
  for (const file of options.files ?? []) t.ok(existsSync(pathInJail(out, file)), `${file} came in because it was used`);
  if (!existsSync(out)) return out;
  await withFreshJail(out, async (jail) => {
    const run = await jail.run(command);
    t.equal(run.status, 0, "runs in the independent jail", { stderr: run.stderr });
    t.equal(run.stdout, expected, "the output of the reference run");
  });
  return out;
}

t.test("python3: a script importing json, email and sqlite3", async (t) => {
  const script = join(work, "app.py");
  writeFileSync(
    script,
    'import json, email.message, sqlite3\nm = email.message.EmailMessage(); m["Subject"] = "hi"\nc = sqlite3.connect(":memory:"); c.execute("create table t(x)"); c.execute("insert into t values (41)")\nprint(json.dumps({"s": m["Subject"], "x": c.execute("select x+1 from t").fetchone()[0]}))\n',
  );
  await bundleAndRun(t, "python3", "/usr/bin/python3", `python3 ${script}`, { files: [script, "/usr/lib/python3.11/json/__init__.py"] });
});

t.test("perl: POSIX and Data::Dumper", async (t) => {
  await bundleAndRun(t, "perl", "/usr/bin/perl", `perl -MPOSIX -MData::Dumper -e '$Data::Dumper::Indent=0; print Dumper([floor(2.5)]), " ", strftime("%Y", gmtime(0)), "\\n"'`);
});

t.test("tar -cJ / -xJ executes xz; the archive it wrote is not bundled, /tmp is 1777", async (t) => {
  const out = await bundleAndRun(
    t,
    "tar",
    "/usr/bin/tar",
    "cd /tmp && rm -rf tx && mkdir -p tx/a && echo hello > tx/a/f && tar -cJf tx.tar.xz -C tx a && rm -rf tx/a && tar -xJf tx.tar.xz -C tx && cat tx/a/f && rm -rf tx tx.tar.xz",
    { files: ["/usr/bin/xz"] },
  );
  t.notOk(existsSync(join(out, "tmp/tx.tar.xz")), "the archive the workload wrote");
  t.equal(lstatSync(join(out, "tmp")).mode & 0o7777, 0o1777, "/tmp, written in, with the root's mode");
});

t.test("the test command's own tools (cut, head, tr, sh) are the harness's: none lands in OUTPUT", async (t) => {
  const out = await bundleAndRun(t, "jq-pipe", "/usr/bin/jq", `printf '{"a":[3,1,2]}' | jq -c '.a|sort' | cut -c1-4 | head -n 1 && sh -c 'echo done' | tr a-z A-Z`);
  for (const tool of ["/usr/bin/cut", "/usr/bin/head", "/usr/bin/tr", "/usr/bin/dash", "/bin/sh"])
    t.notOk(existsSync(pathInJail(out, tool)), `${tool}, run by the test command only, is not in OUTPUT`);
});

t.test("git: init and commit in a temporary directory", async (t) => {
  await bundleAndRun(
    t,
    "git",
    "/usr/bin/git",
    "d=$(mktemp -d) && cd $d && git init -q && echo x > f && git add f && git -c user.name=a -c user.email=a@b commit -qm one && git log --format=%s && cd / && rm -rf $d",
  );
});

t.test("files the test command writes and the program only reads: their directory comes, they do not", async (t) => {
  // The harness's shell writes the inputs (not the workload), diff and make only read them; the
  // image still needs the directory they are made in. Failed in the jail before: "can't create
  // /tmp/x: nonexistent directory", "mktemp: (null): No such file or directory".
  for (const [name, program, command] of [
    ["diff-reads", "/usr/bin/diff", "printf 'a\\n' > /tmp/mp-x; printf 'b\\n' > /tmp/mp-y; /usr/bin/diff /tmp/mp-x /tmp/mp-y | head -1; rm /tmp/mp-x /tmp/mp-y"],
    ["make-reads", "/usr/bin/make", "d=$(mktemp -d) && cd $d && printf 'all:\\n\\t@echo made\\n' > Makefile && make -s && cd / && rm -rf $d"],
  ] as const) {
    const out = await bundleAndRun(t, name, program, command);
    t.equal(lstatSync(join(out, "tmp")).mode & 0o7777, 0o1777, `${name}: /tmp, with the root's mode`);
    t.same(readdirSync(join(out, "tmp")), [], `${name}: none of the files the command made`);
  }
});

t.test("date with TZ=Asia/Tokyo reads its zone file, no per-program case", async (t) => {
  await bundleAndRun(t, "date", "/usr/bin/date", "TZ=Asia/Tokyo date -d @0", { files: ["/usr/share/zoneinfo/Asia/Tokyo"] });
});

t.test("iconv -f latin1 loads its gconv module", async (t) => {
  await bundleAndRun(t, "iconv", "/usr/bin/iconv", "printf 'caf\\351\\n' | iconv -f latin1 -t utf-8");
});

t.test("in the amd64 root (chroot): python3", async (t) => {
  const root = fixture("MAGICPAK_AMD64_ROOT");
  await bundleAndRun(t, "root-python3", "/usr/bin/python3", `python3 -c 'import json; print(json.dumps([1]))'`, { root });
});

async function leftover(pattern: string): Promise<string> {
  return (await runProcess("pgrep", ["-af", pattern])).stdout.trim();
}

t.test("a daemon left running is killed when the command ends, with a warning naming it", async (t) => {
  const script = join(work, "daemon.sh");
  // The short wait lets the double-forked child exec sleep before the command ends (else it is
  // killed, and named, as a copy of the shell).
  writeFileSync(script, "#!/bin/sh\n(sleep 1234 &)\nsleep 0.3\necho started\n");
  chmodSync(script, 0o755);
  const r = await magicpakCli([script, join(work, "out-daemon"), "--dynamic-test", "--test", "--busybox", busybox, "--test-command", script, "--test-stdout", "started"]);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stderr, /killed what was still running when the command ended: \d+ sleep/);
  t.equal(await leftover("sleep 1234"), "", "no process left");
});

t.test("a never-ending workload is killed at --dynamic-timeout", async (t) => {
  const r = await magicpakCli(["/usr/bin/sleep", join(work, "out-hang"), "--dynamic-test", "--test", "--busybox", busybox, "--test-command", "sleep 4321", "--dynamic-timeout", "2"]);
  t.equal(r.status, 1);
  t.match(r.stderr, /did not end within 2 s/);
  t.ok(r.ms < 20_000, `ended after ${r.ms} ms`);
  t.equal(await leftover("sleep 4321"), "", "no process left");
  t.notOk(existsSync(join(work, "out-hang")));
});

t.test("--dynamic-command: another workload, run the same way, without --test", async (t) => {
  const out = join(work, "out-cmd");
  const r = await magicpakCli(["/usr/bin/date", out, "--dynamic-command", "TZ=Europe/Paris date -d @0", "--dynamic-env", "LC_ALL=C"]);
  t.equal(r.status, 0, r.stderr);
  t.ok(existsSync(join(out, "usr/share/zoneinfo/Europe/Paris")));
});

t.test("in a root, the workload cannot leave it by the double chroot", async (t) => {
  const root = join(work, "escape-root");
  for (const dir of ["tmp", "proc", "dev", "work"]) mkdirSync(join(root, dir), { recursive: true });
  const source = join(work, "escape.c");
  writeFileSync(
    source,
    '#include <stdio.h>\n#include <fcntl.h>\n#include <unistd.h>\n#include <sys/stat.h>\nint main(int c,char**v){mkdir("x",0755);if(chroot("x"))perror("chroot x");for(int i=0;i<64;i++)if(chdir(".."))perror("chdir");if(chroot("."))perror("chroot .");int fd=open(v[1],O_CREAT|O_WRONLY,0644);if(fd<0){perror(v[1]);return 1;}write(fd,"escaped\\n",8);close(fd);return 0;}\n',
  );
  const built = await runProcess("gcc", ["-static", "-o", join(root, "escape"), source]);
  t.equal(built.status, 0, built.stderr);
  const target = join(work, "escaped-dynamic");
  const r = await magicpakCli(["--root", root, "/escape", join(work, "out-escape"), "--dynamic-command", `cd /work && /escape ${target}`]);
  t.match(r.stderr, /chroot x: Operation not permitted/, "chroot is refused to the workload");
  t.notOk(existsSync(target), "no file was written on the host");
  // 1.4.0's --dynamic in a root runs the same way.
  const d = await magicpakCli(["--root", root, "/escape", join(work, "out-escape-dynamic"), "--dynamic", "--dynamic-arg", target, "--busybox", busybox]);
  t.match(d.stderr, /chroot x: Operation not permitted/, "chroot is refused to the --dynamic run");
  t.notOk(existsSync(target), "no file was written on the host");
});

t.test("in a root, what the workload writes goes to an overlay: the root is left as it was", async (t) => {
  const { makeMiniRoot, compile } = await import("../support/mini-root.js");
  const r = makeMiniRoot();
  t.teardown(() => rmSync(r.dir, { recursive: true, force: true }));
  for (const d of ["tmp", "proc", "dev", "var/cache"]) mkdirSync(join(r.dir, d), { recursive: true });
  writeFileSync(join(r.dir, "etc/w.conf"), "conf\n");
  compile(
    `#include <stdio.h>
#include <sys/stat.h>
int main(void) {
  char line[64] = "";
  FILE *c = fopen("/etc/w.conf", "r+"); if (!c || !fgets(line, sizeof line, c)) return 2;
  fputs("appended\\n", c); fclose(c);
  if (mkdir("/var/cache/w", 0755) != 0) return 3;
  FILE *n = fopen("/var/cache/w/new.txt", "w"); if (!n) return 4; fputs("x", n); fclose(n);
  printf("read %s", line); return 0;
}`,
    join(r.dir, "usr/bin/w"),
  );
  const before = (await runProcess("bash", ["-c", `cd ${r.dir} && find . -printf '%p %M %s %T@\\n' | sort && cat etc/w.conf`])).stdout;
  const out = join(work, "out-overlay");
  const run = await magicpakCli(["--root", r.dir, "/usr/bin/w", out, "--dynamic-test", "--test", "--busybox", busybox, "--test-command", "w", "--test-stdout", "read conf"]);
  t.equal(run.status, 0, "bundled and tested", { stderr: run.stderr });
  t.notMatch(run.stderr, /overlay/, "no warning: the overlay was mounted");
  const after = (await runProcess("bash", ["-c", `cd ${r.dir} && find . -printf '%p %M %s %T@\\n' | sort && cat etc/w.conf`])).stdout;
  t.equal(after, before, "every name, mode, size and mtime of the root, and /etc/w.conf's content, as before the run");
  t.notOk(existsSync(join(out, "var/cache/w")), "the directory the workload made is not bundled");
  t.ok(lstatSync(join(out, "var/cache")).isDirectory(), "the directory it wrote in is");
});
