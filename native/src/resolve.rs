// The real loader's answer: which file does dlopen(NAME, RTLD_LAZY) load, i.e. l_name of the link
// map dlinfo(RTLD_DI_LINKMAP) returns. Every name is loaded in a child process of its own (fork,
// no exec), so a constructor with side effects, a crash or a static-TLS failure (jemalloc) only
// ends that child, and no name's answer depends on what an earlier name loaded.
//
// The child is a copy of this process: dlopen searches with the RPATH/RUNPATH of the caller (this
// addon: none) and of the main program (node: none), the LD_LIBRARY_PATH this process started
// with, /etc/ld.so.cache and the system directories. A name already loaded in this process
// (libc.so.6, libstdc++.so.6, ...) is answered from the link map, as the loader itself would.

use crate::sys::*;
use std::ffi::{c_int, c_void, CString};
use std::time::{Duration, Instant};

pub struct Resolution {
    pub name: String,
    pub path: Option<String>,
    pub error: Option<String>,
}

const PARALLEL: usize = 8;

struct Job {
    index: usize,
    pid: pid_t,
    fd: c_int,
    output: Vec<u8>,
    deadline: Instant,
}

pub fn dlopen_resolve(names: &[String], timeout: Duration) -> Result<Vec<Resolution>, String> {
    let cnames: Vec<CString> = names.iter().map(|n| cstring(n, "a library name")).collect::<Result<_, _>>()?;
    let mut results: Vec<Option<Resolution>> = names.iter().map(|_| None).collect();
    let mut next = 0usize;
    let mut running: Vec<Job> = Vec::new();

    while next < names.len() || !running.is_empty() {
        while running.len() < PARALLEL && next < names.len() {
            if cnames[next].as_bytes().is_empty() {
                results[next] = Some(Resolution { name: names[next].clone(), path: None, error: Some("empty library name".into()) });
            } else {
                running.push(start(next, &cnames[next], timeout)?);
            }
            next += 1;
        }
        if running.is_empty() {
            continue;
        }
        let mut fds: Vec<pollfd> = running.iter().map(|j| pollfd { fd: j.fd, events: POLLIN, revents: 0 }).collect();
        unsafe { poll(fds.as_mut_ptr(), fds.len(), 50) };

        let now = Instant::now();
        let mut i = 0;
        while i < running.len() {
            let job = &mut running[i];
            let mut done = false;
            let mut timed_out = false;
            if fds[i].revents != 0 {
                done = drain(job.fd, &mut job.output);
            }
            if !done {
                // The child may have exited while a process it started keeps the pipe open.
                if let Ok((pid, _)) = wait_peek(job.pid) {
                    if pid == job.pid {
                        set_nonblocking(job.fd);
                        drain(job.fd, &mut job.output);
                        done = true;
                    }
                }
            }
            if !done && now >= job.deadline {
                unsafe { kill(job.pid, SIGKILL) };
                timed_out = true;
                done = true;
            }
            if done {
                let job = running.swap_remove(i);
                fds.swap_remove(i);
                let index = job.index;
                results[index] = Some(finish(job, names, timed_out, timeout));
            } else {
                i += 1;
            }
        }
    }
    Ok(results.into_iter().map(|r| r.expect("every name was resolved")).collect())
}

/// Whether the child has exited, without reaping it (WNOWAIT keeps it for finish()).
fn wait_peek(pid: pid_t) -> Result<(pid_t, c_int), i32> {
    const WEXITED: c_int = 4;
    const WNOWAIT: c_int = 0x01000000;
    const P_PID: c_int = 1;
    extern "C" {
        fn waitid(idtype: c_int, id: u32, info: *mut c_void, options: c_int) -> c_int;
    }
    let mut info = [0u8; 128];
    let r = unsafe { waitid(P_PID, pid as u32, info.as_mut_ptr() as *mut c_void, WEXITED | WNOHANG | WNOWAIT) };
    if r != 0 {
        return Err(errno());
    }
    // siginfo_t on 64-bit: si_signo, si_errno, si_code, padding, then si_pid at offset 16; it stays
    // zero when nothing has exited.
    let si_pid = i32::from_ne_bytes([info[16], info[17], info[18], info[19]]);
    Ok((si_pid, 0))
}

