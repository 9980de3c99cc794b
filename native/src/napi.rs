// The few Node-API functions this addon uses, declared by hand (no napi crate: crates.io is not
// reachable where this is built). They stay unresolved in the .node file and node provides them
// when it loads the addon. Signatures from node_api.h / js_native_api.h.

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_void, CString};
use std::ptr;

pub type napi_env = *mut c_void;
pub type napi_value = *mut c_void;
pub type napi_callback_info = *mut c_void;
pub type napi_status = c_int;
pub type napi_callback = Option<unsafe extern "C" fn(napi_env, napi_callback_info) -> napi_value>;

const NAPI_OK: napi_status = 0;
const NAPI_AUTO_LENGTH: usize = usize::MAX;

// napi_valuetype
pub const T_UNDEFINED: c_int = 0;
pub const T_NULL: c_int = 1;
pub const T_NUMBER: c_int = 3;
pub const T_STRING: c_int = 4;
pub const T_OBJECT: c_int = 6;

extern "C" {
    fn napi_create_function(env: napi_env, name: *const c_char, length: usize, cb: napi_callback, data: *mut c_void, result: *mut napi_value) -> napi_status;
    fn napi_set_named_property(env: napi_env, object: napi_value, name: *const c_char, value: napi_value) -> napi_status;
    fn napi_get_named_property(env: napi_env, object: napi_value, name: *const c_char, result: *mut napi_value) -> napi_status;
    fn napi_create_object(env: napi_env, result: *mut napi_value) -> napi_status;
    fn napi_create_array_with_length(env: napi_env, length: usize, result: *mut napi_value) -> napi_status;
    fn napi_set_element(env: napi_env, object: napi_value, index: u32, value: napi_value) -> napi_status;
    fn napi_get_element(env: napi_env, object: napi_value, index: u32, result: *mut napi_value) -> napi_status;
    fn napi_get_array_length(env: napi_env, value: napi_value, result: *mut u32) -> napi_status;
    fn napi_is_array(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
    fn napi_create_string_utf8(env: napi_env, s: *const c_char, length: usize, result: *mut napi_value) -> napi_status;
    fn napi_get_value_string_utf8(env: napi_env, value: napi_value, buf: *mut c_char, bufsize: usize, result: *mut usize) -> napi_status;
    fn napi_create_double(env: napi_env, value: f64, result: *mut napi_value) -> napi_status;
    fn napi_get_value_double(env: napi_env, value: napi_value, result: *mut f64) -> napi_status;
    fn napi_get_null(env: napi_env, result: *mut napi_value) -> napi_status;
    fn napi_get_boolean(env: napi_env, value: bool, result: *mut napi_value) -> napi_status;
    fn napi_get_cb_info(env: napi_env, info: napi_callback_info, argc: *mut usize, argv: *mut napi_value, this_arg: *mut napi_value, data: *mut *mut c_void) -> napi_status;
    fn napi_throw_error(env: napi_env, code: *const c_char, msg: *const c_char) -> napi_status;
    fn napi_typeof(env: napi_env, value: napi_value, result: *mut c_int) -> napi_status;
    fn napi_get_property_names(env: napi_env, object: napi_value, result: *mut napi_value) -> napi_status;
    fn napi_create_buffer_copy(env: napi_env, length: usize, data: *const c_void, result_data: *mut *mut c_void, result: *mut napi_value) -> napi_status;
    fn napi_is_buffer(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
    fn napi_get_buffer_info(env: napi_env, value: napi_value, data: *mut *mut c_void, length: *mut usize) -> napi_status;
}

/// An error to throw into JavaScript.
pub type JsResult<T> = Result<T, String>;

fn check(status: napi_status, what: &str) -> JsResult<()> {
    if status == NAPI_OK {
        Ok(())
    } else {
        Err(format!("Node-API call {what} failed with status {status}"))
    }
}

fn cstr(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

/// One call's environment: builds and reads JavaScript values.
#[derive(Clone, Copy)]
pub struct Env(pub napi_env);

impl Env {
    pub fn throw(self, message: &str) {
        let msg = cstr(message);
        unsafe {
            napi_throw_error(self.0, ptr::null(), msg.as_ptr());
        }
    }

    pub fn args(self, info: napi_callback_info, max: usize) -> JsResult<Vec<napi_value>> {
        let mut argc = max;
        let mut argv: Vec<napi_value> = vec![ptr::null_mut(); max];
        check(unsafe { napi_get_cb_info(self.0, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), ptr::null_mut()) }, "napi_get_cb_info")?;
        argv.truncate(argc.min(max));
        Ok(argv)
    }

    pub fn define_function(self, exports: napi_value, name: &str, cb: unsafe extern "C" fn(napi_env, napi_callback_info) -> napi_value) -> JsResult<()> {
        let cname = cstr(name);
        let mut f = ptr::null_mut();
        check(unsafe { napi_create_function(self.0, cname.as_ptr(), NAPI_AUTO_LENGTH, Some(cb), ptr::null_mut(), &mut f) }, "napi_create_function")?;
        check(unsafe { napi_set_named_property(self.0, exports, cname.as_ptr(), f) }, "napi_set_named_property")
    }

    // ------------------------------------------------------------------ creating values

    pub fn string(self, s: &str) -> JsResult<napi_value> {
        let mut v = ptr::null_mut();
        check(unsafe { napi_create_string_utf8(self.0, s.as_ptr() as *const c_char, s.len(), &mut v) }, "napi_create_string_utf8")?;
        Ok(v)
    }

    pub fn number(self, n: f64) -> JsResult<napi_value> {
        let mut v = ptr::null_mut();
        check(unsafe { napi_create_double(self.0, n, &mut v) }, "napi_create_double")?;
        Ok(v)
    }

    pub fn boolean(self, b: bool) -> JsResult<napi_value> {
        let mut v = ptr::null_mut();
        check(unsafe { napi_get_boolean(self.0, b, &mut v) }, "napi_get_boolean")?;
        Ok(v)
    }

    pub fn null(self) -> JsResult<napi_value> {
        let mut v = ptr::null_mut();
        check(unsafe { napi_get_null(self.0, &mut v) }, "napi_get_null")?;
        Ok(v)
    }

    pub fn opt_string(self, s: Option<&str>) -> JsResult<napi_value> {
        match s {
            Some(s) => self.string(s),
            None => self.null(),
        }
    }

    pub fn opt_number(self, n: Option<f64>) -> JsResult<napi_value> {
        match n {
            Some(n) => self.number(n),
            None => self.null(),
        }
    }

    pub fn buffer(self, data: &[u8]) -> JsResult<napi_value> {
        let mut v = ptr::null_mut();
        let mut out = ptr::null_mut();
        check(unsafe { napi_create_buffer_copy(self.0, data.len(), data.as_ptr() as *const c_void, &mut out, &mut v) }, "napi_create_buffer_copy")?;
        Ok(v)
    }

    pub fn object(self) -> JsResult<napi_value> {
        let mut v = ptr::null_mut();
        check(unsafe { napi_create_object(self.0, &mut v) }, "napi_create_object")?;
        Ok(v)
    }

    pub fn set(self, object: napi_value, name: &str, value: napi_value) -> JsResult<()> {
        let cname = cstr(name);
        check(unsafe { napi_set_named_property(self.0, object, cname.as_ptr(), value) }, "napi_set_named_property")
    }

    pub fn array(self, items: Vec<napi_value>) -> JsResult<napi_value> {
        let mut v = ptr::null_mut();
        check(unsafe { napi_create_array_with_length(self.0, items.len(), &mut v) }, "napi_create_array_with_length")?;
        for (i, item) in items.into_iter().enumerate() {
            check(unsafe { napi_set_element(self.0, v, i as u32, item) }, "napi_set_element")?;
        }
        Ok(v)
    }

    // ------------------------------------------------------------------ reading values

    pub fn type_of(self, value: napi_value) -> JsResult<c_int> {
        let mut t = 0;
        check(unsafe { napi_typeof(self.0, value, &mut t) }, "napi_typeof")?;
        Ok(t)
    }

    pub fn is_nullish(self, value: napi_value) -> JsResult<bool> {
        let t = self.type_of(value)?;
        Ok(t == T_UNDEFINED || t == T_NULL)
    }

    pub fn get(self, object: napi_value, name: &str) -> JsResult<napi_value> {
        let cname = cstr(name);
        let mut v = ptr::null_mut();
        check(unsafe { napi_get_named_property(self.0, object, cname.as_ptr(), &mut v) }, "napi_get_named_property")?;
        Ok(v)
    }

    pub fn to_string(self, value: napi_value, what: &str) -> JsResult<String> {
        if self.type_of(value)? != T_STRING {
            return Err(format!("{what} must be a string"));
        }
        let mut len = 0usize;
        check(unsafe { napi_get_value_string_utf8(self.0, value, ptr::null_mut(), 0, &mut len) }, "napi_get_value_string_utf8")?;
        let mut buf = vec![0u8; len + 1];
        let mut written = 0usize;
        check(unsafe { napi_get_value_string_utf8(self.0, value, buf.as_mut_ptr() as *mut c_char, buf.len(), &mut written) }, "napi_get_value_string_utf8")?;
        buf.truncate(written);
        String::from_utf8(buf).map_err(|_| format!("{what} is not valid UTF-8"))
    }

    pub fn to_number(self, value: napi_value, what: &str) -> JsResult<f64> {
        if self.type_of(value)? != T_NUMBER {
            return Err(format!("{what} must be a number"));
        }
        let mut n = 0f64;
        check(unsafe { napi_get_value_double(self.0, value, &mut n) }, "napi_get_value_double")?;
        Ok(n)
    }

    /// A string or a Buffer/Uint8Array, as bytes.
    pub fn to_bytes(self, value: napi_value, what: &str) -> JsResult<Vec<u8>> {
        if self.type_of(value)? == T_STRING {
            return Ok(self.to_string(value, what)?.into_bytes());
        }
        let mut is_buffer = false;
        check(unsafe { napi_is_buffer(self.0, value, &mut is_buffer) }, "napi_is_buffer")?;
        if !is_buffer {
            return Err(format!("{what} must be a string or a Buffer"));
        }
        let mut data: *mut c_void = ptr::null_mut();
        let mut len = 0usize;
        check(unsafe { napi_get_buffer_info(self.0, value, &mut data, &mut len) }, "napi_get_buffer_info")?;
        if len == 0 || data.is_null() {
            return Ok(Vec::new());
        }
        Ok(unsafe { std::slice::from_raw_parts(data as *const u8, len) }.to_vec())
    }

    pub fn to_array(self, value: napi_value, what: &str) -> JsResult<Vec<napi_value>> {
        let mut is_array = false;
        check(unsafe { napi_is_array(self.0, value, &mut is_array) }, "napi_is_array")?;
        if !is_array {
            return Err(format!("{what} must be an array"));
        }
        let mut len = 0u32;
        check(unsafe { napi_get_array_length(self.0, value, &mut len) }, "napi_get_array_length")?;
        let mut items = Vec::with_capacity(len as usize);
        for i in 0..len {
            let mut v = ptr::null_mut();
            check(unsafe { napi_get_element(self.0, value, i, &mut v) }, "napi_get_element")?;
            items.push(v);
        }
        Ok(items)
    }

    pub fn to_string_array(self, value: napi_value, what: &str) -> JsResult<Vec<String>> {
        self.to_array(value, what)?
            .into_iter()
            .enumerate()
            .map(|(i, v)| self.to_string(v, &format!("{what}[{i}]")))
            .collect()
    }

    /// A plain object of string values, as (key, value) pairs in property order.
    pub fn to_string_record(self, value: napi_value, what: &str) -> JsResult<Vec<(String, String)>> {
        if self.type_of(value)? != T_OBJECT {
            return Err(format!("{what} must be an object"));
        }
        let mut keys = ptr::null_mut();
        check(unsafe { napi_get_property_names(self.0, value, &mut keys) }, "napi_get_property_names")?;
        let mut pairs = Vec::new();
        for k in self.to_array(keys, what)? {
            let key = self.to_string(k, &format!("a key of {what}"))?;
            let v = self.get(value, &key)?;
            if self.is_nullish(v)? {
                continue;
            }
            pairs.push((key.clone(), self.to_string(v, &format!("{what}.{key}"))?));
        }
        Ok(pairs)
    }
}
