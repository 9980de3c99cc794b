// The public API of magicpak: `import { ... } from "magicpak"`.

export * from "./elf/constants.js";
export { ElfError, type ElfDefect } from "./elf/errors.js";
export { readElf, readHeader, parseDlopenMetadata, hasNodeflib } from "./elf/file.js";
export type { ElfFile, FileHeader, Prog, Section, DynTag, Dynamic, DlopenNote, ReadOptions } from "./elf/file.js";
export { RootFs, RootPathError, type ResolvedPath, type SymlinkHop } from "./fs/root.js";
export { Loader, InputError, type TargetEnvironment, type LoadOptions } from "./loader/load.js";
export type { LoadGraph, LoadedObject, MissingObject, Attempt, FoundBy, Rejection, ChainEntry, Edge } from "./loader/model.js";
export { parseLdSoCache, lookupCache, cacheLibCompare, CacheFormatError, type LdSoCache, type CacheEntry } from "./loader/ld-so-cache.js";
export { glibcConfig, muslConfig, detectHostCpu, flavourOfInterpreter } from "./loader/config.js";
export type { GlibcConfig, MuslConfig, LoaderConfig, HostCpu, Flavour } from "./loader/config.js";
export { abiOf, abiByName, type Abi } from "./loader/machines.js";
export { substituteDst, containsDst, type DstValues } from "./loader/dst.js";
export { formatTrace, isComplete, type TraceOutput } from "./report/trace.js";
export { formatTree } from "./report/tree.js";
export { VERSION } from "./version.js";
export { FileGraph, GraphConflictError, type GraphNode, type FileNode, type SymlinkNode, type DirectoryNode, type GeneratedNode, type Reason } from "./graph/file-graph.js";
export { bundle, BundleError, type BundleOptions, type BundleResult, type LogLevel, type Logger } from "./bundle/bundle.js";
export { addFromRoot, imageLinkTarget } from "./bundle/collect.js";
export { emitBundle, writeTree } from "./bundle/emit.js";
export { expandGlob, isExcluded } from "./bundle/glob.js";
export { testInJail, TestFailure, type JailTest, type JailOptions } from "./jail/jail.js";
export { PathError } from "./errors.js";
export { compressFile, runUpx, warmUpUpx, CompressError, type CompressOptions, type CompressResult, type CompressFailure, type UpxOptions, type UpxRun } from "./compress/upx.js";
export { nativeAddon, nativeStatus, nativeAddonPath, nativePlatform, traceNative, resolveNative } from "./native/addon.js";
export type { NativeAddon, NativeResolution, NativeTraceRequest, NativeTraceOutput, NativeTraceResult, ResolveNativeOptions } from "./native/addon.js";
export { nativeLoadGraph, crossCheck, type NativeLoadGraph, type NativeLoadedObject, type NativeMissingObject, type CrossCheckEntry, type CrossCheckSkip } from "./loader/native-resolver.js";