/// Reads what is there; true at end of file.
fn drain(fd: c_int, out: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        let n = unsafe { read(fd, buf.as_mut_ptr() as *mut c_void, buf.len()) };
        if n > 0 {
            out.extend_from_slice(&buf[..n as usize]);
            continue;
        }
        if n == 0 {
            return true;
        }
        let e = errno();
        if e == EINTR {
            continue;
        }
        return e != EAGAIN;
    }
}

fn start(index: usize, name: &CString, timeout: Duration) -> Result<Job, String> {
    let (r, w) = pipe_cloexec()?;
    let devnull = b"/dev/null\0";
    let pid = unsafe { fork() };
    if pid < 0 {
        let e = errno();
        unsafe {
            close(r);
            close(w);
        }
        return Err(format!("fork: {}", strerror(e)));
    }
    if pid == 0 {
        unsafe { child(name, w, devnull.as_ptr() as *const _) }
    }
    unsafe { close(w) };
    Ok(Job { index, pid, fd: r, output: Vec::new(), deadline: Instant::now() + timeout })
}

/// In the child: load NAME, write "P<l_name>" or "E<dlerror text>" to the pipe, leave without
/// running any exit handler.
unsafe fn child(name: &CString, w: c_int, devnull: *const std::ffi::c_char) -> ! {
    // Constructors must not write into magicpak's output nor read its input.
    let null = open(devnull, O_RDWR);
    if null >= 0 {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
    }
    let handle = dlopen(name.as_ptr(), RTLD_LAZY);
    let message: Vec<u8> = if handle.is_null() {
        let mut m = b"E".to_vec();
        m.extend_from_slice(c_to_string(dlerror()).as_bytes());
        m
    } else {
        let mut map: *mut link_map = std::ptr::null_mut();
        if dlinfo(handle, RTLD_DI_LINKMAP, &mut map as *mut *mut link_map as *mut c_void) != 0 || map.is_null() {
            let mut m = b"Edlinfo(RTLD_DI_LINKMAP): ".to_vec();
            m.extend_from_slice(c_to_string(dlerror()).as_bytes());
            m
        } else {
            let mut m = b"P".to_vec();
            m.extend_from_slice(c_to_string((*map).l_name).as_bytes());
            m
        }
    };
    let mut off = 0;
    while off < message.len() {
        let n = write(w, message[off..].as_ptr() as *const c_void, message.len() - off);
        if n <= 0 {
            break;
        }
        off += n as usize;
    }
    _exit(0)
}

fn finish(job: Job, names: &[String], timed_out: bool, timeout: Duration) -> Resolution {
    unsafe { close(job.fd) };
    let status = wait_for(job.pid, 0).map(|(_, s)| s).unwrap_or(0);
    let name = names[job.index].clone();
    let text = String::from_utf8_lossy(&job.output).into_owned();
    if timed_out {
        return Resolution { name, path: None, error: Some(format!("the loading process did not finish within {} ms and was killed", timeout.as_millis())) };
    }
    if wifsignaled(status) {
        return Resolution { name, path: None, error: Some(format!("the loading process was killed by {}", signal_name(wtermsig(status)))) };
    }
    match text.as_bytes().first() {
        Some(b'P') => Resolution { name, path: Some(text[1..].to_string()), error: None },
        Some(b'E') => Resolution { name, path: None, error: Some(text[1..].to_string()) },
        _ => Resolution {
            name,
            path: None,
            error: Some(format!("the loading process exited with status {} without an answer", if wifexited(status) { wexitstatus(status) } else { -1 })),
        },
    }
}
