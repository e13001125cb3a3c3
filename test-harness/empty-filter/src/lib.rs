//! A proxy-wasm module that does nothing: the floor any proxy-wasm filter pays
//! (Envoy's host side and the VM calls), without the Rust SDK's dispatch, so
//! the benchmark can tell the cost of the Wasm machinery from toolguard's own.
//!
//! With the plugin configuration `host_calls` it makes, on each request's
//! headers, the six host calls toolguard makes for a cached token with
//! AgentCore headers (read the header map, the clock, 32 random bytes for a
//! session id, one counter, two header writes) and nothing else: the floor of
//! a filter that does that work through the proxy-wasm ABI.
//!
//! The ABI is proxy-wasm 0.2.1, the version Envoy speaks; return values follow
//! it: 1 = true for the lifecycle calls, 0 = `Continue` for the HTTP ones.

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

/// Envoy copies configuration and header data into the module through this.
#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    let mut buf = Vec::<u8>::with_capacity(size.max(1));
    let ptr = buf.as_mut_ptr();
    std::mem::forget(buf);
    ptr
}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(_context_id: u32, _parent_id: u32) {}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(_root_id: u32, _config_size: usize) -> u32 {
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(_root_id: u32, config_size: usize) -> u32 {
    let (mut ptr, mut size) = (std::ptr::null_mut(), 0usize);
    // SAFETY: the host writes a buffer it allocated through
    // `proxy_on_memory_allocate` (a leaked Vec of that size) and its length.
    let config = unsafe {
        if proxy_get_buffer_bytes(PLUGIN_CONFIGURATION, 0, config_size, &mut ptr, &mut size) != 0
            || ptr.is_null()
        {
            Vec::new()
        } else {
            Vec::from_raw_parts(ptr, size, size.max(1))
        }
    };
    if config.windows(10).any(|w| w == b"host_calls") {
        let name = b"toolguard.jwt.allowed";
        // SAFETY: plain out-parameter writes into this module's statics.
        unsafe {
            proxy_define_metric(COUNTER, name.as_ptr(), name.len(), &raw mut METRIC);
            HOST_CALLS = true;
        }
    }
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(_id: u32, _headers: usize, _end: u32) -> u32 {
    // SAFETY: a single-threaded VM; the statics are written only in configure.
    if unsafe { HOST_CALLS } {
        toolguards_host_calls();
    }
    0
}

const PLUGIN_CONFIGURATION: u32 = 7;
const REQUEST_HEADERS: u32 = 0;
const COUNTER: u32 = 0;
static mut HOST_CALLS: bool = false;
static mut METRIC: u32 = 0;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_buffer_bytes(
        buffer: u32,
        start: usize,
        len: usize,
        ptr: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(map: u32, ptr: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_get_current_time_nanoseconds(time: *mut u64) -> u32;
    fn proxy_define_metric(kind: u32, name: *const u8, len: usize, id: *mut u32) -> u32;
    fn proxy_increment_metric(id: u32, by: i64) -> u32;
    fn proxy_replace_header_map_value(
        map: u32,
        key: *const u8,
        key_len: usize,
        value: *const u8,
        value_len: usize,
    ) -> u32;
}

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn random_get(buf: *mut u8, len: usize) -> u16;
}

/// The values are the ones the benchmark's probe expects of toolguard (the
/// token's `sub` in the claim header), so it checks this module the same way.
fn toolguards_host_calls() {
    let (mut ptr, mut size) = (std::ptr::null_mut(), 0usize);
    let mut now = 0u64;
    let mut random = [0u8; 32];
    let claim: (&[u8], &[u8]) = (
        b"x-amzn-bedrock-agentcore-runtime-custom-user-sub",
        b"test-user",
    );
    let session: (&[u8], &[u8]) = (
        b"x-amzn-bedrock-agentcore-runtime-session-id",
        b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    );
    // SAFETY: out-parameters into locals; the header map buffer is the host's
    // allocation through `proxy_on_memory_allocate`, freed here.
    unsafe {
        if proxy_get_header_map_pairs(REQUEST_HEADERS, &mut ptr, &mut size) == 0 && !ptr.is_null() {
            drop(Vec::from_raw_parts(ptr, size, size.max(1)));
        }
        proxy_get_current_time_nanoseconds(&mut now);
        random_get(random.as_mut_ptr(), random.len());
        proxy_increment_metric(METRIC, 1);
        for (name, value) in [claim, session] {
            proxy_replace_header_map_value(
                REQUEST_HEADERS,
                name.as_ptr(),
                name.len(),
                value.as_ptr(),
                value.len(),
            );
        }
    }
}

#[no_mangle]
pub extern "C" fn proxy_on_request_body(_id: u32, _size: usize, _end: u32) -> u32 {
    0
}

#[no_mangle]
pub extern "C" fn proxy_on_request_trailers(_id: u32, _trailers: usize) -> u32 {
    0
}

#[no_mangle]
pub extern "C" fn proxy_on_response_headers(_id: u32, _headers: usize, _end: u32) -> u32 {
    0
}

#[no_mangle]
pub extern "C" fn proxy_on_response_body(_id: u32, _size: usize, _end: u32) -> u32 {
    0
}

#[no_mangle]
pub extern "C" fn proxy_on_response_trailers(_id: u32, _trailers: usize) -> u32 {
    0
}

#[no_mangle]
pub extern "C" fn proxy_on_done(_id: u32) -> u32 {
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_log(_id: u32) {}

#[no_mangle]
pub extern "C" fn proxy_on_delete(_id: u32) {}
