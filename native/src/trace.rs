// A ptrace tracer for --dynamic: runs a program with its arguments, environment, working directory
// and standard input, follows every process and thread it starts (fork, vfork, clone, exec), and
// records the paths of the file system calls that succeeded (open, openat, openat2, execve,
// execveat, the stat family, access, faccessat, faccessat2, readlink, readlinkat).
//
// - A path is read at syscall entry and made absolute then, against /proc/PID/cwd or the
//   directory fd's /proc/PID/fd/N; it is recorded at syscall exit when the call returned >= 0
//   (an exec: at its PTRACE_EVENT_EXEC stop). Paths under /proc, /sys and /dev are left out.
// - A script's interpreter (#! line), which the kernel opens without a system call, is recorded
//   as part of the execve that ran the script.
// - Signals that are not ptrace stops are delivered to the tracee; job-control group-stops are
//   resumed (a tracer that is not PTRACE_SEIZEd cannot keep a tracee group-stopped).
// - Standard output and error are read by a second thread while the program runs, and standard
//   input is written by it, then closed (immediately when there is none).
// - A timeout kills every traced process with SIGKILL. PTRACE_O_EXITKILL kills them too if the
//   tracing thread goes away.
//
// Everything ptrace runs in one thread of its own, started per trace: the tracer of a process is
// the thread that forked it, and waiting with __WNOTHREAD from that thread can never reap a child
// that node started from another thread.

use crate::syscalls::{self, Kind, Regs, Syscall};
use crate::sys::*;
use std::collections::{HashMap, HashSet};
use std::ffi::{c_int, c_uint, c_ulong, c_void, CString};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub struct TraceRequest {
    /// The file to execute; argv[0] is searched in PATH when absent.
    pub file: Option<String>,
    pub argv: Vec<String>,
    /// The whole environment; None: this process's own.
    pub env: Option<Vec<(String, String)>>,
    pub cwd: Option<String>,
    /// Written to standard input, which is then closed; None: closed at once.
    pub stdin: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
}

pub struct Access {
    pub pid: i32,
    pub syscall: &'static str,
    pub path: String,
}

pub struct TraceOutcome {
    pub status: Option<i32>,
    pub signal: Option<String>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub accesses: Vec<Access>,
    pub timed_out: bool,
    /// Processes and threads traced, the first one included.
    pub tasks: usize,
    /// Bytes of output beyond the kept maximum, read and dropped.
    pub dropped_output: u64,
    pub elapsed_ms: f64,
}

/// Output kept per stream; the rest is read (so the program never blocks) and counted.
const MAX_OUTPUT: usize = 64 << 20;
const AT_FDCWD: i32 = -100;
const AT_EMPTY_PATH: u64 = 0x1000;

pub fn trace(request: TraceRequest) -> Result<TraceOutcome, String> {
    std::thread::Builder::new()
        .name("magicpak-tracer".into())
        .spawn(move || run(request))
        .map_err(|e| format!("cannot start the tracer thread: {e}"))?
        .join()
        .map_err(|_| "the tracer thread panicked".to_string())?
}

// ---------------------------------------------------------------------------------------- setup

fn find_program(request: &TraceRequest) -> Result<String, String> {
    if let Some(file) = &request.file {
        return Ok(file.clone());
    }
    let name = request.argv.first().ok_or("argv is empty: nothing to run")?;
    if name.contains('/') {
        return Ok(name.clone());
    }
    let path = match &request.env {
        Some(env) => env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.clone()),
        None => std::env::var("PATH").ok(),
    }
    .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = format!("{dir}/{name}");
        if let Ok(meta) = std::fs::metadata(&candidate) {
            if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                return Ok(candidate);
            }
        }
    }
    Err(format!("{name}: not found in PATH ({path})"))
}

struct Prepared {
    file: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: Option<CString>,
}

