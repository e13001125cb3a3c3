//! JSON Web Key Sets.

/// Refuses a `local_jwks` that could never verify a token, at load time.
pub fn check_local_jwks(text: &str) -> Result<(), String> {
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not a JWKS: not valid JSON ({e})"))?;
    let keys = doc
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or("not a JWKS: no \"keys\" array")?;
    if keys.is_empty() {
        return Err("the JWKS holds no keys".into());
    }
    Ok(())
}
