//! Finding where a chunked body ends (RFC 9112 §7.1) while its bytes pass through unchanged:
//! chunk sizes, extensions, data and the trailer section are walked, nothing is decoded.

/// Where the walk is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In a chunk-size line's hex digits (`digits` read so far).
    Size {
        value: u64,
        digits: u8,
    },
    /// In a chunk extension, up to the line's end.
    Extension {
        value: u64,
    },
    /// After the size line's CR.
    SizeLf {
        value: u64,
    },
    /// In chunk data, this many bytes left.
    Data(u64),
    /// After chunk data: its CR, then its LF.
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// In a trailer field line.
    TrailerLine,
    /// After the final line's CR.
    EndLf,
    /// The body is complete.
    Done,
}

/// A chunked body walked as its bytes arrive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chunked {
    state: State,
}

/// The bytes are not a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

impl Chunked {
    pub(crate) fn new() -> Chunked {
        Chunked {
            state: State::Size {
                value: 0,
                digits: 0,
            },
        }
    }

    /// True once the last chunk and the trailer section are through.
    pub(crate) fn done(&self) -> bool {
        self.state == State::Done
    }

    /// Walks `bytes`; returns how many belong to the body (all of them unless it ends inside).
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Result<usize, Malformed> {
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            self.state = match self.state {
                State::Done => return Ok(i),
                State::Data(left) => {
                    let take = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len() - i);
                    i += take;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data(left)
                    };
                    continue;
                }
                State::Size { value, digits } => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        if digits >= 15 {
                            return Err(Malformed);
                        }
                        let d = (b as char).to_digit(16).unwrap_or(0);
                        State::Size {
                            value: value * 16 + u64::from(d),
                            digits: digits + 1,
                        }
                    }
                    _ if digits == 0 => return Err(Malformed),
                    b';' | b' ' | b'\t' => State::Extension { value },
                    b'\r' => State::SizeLf { value },
                    b'\n' => after_size(value),
                    _ => return Err(Malformed),
                },
                State::Extension { value } => match b {
                    b'\r' => State::SizeLf { value },
                    b'\n' => after_size(value),
                    _ => State::Extension { value },
                },
                State::SizeLf { value } => match b {
                    b'\n' => after_size(value),
                    _ => return Err(Malformed),
                },
                State::DataCr => match b {
                    b'\r' => State::DataLf,
                    b'\n' => State::Size {
                        value: 0,
                        digits: 0,
                    },
                    _ => return Err(Malformed),
                },
                State::DataLf => match b {
                    b'\n' => State::Size {
                        value: 0,
                        digits: 0,
                    },
                    _ => return Err(Malformed),
                },
                State::TrailerStart => match b {
                    b'\r' => State::EndLf,
                    b'\n' => State::Done,
                    _ => State::TrailerLine,
                },
                State::TrailerLine => match b {
                    b'\n' => State::TrailerStart,
                    _ => State::TrailerLine,
                },
                State::EndLf => match b {
                    b'\n' => State::Done,
                    _ => return Err(Malformed),
                },
            };
            i += 1;
        }
        Ok(i)
    }
}

fn after_size(value: u64) -> State {
    if value == 0 {
        State::TrailerStart
    } else {
        State::Data(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_is_found_in_any_split() {
        let body = b"5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        let end = body.len() - 4;
        for split in 0..body.len() {
            let mut c = Chunked::new();
            let a = c.feed(&body[..split]).unwrap();
            assert_eq!(a, split.min(end));
            let b = c.feed(&body[split..]).unwrap();
            assert_eq!(a + b, end, "split at {split}");
            assert!(c.done());
        }
    }

    #[test]
    fn malformed_bodies_are_refused() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"5\r\nhelloX",
            b"1234567890abcdef0\r\n",
            b"0\r\n\rX",
        ] {
            assert_eq!(Chunked::new().feed(bad), Err(Malformed), "{bad:?}");
        }
    }
}