fn prepare(request: &TraceRequest, file: &str) -> Result<Prepared, String> {
    let argv = request.argv.iter().map(|a| cstring(a, "an argument")).collect::<Result<Vec<_>, _>>()?;
    let env: Vec<(String, String)> = match &request.env {
        Some(env) => env.clone(),
        None => std::env::vars_os().map(|(k, v)| (k.to_string_lossy().into_owned(), v.to_string_lossy().into_owned())).collect(),
    };
    let envp = env.iter().map(|(k, v)| cstring(&format!("{k}={v}"), "an environment variable")).collect::<Result<Vec<_>, _>>()?;
    let cwd = match &request.cwd {
        Some(c) => Some(cstring(c, "the working directory")?),
        None => None,
    };
    Ok(Prepared { file: cstring(file, "the program")?, argv, envp, cwd })
}

/// Stages the child reports through the error pipe.
const STAGE_CHDIR: u32 = 1;
const STAGE_TRACEME: u32 = 2;
const STAGE_EXEC: u32 = 3;

/// In the child, between fork and execve: only async-signal-safe calls, nothing allocated.
unsafe fn child(p: &Prepared, argv: &[*const std::ffi::c_char], envp: &[*const std::ffi::c_char], stdin_r: c_int, stdout_w: c_int, stderr_w: c_int, err_w: c_int) -> ! {
    let report = |stage: u32| {
        let (s, e) = (stage.to_ne_bytes(), (errno() as u32).to_ne_bytes());
        let msg = [s[0], s[1], s[2], s[3], e[0], e[1], e[2], e[3]];
        write(err_w, msg.as_ptr() as *const c_void, msg.len());
        _exit(127);
    };
    dup2(stdin_r, 0);
    dup2(stdout_w, 1);
    dup2(stderr_w, 2);
    // Nothing else of node's leaks into the program (the error pipe is close-on-exec already).
    syscall(SYS_CLOSE_RANGE, 3 as c_uint, c_uint::MAX, CLOSE_RANGE_CLOEXEC);
    // Node ignores SIGPIPE, and ignored signals survive execve; handlers do not. Block nothing.
    for sig in 1..=64 {
        if sig != SIGKILL && sig != SIGSTOP {
            signal(sig, SIG_DFL);
        }
    }
    let empty = [0u64; 16];
    sigprocmask(SIG_SETMASK, empty.as_ptr(), std::ptr::null_mut());
    if let Some(cwd) = &p.cwd {
        if chdir(cwd.as_ptr()) != 0 {
            report(STAGE_CHDIR);
        }
    }
    if ptrace(PTRACE_TRACEME, 0 as c_int, 0usize, 0usize) != 0 {
        report(STAGE_TRACEME);
    }
    kill(getpid(), SIGSTOP);
    execve(p.file.as_ptr(), argv.as_ptr(), envp.as_ptr());
    report(STAGE_EXEC);
    _exit(127)
}

// ---------------------------------------------------------------------------------------- I/O

struct Io {
    stop_r: c_int,
    stop_w: c_int,
    handle: std::thread::JoinHandle<(Vec<u8>, Vec<u8>, u64)>,
}

fn start_io(stdin: Option<(c_int, Vec<u8>)>, out_r: c_int, err_r: c_int) -> Result<Io, String> {
    let (stop_r, stop_w) = pipe_cloexec()?;
    let handle = std::thread::Builder::new()
        .name("magicpak-tracer-io".into())
        .spawn(move || io_loop(stdin, out_r, err_r, stop_r))
        .map_err(|e| format!("cannot start the I/O thread: {e}"))?;
    Ok(Io { stop_r, stop_w, handle })
}

struct Sink {
    fd: c_int,
    data: Vec<u8>,
    dropped: u64,
}

impl Sink {
    /// Reads what is available; false once the stream is closed (end of file or error).
    fn pump(&mut self) -> bool {
        let mut buf = vec![0u8; 65536];
        loop {
            let n = unsafe { read(self.fd, buf.as_mut_ptr() as *mut c_void, buf.len()) };
            if n > 0 {
                let n = n as usize;
                let room = MAX_OUTPUT.saturating_sub(self.data.len()).min(n);
                self.data.extend_from_slice(&buf[..room]);
                self.dropped += (n - room) as u64;
                continue;
            }
            if n < 0 {
                match errno() {
                    EINTR => continue,
                    EAGAIN => return true,
                    _ => {}
                }
            }
            unsafe { close(self.fd) };
            self.fd = -1;
            return false;
        }
    }
}

