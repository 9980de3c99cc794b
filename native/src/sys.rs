// The libc functions and kernel constants this addon uses, declared by hand (no libc crate).
// Values are the Linux ones for x86_64 and aarch64 (identical for everything below).

#![allow(non_camel_case_types, dead_code)]

use std::ffi::{c_char, c_int, c_long, c_uint, c_void, CStr, CString};
use std::io;

pub type pid_t = c_int;

#[repr(C)]
pub struct iovec {
    pub iov_base: *mut c_void,
    pub iov_len: usize,
}

#[repr(C)]
pub struct pollfd {
    pub fd: c_int,
    pub events: i16,
    pub revents: i16,
}

/// The public head of glibc's struct link_map (<link.h>).
#[repr(C)]
pub struct link_map {
    pub l_addr: usize,
    pub l_name: *const c_char,
    pub l_ld: *mut c_void,
    pub l_next: *mut link_map,
    pub l_prev: *mut link_map,
}

extern "C" {
    pub fn fork() -> pid_t;
    pub fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    pub fn _exit(status: c_int) -> !;
    pub fn pipe2(fds: *mut c_int, flags: c_int) -> c_int;
    pub fn dup2(old: c_int, new: c_int) -> c_int;
    pub fn close(fd: c_int) -> c_int;
    pub fn read(fd: c_int, buf: *mut c_void, count: usize) -> isize;
    pub fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;
    pub fn open(path: *const c_char, flags: c_int, ...) -> c_int;
    pub fn fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
    pub fn chdir(path: *const c_char) -> c_int;
    pub fn setpgid(pid: pid_t, pgid: pid_t) -> c_int;
    pub fn getpid() -> pid_t;
    pub fn kill(pid: pid_t, sig: c_int) -> c_int;
    pub fn waitpid(pid: pid_t, status: *mut c_int, options: c_int) -> pid_t;
    pub fn ptrace(request: c_uint, ...) -> c_long;
    pub fn process_vm_readv(pid: pid_t, local: *const iovec, liovcnt: usize, remote: *const iovec, riovcnt: usize, flags: usize) -> isize;
    pub fn pread(fd: c_int, buf: *mut c_void, count: usize, offset: i64) -> isize;
    pub fn poll(fds: *mut pollfd, nfds: usize, timeout: c_int) -> c_int;
    pub fn signal(sig: c_int, handler: usize) -> usize;
    pub fn sigprocmask(how: c_int, set: *const u64, old: *mut u64) -> c_int;
    pub fn pthread_sigmask(how: c_int, set: *const u64, old: *mut u64) -> c_int;
    pub fn syscall(number: c_long, ...) -> c_long;
    pub fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    pub fn dlinfo(handle: *mut c_void, request: c_int, info: *mut c_void) -> c_int;
    pub fn dlerror() -> *const c_char;
}

// open / fcntl / pipe2
pub const O_RDONLY: c_int = 0;
pub const O_RDWR: c_int = 2;
pub const O_NONBLOCK: c_int = 0o4000;
pub const O_CLOEXEC: c_int = 0o2000000;
pub const F_GETFL: c_int = 3;
pub const F_SETFL: c_int = 4;

// poll
pub const POLLIN: i16 = 0x1;
pub const POLLOUT: i16 = 0x4;
pub const POLLERR: i16 = 0x8;
pub const POLLHUP: i16 = 0x10;
pub const POLLNVAL: i16 = 0x20;

// errno
pub const EINTR: i32 = 4;
pub const ECHILD: i32 = 10;
pub const EAGAIN: i32 = 11;
pub const ESRCH: i32 = 3;

// waitpid
pub const WNOHANG: c_int = 1;
pub const WNOTHREAD: c_int = 0x20000000;
pub const WALL: c_int = 0x40000000;

// signals (the same numbers on x86_64 and aarch64)
pub const SIGKILL: c_int = 9;
pub const SIGPIPE: c_int = 13;
pub const SIGTRAP: c_int = 5;
pub const SIGSTOP: c_int = 19;
pub const SIGTSTP: c_int = 20;
pub const SIGTTIN: c_int = 21;
pub const SIGTTOU: c_int = 22;
pub const SIG_DFL: usize = 0;
pub const SIG_BLOCK: c_int = 0;
pub const SIG_SETMASK: c_int = 2;

