//! `${VAR}` and `${VAR:-default}` expansion in config strings, and `$$` for a literal `$`. The environment is
//! passed in (a lookup function), so tests and `import-config` need not touch the process environment.

/// Expands `text`; an undefined variable without default is an error naming it.
pub fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or_else(|| format!("unterminated '${{' in '{text}'"))?;
            let spec = &body[..end];
            let (name, default) = match spec.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (spec, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("invalid variable name '{name}' in '{text}'"));
            }
            match (env(name).filter(|v| !v.is_empty()), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(format!("environment variable {name} is not set (use ${{{name}:-default}})"));
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The process environment as a lookup.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "HOME").then(|| "/home/x".to_string())
    }

    #[test]
    fn expands_defaults_and_escapes() {
        assert_eq!(expand("${HOME}/a", &env).unwrap(), "/home/x/a");
        assert_eq!(expand("${NOPE:-http://x/v1}", &env).unwrap(), "http://x/v1");
        assert_eq!(expand("${NOPE:-}", &env).unwrap(), "");
        assert_eq!(expand("cost $$5 $x", &env).unwrap(), "cost $5 $x");
        assert!(expand("${NOPE}", &env).unwrap_err().contains("NOPE"));
        assert!(expand("${HOME", &env).is_err());
        assert!(expand("${A B}", &env).is_err());
    }
}