fn io_loop(stdin: Option<(c_int, Vec<u8>)>, out_r: c_int, err_r: c_int, stop_r: c_int) -> (Vec<u8>, Vec<u8>, u64) {
    // A write to a pipe the program closed must fail with EPIPE here, not signal the process.
    let pipe_mask: [u64; 16] = {
        let mut m = [0u64; 16];
        m[0] = 1 << (SIGPIPE - 1);
        m
    };
    unsafe { pthread_sigmask(SIG_BLOCK, pipe_mask.as_ptr(), std::ptr::null_mut()) };
    let mut sinks = [Sink { fd: out_r, data: Vec::new(), dropped: 0 }, Sink { fd: err_r, data: Vec::new(), dropped: 0 }];
    let (mut in_fd, input) = match stdin {
        Some((fd, data)) => (fd, data),
        None => (-1, Vec::new()),
    };
    let mut written = 0usize;
    for fd in [out_r, err_r, in_fd] {
        if fd >= 0 {
            set_nonblocking(fd);
        }
    }
    if in_fd >= 0 && input.is_empty() {
        unsafe { close(in_fd) };
        in_fd = -1;
    }
    let mut stopping = false;
    loop {
        if sinks.iter().all(|s| s.fd < 0) && in_fd < 0 {
            break;
        }
        let mut fds = vec![pollfd { fd: stop_r, events: POLLIN, revents: 0 }];
        for s in &sinks {
            fds.push(pollfd { fd: s.fd, events: POLLIN, revents: 0 }); // fd -1 is ignored by poll
        }
        fds.push(pollfd { fd: in_fd, events: POLLOUT, revents: 0 });
        let r = unsafe { poll(fds.as_mut_ptr(), fds.len(), -1) };
        if r < 0 && errno() != EINTR {
            break;
        }
        if fds[0].revents != 0 {
            stopping = true;
        }
        for (i, s) in sinks.iter_mut().enumerate() {
            if s.fd >= 0 && (fds[i + 1].revents != 0 || stopping) {
                s.pump();
            }
        }
        if in_fd >= 0 && fds[3].revents != 0 {
            loop {
                let n = unsafe { write(in_fd, input[written..].as_ptr() as *const c_void, input.len() - written) };
                if n > 0 {
                    written += n as usize;
                    if written == input.len() {
                        break;
                    }
                    continue;
                }
                if n < 0 && errno() == EINTR {
                    continue;
                }
                if n < 0 && errno() == EAGAIN {
                    break;
                }
                written = input.len(); // EPIPE: the program stopped reading
                break;
            }
            if written == input.len() {
                unsafe { close(in_fd) };
                in_fd = -1;
            }
        }
        if stopping {
            // Every traced process is gone: what is left in the pipes is all there is.
            break;
        }
    }
    for s in &sinks {
        if s.fd >= 0 {
            unsafe { close(s.fd) };
        }
    }
    if in_fd >= 0 {
        unsafe { close(in_fd) };
    }
    let dropped = sinks[0].dropped + sinks[1].dropped;
    let [out, err] = sinks;
    (out.data, err.data, dropped)
}

// ---------------------------------------------------------------------------------------- watchdog

struct Shared {
    pids: HashSet<i32>,
    done: bool,
}

