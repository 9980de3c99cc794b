// Runtime extras: files a program needs that no DT_NEEDED names, found from what its closure
// imports and declares (NSS modules and their configuration, libgcc_s, .note.dlopen sonames,
// gconv), plus the container basics users ask for (CA certificates, passwd, /tmp, tzdata,
// ld.so.cache). Each one enters the graph with the reason it is there.

import type { DlopenNote } from "../elf/file.js";
import type { RootFs } from "../fs/root.js";
import type { FileGraph, Reason } from "../graph/file-graph.js";
import { abiByName } from "../loader/machines.js";
import type { GlibcConfig } from "../loader/config.js";
import type { Loader } from "../loader/load.js";
import type { LoadGraph } from "../loader/model.js";
import { addFromRoot, openedPath } from "./collect.js";
import { readElfOrNull } from "./elf.js";
import { BundleError } from "./errors.js";
import type { Logger } from "./log.js";

export interface ExtrasOptions {
  /** NSS modules and configuration when the closure uses NSS lookups (default on; --no-nss). */
  nss?: boolean;
  /** A minimal /etc/passwd and /etc/group (root, nobody); also added when passwd lookups are used and the root's would be missing. */
  passwd?: boolean;
  /** /tmp with mode 1777. */
  tmp?: boolean;
  caCertificates?: boolean;
  tzdata?: boolean;
  /** gconv modules and their configuration when iconv is used (opt-in: they are large). */
  gconv?: boolean;
  /** Which .note.dlopen entries to bring: "required" (default), "recommended" (and required), "all", or "none". */
  dlopenNotes?: DlopenNotes;
}

export const DLOPEN_NOTES = ["none", "required", "recommended", "all"] as const;
export type DlopenNotes = (typeof DLOPEN_NOTES)[number];

/** Lookups that go through NSS (glibc nss/, resolv/, inet/). */
const NSS_HOSTS = ["getaddrinfo", "gethostbyname", "gethostbyname2", "gethostbyname_r", "gethostbyname2_r", "gethostbyaddr", "gethostbyaddr_r", "getnameinfo", "getaddrinfo_a", "gethostent"];
const NSS_PASSWD = [
  "getpwnam",
  "getpwnam_r",
  "getpwuid",
  "getpwuid_r",
  "getpwent",
  "getgrnam",
  "getgrnam_r",
  "getgrgid",
  "getgrgid_r",
  "getgrent",
  "getgrouplist",
  "initgroups",
  "getspnam",
  "getspnam_r",
];
const NSS_OTHER: Record<string, string> = {
  getservbyname: "/etc/services",
  getservbyport: "/etc/services",
  getservbyname_r: "/etc/services",
  getprotobyname: "/etc/protocols",
  getprotobynumber: "/etc/protocols",
};
/** glibc dlopens libgcc_s.so.1 for these (nptl/pthread_cancel.c, misc/unwind-link.c). */
const NEEDS_LIBGCC_S = ["pthread_cancel", "pthread_exit", "backtrace", "_Unwind_Backtrace"];
const ICONV = ["iconv_open"];

const MINIMAL_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const MINIMAL_GROUP = "root:x:0:\nnogroup:x:65534:\n";

/** What each extra looks at: the loads' glibc programs, what they import, and how to add files. */
interface ExtrasContext {
  graph: FileGraph;
  root: RootFs;
  loader: Loader;
  options: ExtrasOptions;
  log: Logger;
  /** The glibc loads; NSS, libgcc_s, .note.dlopen, gconv and the cache are glibc's. */
  glibcLoads: LoadGraph[];
  imports: Set<string>;
  /** Set by the NSS extra when passwd lookups are used and the bundle has no /etc/passwd. */
  passwdLookups: boolean;
}

/** Adds every extra the loads call for. `loads` are the load graphs of the inputs and included ELF files. */
export function addRuntimeExtras(graph: FileGraph, root: RootFs, loader: Loader, loads: LoadGraph[], options: ExtrasOptions, log: Logger): void {
  const glibcLoads = loads.filter((l) => l.flavour === "glibc");
  const x: ExtrasContext = { graph, root, loader, options, log, glibcLoads, imports: importsOf(root, glibcLoads), passwdLookups: false };
  for (const extra of EXTRAS) extra(x);
}

/** The extras, in the order they are added. */
const EXTRAS: ((x: ExtrasContext) => void)[] = [nss, passwd, libgccS, dlopenNotes, gconv, caCertificates, tzdata, tmp, ldSoCache];

function uses(x: ExtrasContext, names: string[]): boolean {
  return names.some((n) => x.imports.has(n));
}

function extra(what: string): Reason {
  return { kind: "extra", what };
}

