// magicpak's optional Node-API addon. No crates: Node-API and libc are declared by hand.
//
//   version(): string
//   syscalls(): string[]                       the system calls trace() records on this machine
//   dlopenResolve(names, { timeoutMs }?)       [{ name, path, error }]: dlopen + dlinfo(RTLD_DI_LINKMAP), one child per name
//   trace({ argv, file?, env?, cwd?, stdin?, timeoutMs? })
//       { status, signal, stdout, stderr, accesses: [{ pid, syscall, path }], tracer: "native",
//         timedOut, tasks, droppedOutput, elapsedMs }   (stdout, stderr: Buffers)
//
// Both blocking calls are synchronous; lib/native/addon.ts runs them in a worker thread.

mod napi;
mod resolve;
mod sys;
mod syscalls;
mod trace;

use napi::{napi_callback_info, napi_env, napi_value, Env, JsResult};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

/// Runs a callback body; an Err or a panic becomes a thrown JavaScript Error.
fn entry(env: napi_env, body: impl FnOnce(Env) -> JsResult<napi_value>) -> napi_value {
    let e = Env(env);
    match catch_unwind(AssertUnwindSafe(|| body(e))) {
        Ok(Ok(v)) => v,
        Ok(Err(message)) => {
            e.throw(&message);
            std::ptr::null_mut()
        }
        Err(panic) => {
            let what = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_default();
            e.throw(&format!("magicpak native addon: internal error: {what}"));
            std::ptr::null_mut()
        }
    }
}

fn timeout_of(e: Env, options: napi_value, what: &str) -> JsResult<Option<Duration>> {
    let t = e.get(options, "timeoutMs")?;
    if e.is_nullish(t)? {
        return Ok(None);
    }
    let ms = e.to_number(t, what)?;
    if !(ms.is_finite() && ms > 0.0) {
        return Err(format!("{what} must be a positive number of milliseconds"));
    }
    Ok(Some(Duration::from_secs_f64(ms / 1000.0)))
}

unsafe extern "C" fn js_version(env: napi_env, _info: napi_callback_info) -> napi_value {
    entry(env, |e| e.string(env!("CARGO_PKG_VERSION")))
}

unsafe extern "C" fn js_syscalls(env: napi_env, _info: napi_callback_info) -> napi_value {
    entry(env, |e| {
        let (table, _) = syscalls::native();
        let names = table.iter().map(|s| e.string(s.name)).collect::<JsResult<Vec<_>>>()?;
        e.array(names)
    })
}

unsafe extern "C" fn js_dlopen_resolve(env: napi_env, info: napi_callback_info) -> napi_value {
    entry(env, |e| {
        let args = e.args(info, 2)?;
        let names = e.to_string_array(*args.first().ok_or("dlopenResolve(names): names is missing")?, "names")?;
        let mut timeout = Duration::from_secs(30);
        if let Some(&options) = args.get(1) {
            if !e.is_nullish(options)? {
                timeout = timeout_of(e, options, "options.timeoutMs")?.unwrap_or(timeout);
            }
        }
        let results = resolve::dlopen_resolve(&names, timeout)?;
        let items = results
            .iter()
            .map(|r| {
                let o = e.object()?;
                e.set(o, "name", e.string(&r.name)?)?;
                e.set(o, "path", e.opt_string(r.path.as_deref())?)?;
                e.set(o, "error", e.opt_string(r.error.as_deref())?)?;
                Ok(o)
            })
            .collect::<JsResult<Vec<_>>>()?;
        e.array(items)
    })
}

unsafe extern "C" fn js_trace(env: napi_env, info: napi_callback_info) -> napi_value {
    entry(env, |e| {
        let args = e.args(info, 1)?;
        let req = *args.first().ok_or("trace(request): request is missing")?;
        if e.type_of(req)? != napi::T_OBJECT {
            return Err("trace(request): request must be an object".into());
        }
        let argv = e.to_string_array(e.get(req, "argv")?, "request.argv")?;
        if argv.is_empty() {
            return Err("request.argv must name the program".into());
        }
        let optional = |name: &str| -> JsResult<Option<napi_value>> {
            let v = e.get(req, name)?;
            Ok(if e.is_nullish(v)? { None } else { Some(v) })
        };
        let request = trace::TraceRequest {
            file: optional("file")?.map(|v| e.to_string(v, "request.file")).transpose()?,
            argv,
            env: optional("env")?.map(|v| e.to_string_record(v, "request.env")).transpose()?,
            cwd: optional("cwd")?.map(|v| e.to_string(v, "request.cwd")).transpose()?,
            stdin: optional("stdin")?.map(|v| e.to_bytes(v, "request.stdin")).transpose()?,
            timeout: timeout_of(e, req, "request.timeoutMs")?,
        };
        let outcome = trace::trace(request)?;

        let o = e.object()?;
        e.set(o, "status", e.opt_number(outcome.status.map(f64::from))?)?;
        e.set(o, "signal", e.opt_string(outcome.signal.as_deref())?)?;
        e.set(o, "stdout", e.buffer(&outcome.stdout)?)?;
        e.set(o, "stderr", e.buffer(&outcome.stderr)?)?;
        let accesses = outcome
            .accesses
            .iter()
            .map(|a| {
                let x = e.object()?;
                e.set(x, "pid", e.number(f64::from(a.pid))?)?;
                e.set(x, "syscall", e.string(a.syscall)?)?;
                e.set(x, "path", e.string(&a.path)?)?;
                Ok(x)
            })
            .collect::<JsResult<Vec<_>>>()?;
        e.set(o, "accesses", e.array(accesses)?)?;
        e.set(o, "tracer", e.string("native")?)?;
        e.set(o, "timedOut", e.boolean(outcome.timed_out)?)?;
        e.set(o, "tasks", e.number(outcome.tasks as f64)?)?;
        e.set(o, "droppedOutput", e.number(outcome.dropped_output as f64)?)?;
        e.set(o, "elapsedMs", e.number(outcome.elapsed_ms)?)?;
        Ok(o)
    })
}

/// Node-API's module entry point (what NAPI_MODULE_INIT defines).
///
/// # Safety
/// Called by node only, with a valid environment and exports object.
#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: napi_env, exports: napi_value) -> napi_value {
    let e = Env(env);
    let defined = (|| -> JsResult<()> {
        e.define_function(exports, "version", js_version)?;
        e.define_function(exports, "syscalls", js_syscalls)?;
        e.define_function(exports, "dlopenResolve", js_dlopen_resolve)?;
        e.define_function(exports, "trace", js_trace)?;
        Ok(())
    })();
    if let Err(message) = defined {
        e.throw(&message);
    }
    exports
}
