// The system calls the tracer records, per architecture, and where their arguments are in the
// registers PTRACE_GETREGSET(NT_PRSTATUS) returns. Both tables are compiled on every architecture
// (so both are checked by the compiler); `native()` picks this machine's.

#![allow(dead_code)]

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Open,
    Exec,
    Stat,
    Access,
    Readlink,
}

#[derive(Clone, Copy, Debug)]
pub struct Syscall {
    pub nr: u64,
    pub name: &'static str,
    pub kind: Kind,
    /// Argument index of the directory fd (the *at forms), None: relative to the cwd.
    pub dirfd: Option<usize>,
    /// Argument index of the path.
    pub path: usize,
    /// Argument index of the flags word that may hold AT_EMPTY_PATH.
    pub flags: Option<usize>,
}

const fn plain(nr: u64, name: &'static str, kind: Kind) -> Syscall {
    Syscall { nr, name, kind, dirfd: None, path: 0, flags: None }
}
const fn at(nr: u64, name: &'static str, kind: Kind, flags: Option<usize>) -> Syscall {
    Syscall { nr, name, kind, dirfd: Some(0), path: 1, flags }
}

/// x86_64 (arch/x86/entry/syscalls/syscall_64.tbl).
pub const X86_64: &[Syscall] = &[
    plain(2, "open", Kind::Open),
    plain(4, "stat", Kind::Stat),
    plain(6, "lstat", Kind::Stat),
    plain(21, "access", Kind::Access),
    plain(59, "execve", Kind::Exec),
    plain(89, "readlink", Kind::Readlink),
    at(257, "openat", Kind::Open, None),
    at(262, "newfstatat", Kind::Stat, Some(3)),
    at(267, "readlinkat", Kind::Readlink, None),
    at(269, "faccessat", Kind::Access, None),
    at(322, "execveat", Kind::Exec, Some(4)),
    at(332, "statx", Kind::Stat, Some(2)),
    at(437, "openat2", Kind::Open, None),
    at(439, "faccessat2", Kind::Access, Some(3)),
];

/// aarch64 (include/uapi/asm-generic/unistd.h): no open, stat, lstat, access, readlink; only the *at forms.
pub const AARCH64: &[Syscall] = &[
    at(48, "faccessat", Kind::Access, None),
    at(56, "openat", Kind::Open, None),
    at(78, "readlinkat", Kind::Readlink, None),
    at(79, "newfstatat", Kind::Stat, Some(3)),
    Syscall { nr: 221, name: "execve", kind: Kind::Exec, dirfd: None, path: 0, flags: None },
    at(281, "execveat", Kind::Exec, Some(4)),
    at(291, "statx", Kind::Stat, Some(2)),
    at(437, "openat2", Kind::Open, None),
    at(439, "faccessat2", Kind::Access, Some(3)),
];

/// The decoded registers of one syscall stop.
#[derive(Clone, Copy, Debug)]
pub struct Regs {
    pub nr: u64,
    pub args: [u64; 6],
    /// The return value (meaningful at syscall exit).
    pub ret: i64,
}

/// x86_64 struct user_regs_struct: 27 words; orig_rax (15) is the number, rax (10) the result,
/// arguments in rdi, rsi, rdx, r10, r8, r9.
pub fn decode_x86_64(words: &[u64]) -> Option<Regs> {
    if words.len() != 27 {
        return None; // a 32-bit (compat) tracee: its smaller register set is not decoded
    }
    let nr = words[15];
    if nr & 0x4000_0000 != 0 {
        return None; // x32 ABI
    }
    Some(Regs { nr, args: [words[14], words[13], words[12], words[7], words[9], words[8]], ret: words[10] as i64 })
}

/// aarch64 struct user_pt_regs: x0..x30, sp, pc, pstate; x8 is the number, x0 the result.
pub fn decode_aarch64(words: &[u64]) -> Option<Regs> {
    if words.len() != 34 {
        return None; // an AArch32 (compat) tracee
    }
    Some(Regs { nr: words[8], args: [words[0], words[1], words[2], words[3], words[4], words[5]], ret: words[0] as i64 })
}

/// Decodes the NT_PRSTATUS words of one stop (None: another ABI's register set).
pub type Decoder = fn(&[u64]) -> Option<Regs>;

#[cfg(target_arch = "x86_64")]
pub fn native() -> (&'static [Syscall], Decoder) {
    (X86_64, decode_x86_64)
}
#[cfg(target_arch = "aarch64")]
pub fn native() -> (&'static [Syscall], Decoder) {
    (AARCH64, decode_aarch64)
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("the tracer knows the system calls of x86_64 and aarch64 only");

pub fn lookup(table: &'static [Syscall], nr: u64) -> Option<&'static Syscall> {
    table.iter().find(|s| s.nr == nr)
}