/** A library as libc's dlopen finds it for `load`, with its own closure; false when absent. */
function addLibrary(x: ExtrasContext, load: LoadGraph, name: string, why: string): boolean {
  const path = x.loader.dlopenFromLibc(load, name);
  if (!path) return false;
  x.log("Info", `${why}: ${name} => ${path}`);
  addFromRoot(x.graph, x.root, path, extra(why));
  const module = x.loader.load(path, { mode: "library" });
  for (const object of module.objects.slice(1)) addFromRoot(x.graph, x.root, openedPath(object), extra(`${why} (needed by ${name})`));
  return true;
}

/** A file or (recursively) a directory of the root, when present. */
function addIfPresent(x: ExtrasContext, path: string, why: string, recursive = false): boolean {
  if (!x.root.tryResolve(path, "/", false)) return false;
  x.log("Info", `${why}: ${path}`);
  addFromRoot(x.graph, x.root, path, extra(why), { recursive });
  return true;
}

/** NSS: /etc/nsswitch.conf, the databases' files and the libnss_* modules of the lookups used. */
function nss(x: ExtrasContext): void {
  const load = x.glibcLoads[0];
  if (x.options.nss === false || !load || !uses(x, [...NSS_HOSTS, ...NSS_PASSWD, ...Object.keys(NSS_OTHER)])) return;
  addIfPresent(x, "/etc/nsswitch.conf", "NSS configuration");
  if (uses(x, NSS_HOSTS)) addIfPresent(x, "/etc/hosts", "NSS hosts database (files)");
  for (const [symbol, file] of Object.entries(NSS_OTHER)) if (x.imports.has(symbol)) addIfPresent(x, file, `${symbol} reads it`);
  const databases = new Set<string>();
  if (uses(x, NSS_HOSTS)) databases.add("hosts");
  if (uses(x, NSS_PASSWD)) for (const db of ["passwd", "group", "shadow", "initgroups"]) databases.add(db);
  if (uses(x, ["getservbyname", "getservbyport", "getservbyname_r"])) databases.add("services");
  if (uses(x, ["getprotobyname", "getprotobynumber"])) databases.add("protocols");
  for (const service of nssServices(x.root, databases)) {
    if (builtIntoLibc(x.loader, load, service)) continue;
    const name = `libnss_${service}.so.2`;
    // Info, not Warn: glibc skips a service whose module is absent, and stock Debian names "db"
    // (libnss-db, rarely installed) for protocols and services.
    if (!addLibrary(x, load, name, `NSS service "${service}" of /etc/nsswitch.conf`)) x.log("Info", `NSS service "${service}" is named in /etc/nsswitch.conf but ${name} is not in the root`);
  }
  if (uses(x, NSS_PASSWD) && !x.graph.has("/etc/passwd")) x.passwdLookups = true;
}

/** --passwd, or passwd lookups without an /etc/passwd: a minimal /etc/passwd and /etc/group. */
function passwd(x: ExtrasContext): void {
  if (!x.options.passwd && !x.passwdLookups) return;
  for (const [path, content] of [
    ["/etc/passwd", MINIMAL_PASSWD],
    ["/etc/group", MINIMAL_GROUP],
  ] as const) {
    if (x.graph.has(path)) continue;
    x.log("Info", `minimal ${path} (root, nobody)`);
    x.graph.add({ kind: "generated", path: x.graph.resolveInGraph(path), content: Buffer.from(content), mode: 0o644, reasons: [extra("passwd: users root and nobody")] });
  }
}

/** libgcc_s.so.1, which glibc dlopens for pthread_cancel, pthread_exit and unwinding. */
function libgccS(x: ExtrasContext): void {
  const load = x.glibcLoads[0];
  if (!load || !uses(x, NEEDS_LIBGCC_S)) return;
  if (!load.objects.some((o) => o.soname === "libgcc_s.so.1") && !addLibrary(x, load, "libgcc_s.so.1", "dlopened by glibc for pthread_cancel/pthread_exit/unwinding")) {
    x.log("Warn", "the program uses pthread_cancel, pthread_exit or unwinding but libgcc_s.so.1 is not in the root");
  }
}

/** The sonames of the closure's .note.dlopen entries of the priorities asked for. */
function dlopenNotes(x: ExtrasContext): void {
  const notes = x.options.dlopenNotes ?? "required";
  if (notes === "none") return;
  const accepted = notes === "all" ? ["required", "recommended", "suggested"] : notes === "recommended" ? ["required", "recommended"] : ["required"];
  for (const load of x.glibcLoads) {
    for (const object of load.objects) {
      for (const note of dlopenNotesOf(x.root, object.realPath)) {
        if (!accepted.includes(note.priority)) continue;
        // Any one of the listed sonames satisfies the feature: the first one present is taken.
        if (!note.soname.some((name) => addLibrary(x, load, name, `.note.dlopen of ${object.realPath} (${note.feature ?? "feature"}, ${note.priority})`))) {
          x.log(note.priority === "required" ? "Warn" : "Debug", `${object.realPath} may dlopen ${note.soname.join(" or ")}, which is not in the root`);
        }
      }
    }
  }
}