struct Watchdog {
    shared: Arc<(Mutex<Shared>, Condvar)>,
    timed_out: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn start(timeout: Option<Duration>) -> Result<Watchdog, String> {
        let shared = Arc::new((Mutex::new(Shared { pids: HashSet::new(), done: false }), Condvar::new()));
        let timed_out = Arc::new(AtomicBool::new(false));
        let handle = match timeout {
            None => None,
            Some(timeout) => {
                let (shared, timed_out) = (shared.clone(), timed_out.clone());
                Some(
                    std::thread::Builder::new()
                        .name("magicpak-tracer-timeout".into())
                        .spawn(move || {
                            let deadline = Instant::now() + timeout;
                            let (lock, cv) = &*shared;
                            let mut state = lock.lock().unwrap();
                            loop {
                                if state.done {
                                    return;
                                }
                                let now = Instant::now();
                                if now >= deadline {
                                    break;
                                }
                                state = cv.wait_timeout(state, deadline - now).unwrap().0;
                            }
                            timed_out.store(true, Ordering::SeqCst);
                            for &pid in &state.pids {
                                unsafe { kill(pid, SIGKILL) };
                            }
                        })
                        .map_err(|e| format!("cannot start the timeout thread: {e}"))?,
                )
            }
        };
        Ok(Watchdog { shared, timed_out, handle })
    }

    /// Registers a traced task; kills it at once when the time is already up.
    fn add(&self, pid: i32) {
        let mut state = self.shared.0.lock().unwrap();
        state.pids.insert(pid);
        if self.timed_out.load(Ordering::SeqCst) {
            unsafe { kill(pid, SIGKILL) };
        }
    }

    fn remove(&self, pid: i32) {
        self.shared.0.lock().unwrap().pids.remove(&pid);
    }

    fn finish(mut self) -> bool {
        self.shared.0.lock().unwrap().done = true;
        self.shared.1.notify_all();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.timed_out.load(Ordering::SeqCst)
    }
}

// ---------------------------------------------------------------------------------------- tracing