// ptrace
pub const PTRACE_TRACEME: c_uint = 0;
pub const PTRACE_SYSCALL: c_uint = 24;
pub const PTRACE_SETOPTIONS: c_uint = 0x4200;
pub const PTRACE_GETEVENTMSG: c_uint = 0x4201;
pub const PTRACE_GETSIGINFO: c_uint = 0x4202;
pub const PTRACE_GETREGSET: c_uint = 0x4204;
pub const PTRACE_O_TRACESYSGOOD: usize = 0x1;
pub const PTRACE_O_TRACEFORK: usize = 0x2;
pub const PTRACE_O_TRACEVFORK: usize = 0x4;
pub const PTRACE_O_TRACECLONE: usize = 0x8;
pub const PTRACE_O_TRACEEXEC: usize = 0x10;
pub const PTRACE_O_EXITKILL: usize = 0x100000;
pub const PTRACE_EVENT_FORK: c_int = 1;
pub const PTRACE_EVENT_VFORK: c_int = 2;
pub const PTRACE_EVENT_CLONE: c_int = 3;
pub const PTRACE_EVENT_EXEC: c_int = 4;
pub const NT_PRSTATUS: usize = 1;

// dlfcn
pub const RTLD_LAZY: c_int = 1;
pub const RTLD_DI_LINKMAP: c_int = 2;

// syscall numbers used directly
#[cfg(target_arch = "x86_64")]
pub const SYS_CLOSE_RANGE: c_long = 436;
#[cfg(target_arch = "aarch64")]
pub const SYS_CLOSE_RANGE: c_long = 436;
pub const CLOSE_RANGE_CLOEXEC: c_uint = 4;

pub fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

pub fn strerror(code: i32) -> String {
    let text = io::Error::from_raw_os_error(code).to_string();
    // Rust appends " (os error N)"; keep the C library's wording only.
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

pub fn cstring(s: &str, what: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{what} contains a NUL character: {s:?}"))
}

pub unsafe fn c_to_string(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

pub fn pipe_cloexec() -> Result<(c_int, c_int), String> {
    let mut fds = [0 as c_int; 2];
    if unsafe { pipe2(fds.as_mut_ptr(), O_CLOEXEC) } != 0 {
        return Err(format!("pipe2: {}", strerror(errno())));
    }
    Ok((fds[0], fds[1]))
}

pub fn set_nonblocking(fd: c_int) {
    unsafe {
        let flags = fcntl(fd, F_GETFL);
        if flags >= 0 {
            fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        }
    }
}

/// waitpid that retries on EINTR; returns (pid, status) or the errno.
pub fn wait_for(pid: pid_t, options: c_int) -> Result<(pid_t, c_int), i32> {
    loop {
        let mut status: c_int = 0;
        let r = unsafe { waitpid(pid, &mut status, options) };
        if r >= 0 {
            return Ok((r, status));
        }
        let e = errno();
        if e != EINTR {
            return Err(e);
        }
    }
}

pub fn wifexited(s: c_int) -> bool {
    s & 0x7f == 0
}
pub fn wexitstatus(s: c_int) -> c_int {
    (s >> 8) & 0xff
}
pub fn wifsignaled(s: c_int) -> bool {
    let low = s & 0x7f;
    low != 0 && low != 0x7f
}
pub fn wtermsig(s: c_int) -> c_int {
    s & 0x7f
}
pub fn wifstopped(s: c_int) -> bool {
    s & 0xff == 0x7f
}
pub fn wstopsig(s: c_int) -> c_int {
    (s >> 8) & 0xff
}

/// The signal's name as node reports it (process.kill, child.signalCode).
pub fn signal_name(sig: c_int) -> String {
    const NAMES: [&str; 32] = [
        "", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD",
        "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
    ];
    match NAMES.get(sig as usize) {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => format!("SIG{sig}"),
    }
}

/// readlink(2) of a host path (e.g. /proc/PID/cwd), as a string.
pub fn readlink(path: &str) -> Option<String> {
    std::fs::read_link(path).ok().map(|p| p.to_string_lossy().into_owned())
}