/** --gconv: the gconv modules and configuration, when iconv is used. */
function gconv(x: ExtrasContext): void {
  const load = x.glibcLoads[0];
  if (!x.options.gconv || !load || !uses(x, ICONV)) return;
  const abi = load.abi ? abiByName(load.abi) : null;
  const dir = abi ? `/usr/lib/${abi.triplet}/gconv` : null;
  if (!dir || !addIfPresent(x, dir, "gconv modules for iconv", true)) x.log("Warn", "iconv is used but no gconv directory was found");
}

/** --ca-certificates: the root's CA bundle and /etc/ssl/certs. */
function caCertificates(x: ExtrasContext): void {
  if (!x.options.caCertificates) return;
  const found = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"].filter((p) => addIfPresent(x, p, "CA certificates"));
  addIfPresent(x, "/etc/ssl/certs", "CA certificates", true);
  if (found.length === 0) throw new BundleError("/etc/ssl/certs/ca-certificates.crt", "--ca-certificates: no CA bundle in the root (install ca-certificates there)");
}

/** --tzdata: /usr/share/zoneinfo and /etc/localtime. */
function tzdata(x: ExtrasContext): void {
  if (!x.options.tzdata) return;
  if (!addIfPresent(x, "/usr/share/zoneinfo", "time zone data", true)) throw new BundleError("/usr/share/zoneinfo", "--tzdata: no time zone data in the root (install tzdata there)");
  addIfPresent(x, "/etc/localtime", "time zone data");
}

/** --tmp: a world-writable, sticky /tmp. */
function tmp(x: ExtrasContext): void {
  if (x.options.tmp) x.graph.add({ kind: "directory", path: x.graph.resolveInGraph("/tmp"), mode: 0o1777, reasons: [extra("a world-writable /tmp")] });
}

/** A library that only the cache knows how to find needs the cache in the image too. */
function ldSoCache(x: ExtrasContext): void {
  for (const load of x.glibcLoads) {
    const config = glibcConfigOf(x.loader, load);
    const cacheOnly = load.objects.filter((o) => o.foundBy === "ld.so.cache" && !config?.systemDirs.some((d) => o.path.startsWith(d) && !o.path.slice(d.length).includes("/")));
    if (cacheOnly.length > 0 && !x.graph.has("/etc/ld.so.cache")) {
      addIfPresent(x, "/etc/ld.so.cache", `ld.so.cache: ${cacheOnly.map((o) => o.path).join(", ")} are found only through it`);
    }
  }
}

/** Undefined dynamic symbols of every object of the loads but libc's own. */
function importsOf(root: RootFs, loads: LoadGraph[]): Set<string> {
  const names = new Set<string>();
  const seen = new Set<string>();
  for (const load of loads) {
    for (const object of load.objects) {
      if (seen.has(object.realPath) || object.soname?.startsWith("libc.so") || object.foundBy === "interpreter") continue;
      seen.add(object.realPath);
      for (const name of readElfOrNull(root, object.realPath, { imports: true })?.imports ?? []) names.add(name);
    }
  }
  return names;
}

function dlopenNotesOf(root: RootFs, realPath: string): DlopenNote[] {
  return readElfOrNull(root, realPath, { dlopenNotes: true })?.dlopenNotes ?? [];
}

/** Service names of the given databases in /etc/nsswitch.conf ("hosts: files mdns4_minimal [NOTFOUND=return] dns"). */
function nssServices(root: RootFs, databases: ReadonlySet<string>): string[] {
  const text = root.readFile("/etc/nsswitch.conf")?.toString("utf8") ?? "";
  const services = new Set<string>();
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    const colon = line.indexOf(":");
    if (colon < 0 || !databases.has(line.slice(0, colon).trim())) continue;
    for (const word of line
      .slice(colon + 1)
      .replace(/\[[^\]]*\]/g, " ")
      .split(/\s+/))
      if (/^[a-z0-9_]+$/.test(word)) services.add(word);
  }
  return [...services].sort();
}

/** glibc 2.34 and later build the files and dns services into libc (nss/nss_module.c). */
function builtIntoLibc(loader: Loader, load: LoadGraph, service: string): boolean {
  if (service !== "files" && service !== "dns") return false;
  const version = glibcConfigOf(loader, load)?.version ?? null;
  return version !== null && (version[0] > 2 || version[1] >= 34);
}

/** The configuration of the glibc loader `load` ran with; null when it has no ABI or interpreter. */
function glibcConfigOf(loader: Loader, load: LoadGraph): GlibcConfig | null {
  const abi = load.abi ? abiByName(load.abi) : null;
  if (!abi || !load.interpreter) return null;
  const config = loader.config("glibc", abi, load.interpreter);
  return config.flavour === "glibc" ? config : null;
}
