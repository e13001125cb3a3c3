//! Durations written as in Envoy's JSON: `"5s"`, `"1.5s"`; `"500ms"` is also accepted.

use std::time::Duration;

/// Parses `"<seconds>[.<fraction>]s"` or `"<millis>ms"`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration; write it like \"5s\", \"1.5s\" or \"500ms\"");
    if let Some(ms) = text.strip_suffix("ms") {
        if ms.is_empty() || !ms.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        return ms
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| bad());
    }
    let secs = text.strip_suffix('s').ok_or_else(bad)?;
    let (whole, frac) = match secs.split_once('.') {
        Some((w, f)) => (w, f),
        None => (secs, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 9 {
        return Err(bad());
    }
    if secs.ends_with('.') {
        return Err(bad());
    }
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    };
    Ok(Duration::new(whole, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[test]
    #[wasm_bindgen_test]
    fn parses_envoy_style_durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("600s"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0.000000001s"), Ok(Duration::from_nanos(1)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    }

    #[test]
    #[wasm_bindgen_test]
    fn refuses_anything_else() {
        for bad in [
            "",
            "5",
            "s",
            "-1s",
            "1.s",
            ".5s",
            "5 s",
            "5m",
            "1e3s",
            "0.0000000001s",
            "ms",
            "1.5ms",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
