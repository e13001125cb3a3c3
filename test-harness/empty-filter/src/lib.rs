//! A proxy-wasm module that does nothing: the floor any proxy-wasm filter pays
//! (Envoy's host side and the VM calls), without the Rust SDK's dispatch, so
//! the benchmark can tell the cost of the Wasm machinery from toolguard's own.
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
pub extern "C" fn proxy_on_configure(_root_id: u32, _config_size: usize) -> u32 {
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(_id: u32, _headers: usize, _end: u32) -> u32 {
    0
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
