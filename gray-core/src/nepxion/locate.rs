//! Finds where a JSON path (`a.b[2].c`) is in JSON text, so that errors found after parsing
//! (an unknown route id, a bad weight) can still name a line and column.

/// 1-based line and column of the value at `path`, or `None` if the path is not in the text.
pub(crate) fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let mut pos = ws(b, 0);
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('[') {
            let (idx, r) = r.split_once(']')?;
            let idx: usize = idx.parse().ok()?;
            pos = element(b, pos, idx)?;
            rest = r;
        } else {
            let r = rest.strip_prefix('.').unwrap_or(rest);
            let (p, used) = member(b, pos, r)?;
            pos = p;
            rest = &r[used..];
        }
    }
    let (line, col) = crate::error::line_col(text, pos);
    Some((line?, col?))
}

fn ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// End of the string starting at `i` (on the opening quote), and its raw contents.
fn string(b: &[u8], i: usize) -> Option<(usize, &[u8])> {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return Some((j + 1, &b[i + 1..j])),
            _ => j += 1,
        }
    }
    None
}

/// End of the value starting at `i` (bounded nesting depth; the text already parsed).
fn skip(b: &[u8], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = i;
    loop {
        match *b.get(j)? {
            b'"' => j = string(b, j)?.0,
            b'{' | b'[' => {
                depth += 1;
                j += 1;
            }
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                j += 1;
            }
            b',' | b':' if depth == 0 => return Some(j),
            _ => j += 1,
        }
        if depth == 0 && (j >= b.len() || matches!(b[j], b',' | b'}' | b']' | b':')) {
            return Some(j);
        }
        if depth == 0 && b[j].is_ascii_whitespace() {
            return Some(j);
        }
    }
}

/// Start of element `idx` of the array at `i`.
fn element(b: &[u8], i: usize, idx: usize) -> Option<usize> {
    if b.get(i) != Some(&b'[') {
        return None;
    }
    let mut j = ws(b, i + 1);
    for _ in 0..idx {
        j = ws(b, skip(b, j)?);
        if b.get(j) != Some(&b',') {
            return None;
        }
        j = ws(b, j + 1);
    }
    Some(j)
}

/// Start of the member value of the object at `i` whose key is the longest prefix of `path`
/// that ends at `.`, `[` or the end; and how many bytes of `path` the key used.
fn member(b: &[u8], i: usize, path: &str) -> Option<(usize, usize)> {
    if b.get(i) != Some(&b'{') {
        return None;
    }
    let mut j = ws(b, i + 1);
    let mut best: Option<(usize, usize)> = None;
    while b.get(j) == Some(&b'"') {
        let (end, key) = string(b, j)?;
        let k = ws(b, end);
        if b.get(k) != Some(&b':') {
            return None;
        }
        let v = ws(b, k + 1);
        let p = path.as_bytes();
        if p.starts_with(key)
            && matches!(p.get(key.len()), None | Some(b'.') | Some(b'['))
            && best.is_none_or(|(_, n)| key.len() > n)
        {
            best = Some((v, key.len()));
        }
        j = ws(b, skip(b, v)?);
        if b.get(j) != Some(&b',') {
            break;
        }
        j = ws(b, j + 1);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::locate;

    #[test]
    fn finds_nested_paths_and_keys_with_dots() {
        let t = "{\n  \"a\": {\"b\": [1, {\"c\": \"x\"}]},\n  \"w\": {\"1.0\": 90, \"1\": 5}\n}";
        assert_eq!(locate(t, "a.b[1].c"), Some((2, 24)));
        assert_eq!(locate(t, "a.b[0]"), Some((2, 15)));
        assert_eq!(locate(t, "w.1.0"), Some((3, 16)));
        assert_eq!(locate(t, "w.1"), Some((3, 25)));
        assert_eq!(locate(t, "a.zz"), None);
        assert_eq!(locate(t, "a.b[7]"), None);
        assert_eq!(locate("[", "a"), None);
        assert_eq!(locate("{\"a\":\"\\\"}", "a.b"), None);
    }
}