#[derive(Default)]
struct Task {
    /// Between a syscall-entry stop and its exit stop.
    in_syscall: bool,
    /// The number seen at the entry stop.
    entry_nr: Option<u64>,
    /// The recorded call in flight: its description and absolute path (None: not recorded).
    pending: Option<(&'static Syscall, String)>,
    /// Its initial SIGSTOP (auto-attached children start with one) has been seen.
    started: bool,
}

struct Recorder {
    accesses: Vec<Access>,
    seen: HashSet<(i32, &'static str, String)>,
}

impl Recorder {
    fn record(&mut self, pid: i32, syscall: &'static str, path: String) {
        if ignored(&path) {
            return;
        }
        if self.seen.insert((pid, syscall, path.clone())) {
            self.accesses.push(Access { pid, syscall, path });
        }
    }
}

fn ignored(path: &str) -> bool {
    ["/proc", "/sys", "/dev"].iter().any(|p| path == *p || (path.starts_with(p) && path.as_bytes()[p.len()] == b'/'))
}

/// Removes empty and "." components and repeated slashes; ".." is kept (it depends on symlinks).
pub fn normalise(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for part in path.split('/') {
        if part.is_empty() || part == "." {
            continue;
        }
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

fn ptrace_resume(pid: i32, sig: c_int) {
    unsafe { ptrace(PTRACE_SYSCALL, pid, 0usize, sig as usize) };
}

fn event_msg(pid: i32) -> Option<c_ulong> {
    let mut msg: c_ulong = 0;
    let r = unsafe { ptrace(PTRACE_GETEVENTMSG, pid, 0usize, &mut msg as *mut c_ulong) };
    if r < 0 {
        None
    } else {
        Some(msg)
    }
}

fn regs(pid: i32, decode: syscalls::Decoder) -> Option<Regs> {
    let mut words = [0u64; 64];
    let mut iov = iovec { iov_base: words.as_mut_ptr() as *mut c_void, iov_len: std::mem::size_of_val(&words) };
    let r = unsafe { ptrace(PTRACE_GETREGSET, pid, NT_PRSTATUS, &mut iov as *mut iovec) };
    if r < 0 {
        return None;
    }
    decode(&words[..iov.iov_len / 8])
}

/// A NUL-terminated string (at most PATH_MAX bytes) from the tracee's memory.
fn read_string(pid: i32, addr: u64) -> Option<Vec<u8>> {
    if addr == 0 {
        return None;
    }
    const PAGE: u64 = 4096;
    const LIMIT: usize = 4096;
    let mut out = Vec::new();
    let mut at = addr;
    let mut mem: Option<std::fs::File> = None;
    while out.len() < LIMIT {
        let len = ((PAGE - at % PAGE) as usize).min(LIMIT - out.len());
        let mut buf = vec![0u8; len];
        let local = iovec { iov_base: buf.as_mut_ptr() as *mut c_void, iov_len: len };
        let remote = iovec { iov_base: at as usize as *mut c_void, iov_len: len };
        let mut n = unsafe { process_vm_readv(pid, &local, 1, &remote, 1, 0) };
        if n <= 0 {
            // Kernels without process_vm_readv (or a restricted one): the ptrace-attached mem file.
            if mem.is_none() {
                mem = std::fs::File::open(format!("/proc/{pid}/mem")).ok();
            }
            n = match &mem {
                Some(f) => f.read_at(&mut buf, at).map(|n| n as isize).unwrap_or(-1),
                None => -1,
            };
            if n <= 0 {
                return None;
            }
        }
        let got = &buf[..n as usize];
        if let Some(end) = got.iter().position(|&b| b == 0) {
            out.extend_from_slice(&got[..end]);
            return Some(out);
        }
        out.extend_from_slice(got);
        at += n as u64;
    }
    Some(out)
}

/// The absolute path a call names, resolved at its entry; None when it names no path of its own.
fn entry_path(pid: i32, desc: &Syscall, r: &Regs) -> Option<String> {
    let raw = read_string(pid, r.args[desc.path])?;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let dirfd = desc.dirfd.map(|i| r.args[i] as i32).unwrap_or(AT_FDCWD);
    let base = |fd: i32| -> Option<String> {
        let link = if fd == AT_FDCWD { readlink(&format!("/proc/{pid}/cwd")) } else { readlink(&format!("/proc/{pid}/fd/{fd}")) };
        link.filter(|l| l.starts_with('/'))
    };
    if raw.is_empty() {
        // AT_EMPTY_PATH: the call is about the fd itself. Only an execveat runs a file that way;
        // fstat-like uses (glibc's fstat is fstatat(fd, "", AT_EMPTY_PATH)) name nothing new.
        let empty_ok = desc.flags.map(|i| r.args[i] & AT_EMPTY_PATH != 0).unwrap_or(false);
        if empty_ok && desc.kind == Kind::Exec && dirfd != AT_FDCWD {
            return base(dirfd).map(|p| normalise(&p));
        }
        return None;
    }
    if raw.starts_with('/') {
        return Some(normalise(&raw));
    }
    base(dirfd).map(|b| normalise(&format!("{b}/{raw}")))
}

/// The interpreters of a script run by execve (#! lines, followed up to the kernel's depth).
fn script_interpreters(pid: i32, path: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut current = path.to_string();
    for _ in 0..5 {
        let mut head = [0u8; 256];
        let n = match std::fs::File::open(&current).and_then(|f| f.read_at(&mut head, 0)) {
            Ok(n) => n,
            Err(_) => break,
        };
        let head = &head[..n];
        if !head.starts_with(b"#!") {
            break;
        }
        let line = head[2..].split(|&b| b == b'\n').next().unwrap_or(&[]);
        let line = String::from_utf8_lossy(line);
        let interp = match line.split([' ', '\t']).find(|s| !s.is_empty()) {
            Some(i) => i.to_string(),
            None => break,
        };
        let interp = if interp.starts_with('/') {
            normalise(&interp)
        } else {
            match readlink(&format!("/proc/{pid}/cwd")) {
                Some(cwd) => normalise(&format!("{cwd}/{interp}")),
                None => break,
            }
        };
        found.push(interp.clone());
        current = interp;
    }
    found
}

fn run(request: TraceRequest) -> Result<TraceOutcome, String> {
    let started = Instant::now();
    let file = find_program(&request)?;
    let prepared = prepare(&request, &file)?;
    let argv_ptrs: Vec<*const std::ffi::c_char> = prepared.argv.iter().map(|a| a.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
    let envp_ptrs: Vec<*const std::ffi::c_char> = prepared.envp.iter().map(|a| a.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
    let (table, decode) = syscalls::native();

    let (in_r, in_w) = pipe_cloexec()?;
    let (out_r, out_w) = pipe_cloexec()?;
    let (err_r, err_w) = pipe_cloexec()?;
    let (fail_r, fail_w) = pipe_cloexec()?;
    let close_all = |fds: &[c_int]| {
        for &fd in fds {
            unsafe { close(fd) };
        }
    };

    let root = unsafe { fork() };
    if root < 0 {
        let e = errno();
        close_all(&[in_r, in_w, out_r, out_w, err_r, err_w, fail_r, fail_w]);
        return Err(format!("fork: {}", strerror(e)));
    }
    if root == 0 {
        unsafe { child(&prepared, &argv_ptrs, &envp_ptrs, in_r, out_w, err_w, fail_w) }
    }
    close_all(&[in_r, out_w, err_w, fail_w]);

    let child_failure = || -> Option<String> {
        let mut buf = [0u8; 8];
        let n = unsafe { read(fail_r, buf.as_mut_ptr() as *mut c_void, 8) };
        if n != 8 {
            return None;
        }
        let stage = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let e = strerror(u32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]) as i32);
        Some(match stage {
            STAGE_CHDIR => format!("cannot change to the working directory {}: {e}", request.cwd.as_deref().unwrap_or("")),
            STAGE_TRACEME => format!("cannot trace {file} (ptrace PTRACE_TRACEME): {e}"),
            _ => format!("cannot execute {file}: {e}"),
        })
    };

    // The child stops itself before execve: set the options, then let it run.
    match wait_for(root, WALL | WNOTHREAD) {
        Ok((_, s)) if wifstopped(s) && wstopsig(s) == SIGSTOP => {}
        Ok(_) => {
            let failure = child_failure();
            close_all(&[in_w, out_r, err_r, fail_r]);
            return Err(failure.unwrap_or_else(|| format!("{file}: the traced process ended before it could be traced")));
        }
        Err(e) => {
            close_all(&[in_w, out_r, err_r, fail_r]);
            return Err(format!("waitpid: {}", strerror(e)));
        }
    }
    let options = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;
    if unsafe { ptrace(PTRACE_SETOPTIONS, root, 0usize, options) } < 0 {
        let e = errno();
        unsafe { kill(root, SIGKILL) };
        let _ = wait_for(root, WALL | WNOTHREAD);
        close_all(&[in_w, out_r, err_r, fail_r]);
        return Err(format!("ptrace(PTRACE_SETOPTIONS): {}", strerror(e)));
    }

    let io = match start_io(Some((in_w, request.stdin.clone().unwrap_or_default())), out_r, err_r) {
        Ok(io) => io,
        Err(e) => {
            unsafe { kill(root, SIGKILL) };
            let _ = wait_for(root, WALL | WNOTHREAD);
            return Err(e);
        }
    };
    let watchdog = Watchdog::start(request.timeout)?;
    watchdog.add(root);

    let mut tasks: HashMap<i32, Task> = HashMap::new();
    tasks.insert(root, Task { started: true, ..Task::default() });
    let mut task_count = 1usize;
    // Tasks already reaped: a late fork event must not bring one back.
    let mut reaped: HashSet<i32> = HashSet::new();
    let mut loop_error: Option<String> = None;
    let mut recorder = Recorder { accesses: Vec::new(), seen: HashSet::new() };
    let mut status: Option<i32> = None;
    let mut signal: Option<String> = None;
    ptrace_resume(root, 0);

    loop {
        let (pid, s) = match wait_for(-1, WALL | WNOTHREAD) {
            Ok(r) => r,
            Err(ECHILD) => break,
            Err(e) => {
                // Cannot go on waiting: kill what is left (EXITKILL would too) and report.
                for &pid in tasks.keys() {
                    unsafe { kill(pid, SIGKILL) };
                }
                loop_error = Some(format!("waitpid: {}", strerror(e)));
                break;
            }
        };
        if wifexited(s) || wifsignaled(s) {
            if pid == root {
                if wifexited(s) {
                    status = Some(wexitstatus(s));
                } else {
                    signal = Some(signal_name(wtermsig(s)));
                }
            }
            tasks.remove(&pid);
            reaped.insert(pid);
            watchdog.remove(pid);
            continue;
        }
        if !wifstopped(s) {
            continue;
        }
        let task = tasks.entry(pid).or_insert_with(|| {
            // A child whose initial stop came before its parent's fork event.
            reaped.remove(&pid);
            task_count += 1;
            watchdog.add(pid);
            Task::default()
        });
        let sig = wstopsig(s);
        let event = s >> 16;

        if sig == (SIGTRAP | 0x80) {
            // A syscall stop: entry and exit alternate; the number seen at entry must match.
            if let Some(r) = regs(pid, decode) {
                let is_exit = task.in_syscall && task.entry_nr == Some(r.nr);
                if is_exit {
                    task.in_syscall = false;
                    if let Some((desc, path)) = task.pending.take() {
                        if r.ret >= 0 {
                            recorder.record(pid, desc.name, path);
                        }
                    }
                } else {
                    task.in_syscall = true;
                    task.entry_nr = Some(r.nr);
                    task.pending = syscalls::lookup(table, r.nr).and_then(|desc| entry_path(pid, desc, &r).map(|p| (desc, p)));
                }
            } else {
                // Registers of another ABI (a 32-bit tracee): keep the alternation, record nothing.
                task.in_syscall = !task.in_syscall;
                task.entry_nr = None;
                task.pending = None;
            }
            ptrace_resume(pid, 0);
        } else if sig == SIGTRAP && event != 0 {
            match event {
                PTRACE_EVENT_FORK | PTRACE_EVENT_VFORK | PTRACE_EVENT_CLONE => {
                    if let Some(child) = event_msg(pid) {
                        let child = child as i32;
                        if !tasks.contains_key(&child) && !reaped.contains(&child) {
                            tasks.insert(child, Task::default());
                            task_count += 1;
                            watchdog.add(child);
                        }
                    }
                }
                PTRACE_EVENT_EXEC => {
                    // A non-leader thread that execs takes over the leader's pid.
                    let former = event_msg(pid).map(|m| m as i32).unwrap_or(pid);
                    if former != pid {
                        if let Some(t) = tasks.remove(&former) {
                            tasks.insert(pid, t);
                        }
                        watchdog.remove(former);
                    }
                    let task = tasks.entry(pid).or_default();
                    if let Some((desc, path)) = task.pending.take() {
                        if desc.kind == Kind::Exec {
                            for interp in script_interpreters(pid, &path) {
                                recorder.record(pid, desc.name, interp);
                            }
                            recorder.record(pid, desc.name, path);
                        }
                    }
                    // The exit stop of execve follows; the new image may use another ABI.
                    task.in_syscall = true;
                    task.entry_nr = regs(pid, decode).map(|r| r.nr);
                }
                _ => {}
            }
            ptrace_resume(pid, 0);
        } else if sig == SIGSTOP && !task.started {
            // The initial stop of an auto-attached child.
            task.started = true;
            ptrace_resume(pid, 0);
        } else {
            task.started = true;
            let stopping = matches!(sig, SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU);
            let mut info = [0u8; 128];
            let group_stop = stopping && unsafe { ptrace(PTRACE_GETSIGINFO, pid, 0usize, info.as_mut_ptr()) } < 0;
            ptrace_resume(pid, if group_stop { 0 } else { sig });
        }
    }

    let timed_out = watchdog.finish();
    unsafe { write(io.stop_w, b"x".as_ptr() as *const c_void, 1) };
    let (stdout, stderr, dropped_output) = io.handle.join().map_err(|_| "the I/O thread panicked".to_string())?;
    close_all(&[io.stop_r, io.stop_w]);
    let failure = child_failure();
    unsafe { close(fail_r) };
    if let Some(failure) = failure.or(loop_error) {
        return Err(failure);
    }
    Ok(TraceOutcome {
        status,
        signal,
        stdout,
        stderr,
        accesses: recorder.accesses,
        timed_out,
        tasks: task_count,
        dropped_output,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}
