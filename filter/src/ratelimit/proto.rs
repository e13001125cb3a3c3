//! The few messages of `envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`
//! the filter sends and reads, derived with prost from hand-written structs: the
//! field numbers and types are those of Envoy's `rls.proto` and
//! `envoy/extensions/common/ratelimit/v3/ratelimit.proto`; fields the filter
//! never uses are left out (protobuf skips unknown fields when decoding).

/// gRPC service and method names.
pub const SERVICE: &str = "envoy.service.ratelimit.v3.RateLimitService";
pub const METHOD: &str = "ShouldRateLimit";

#[derive(Clone, PartialEq, prost::Message)]
pub struct RateLimitRequest {
    #[prost(string, tag = "1")]
    pub domain: String,
    #[prost(message, repeated, tag = "2")]
    pub descriptors: Vec<RateLimitDescriptor>,
    /// 0 means 1 to the service; per-descriptor `hits_addend` overrides it.
    #[prost(uint32, tag = "3")]
    pub hits_addend: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RateLimitDescriptor {
    #[prost(message, repeated, tag = "1")]
    pub entries: Vec<Entry>,
    /// `google.protobuf.UInt64Value`: present with 0 means "check only".
    #[prost(message, optional, tag = "3")]
    pub hits_addend: Option<UInt64Value>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Entry {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct UInt64Value {
    #[prost(uint64, tag = "1")]
    pub value: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RateLimitResponse {
    #[prost(enumeration = "Code", tag = "1")]
    pub overall_code: i32,
    #[prost(message, repeated, tag = "2")]
    pub statuses: Vec<DescriptorStatus>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum Code {
    Unknown = 0,
    Ok = 1,
    OverLimit = 2,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DescriptorStatus {
    #[prost(enumeration = "Code", tag = "1")]
    pub code: i32,
    #[prost(message, optional, tag = "2")]
    pub current_limit: Option<RateLimit>,
    #[prost(uint32, tag = "3")]
    pub limit_remaining: u32,
    #[prost(message, optional, tag = "4")]
    pub duration_until_reset: Option<Duration>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RateLimit {
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(uint32, tag = "1")]
    pub requests_per_unit: u32,
    #[prost(enumeration = "Unit", tag = "2")]
    pub unit: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum Unit {
    Unknown = 0,
    Second = 1,
    Minute = 2,
    Hour = 3,
    Day = 4,
    Month = 5,
    Year = 6,
    Week = 7,
}

impl Unit {
    /// The window in seconds, as Envoy's `x-ratelimit-limit` quota policy writes it
    /// (0: unknown, left out).
    pub fn seconds(self) -> u64 {
        match self {
            Unit::Unknown => 0,
            Unit::Second => 1,
            Unit::Minute => 60,
            Unit::Hour => 3600,
            Unit::Day => 86_400,
            Unit::Week => 7 * 86_400,
            Unit::Month => 30 * 86_400,
            Unit::Year => 365 * 86_400,
        }
    }
}

/// `google.protobuf.Duration`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Duration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[test]
    #[wasm_bindgen_test]
    fn request_bytes_are_the_wire_format_envoy_sends() {
        let request = RateLimitRequest {
            domain: "d".into(),
            descriptors: vec![RateLimitDescriptor {
                entries: vec![Entry {
                    key: "k".into(),
                    value: "v".into(),
                }],
                hits_addend: Some(UInt64Value { value: 0 }),
            }],
            hits_addend: 1,
        };
        // domain=1 "d"; descriptors=2 { entries=1 { key=1 "k", value=2 "v" }, hits_addend=3 {} }; hits_addend=3 1
        assert_eq!(
            request.encode_to_vec(),
            [0x0a, 1, b'd', 0x12, 10, 0x0a, 6, 0x0a, 1, b'k', 0x12, 1, b'v', 0x1a, 0, 0x18, 1]
        );
    }

    #[test]
    #[wasm_bindgen_test]
    fn responses_with_unknown_fields_decode() {
        // overall_code OVER_LIMIT, one status { code 2, limit_remaining 0,
        // duration_until_reset { seconds 7 } }, then field 5 (raw_body) it skips.
        let bytes = [
            0x08, 2, 0x12, 6, 0x08, 2, 0x22, 2, 0x08, 7, 0x2a, 2, b'h', b'i',
        ];
        let r = RateLimitResponse::decode(&bytes[..]).unwrap();
        assert_eq!(r.overall_code, Code::OverLimit as i32);
        assert_eq!(r.statuses[0].duration_until_reset.unwrap().seconds, 7);
    }
}
