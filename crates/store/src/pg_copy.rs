//! PostgreSQL's binary `COPY … TO STDOUT` format, read incrementally: a monthly report reads
//! millions of spans, and decoding them as query rows costs ~0.6 µs each, most of the report's
//! time; the binary copy stream is a flat run of length-prefixed fields (PostgreSQL docs,
//! "COPY: Binary Format"). Pure parsing: chunks in, rows out, malformed input an error.

use camwatch_core::error::{Error, Result};

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// One row's fields (`None` for SQL NULL), borrowed from the chunk being parsed.
pub type Fields<'a> = [Option<&'a [u8]>];

/// The most columns a row may have here.
const MAX_FIELDS: usize = 24;

/// Incremental reader of one binary COPY stream.
#[derive(Default)]
pub struct CopyReader {
    /// Bytes not yet parsed: at most one incomplete row after each `feed`.
    pending: Vec<u8>,
    header_done: bool,
    trailer_seen: bool,
    rows: u64,
}

impl CopyReader {
    /// Parses every complete row in what has arrived so far plus `chunk`, calling `row` with
    /// each row's fields. PostgreSQL sends a row per message, so the usual chunk is parsed in
    /// place; only an incomplete tail is kept.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        mut row: impl FnMut(&Fields<'_>) -> Result<()>,
    ) -> Result<()> {
        if self.pending.is_empty() {
            let used = self.parse(chunk, &mut row)?;
            self.pending.extend_from_slice(&chunk[used..]);
        } else {
            self.pending.extend_from_slice(chunk);
            let buf = std::mem::take(&mut self.pending);
            let used = self.parse(&buf, &mut row)?;
            self.pending = buf;
            self.pending.drain(..used);
        }
        Ok(())
    }

    /// Parses what `buf` completes; returns the bytes used.
    fn parse(
        &mut self,
        buf: &[u8],
        row: &mut impl FnMut(&Fields<'_>) -> Result<()>,
    ) -> Result<usize> {
        let mut at = 0;
        if !self.header_done {
            match header_len(buf)? {
                Some(n) => {
                    at = n;
                    self.header_done = true;
                }
                None => return Ok(0),
            }
        }
        let mut fields: [Option<&[u8]>; MAX_FIELDS] = [None; MAX_FIELDS];
        'rows: while at < buf.len() {
            if self.trailer_seen {
                return Err(bad("data after the end-of-data marker"));
            }
            let Some(count) = be_i16(buf, at) else { break };
            if count == -1 {
                self.trailer_seen = true;
                at += 2;
                continue;
            }
            if !(0..=MAX_FIELDS as i16).contains(&count) {
                return Err(bad(&format!("row {}: field count {count}", self.rows + 1)));
            }
            let mut p = at + 2;
            for f in fields.iter_mut().take(count as usize) {
                let Some(len) = be_i32(buf, p) else {
                    break 'rows;
                };
                p += 4;
                if len == -1 {
                    *f = None;
                    continue;
                }
                if len < 0 {
                    return Err(bad(&format!("row {}: field length {len}", self.rows + 1)));
                }
                let end = p + len as usize;
                if end > buf.len() {
                    break 'rows;
                }
                *f = Some(&buf[p..end]);
                p = end;
            }
            self.rows += 1;
            row(&fields[..count as usize])?;
            at = p;
        }
        Ok(at)
    }

    /// Checks the stream ended where a stream may end: after the end-of-data marker.
    pub fn finish(&self) -> Result<u64> {
        if !self.trailer_seen || !self.pending.is_empty() {
            return Err(bad(&format!(
                "the stream ended inside a row or before its end marker ({} rows read)",
                self.rows
            )));
        }
        Ok(self.rows)
    }
}

fn bad(what: &str) -> Error {
    Error::internal(format!("PostgreSQL binary COPY stream: {what}"))
}

/// The header's length once all of it has arrived.
fn header_len(buf: &[u8]) -> Result<Option<usize>> {
    let n = buf.len().min(SIGNATURE.len());
    if buf[..n] != SIGNATURE[..n] {
        return Err(bad("no PGCOPY signature"));
    }
    // Signature, flags (4 bytes), extension length (4 bytes) and the extension.
    let Some(ext) = be_i32(buf, 15) else {
        return Ok(None);
    };
    if ext < 0 {
        return Err(bad("negative header extension length"));
    }
    let len = 19 + ext as usize;
    Ok((buf.len() >= len).then_some(len))
}

fn be_i16(b: &[u8], at: usize) -> Option<i16> {
    Some(i16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// A BIGINT field.
pub fn int8(f: Option<&[u8]>) -> Result<Option<i64>> {
    match f {
        None => Ok(None),
        Some(b) => Ok(Some(i64::from_be_bytes(
            b.try_into()
                .map_err(|_| bad("a bigint field is not 8 bytes"))?,
        ))),
    }
}

/// A TEXT field.
pub fn text(f: Option<&[u8]>) -> Result<Option<&str>> {
    f.map(|b| std::str::from_utf8(b).map_err(|_| bad("a text field is not UTF-8")))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A stream as PostgreSQL writes it, for rows of (text, bigint-or-null).
    fn stream(rows: &[(&str, Option<i64>)]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes());
        for (t, n) in rows {
            out.extend_from_slice(&2i16.to_be_bytes());
            out.extend_from_slice(&(t.len() as i32).to_be_bytes());
            out.extend_from_slice(t.as_bytes());
            match n {
                Some(n) => {
                    out.extend_from_slice(&8i32.to_be_bytes());
                    out.extend_from_slice(&n.to_be_bytes());
                }
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out
    }

    fn read(chunks: &[&[u8]]) -> Result<Vec<(String, Option<i64>)>> {
        let mut r = CopyReader::default();
        let mut out = Vec::new();
        for c in chunks {
            r.feed(c, |f| {
                out.push((text(f[0])?.unwrap().to_string(), int8(f[1])?));
                Ok(())
            })?;
        }
        r.finish()?;
        Ok(out)
    }

    #[test]
    fn every_split_point_gives_the_same_rows() {
        let rows = [
            ("a", Some(1)),
            ("", None),
            ("状态", Some(-7)),
            ("xyz", Some(i64::MAX)),
        ];
        let s = stream(&rows);
        let want: Vec<(String, Option<i64>)> =
            rows.iter().map(|(t, n)| (t.to_string(), *n)).collect();
        for cut in 0..=s.len() {
            assert_eq!(read(&[&s[..cut], &s[cut..]]).unwrap(), want, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = s.chunks(1).collect();
        assert_eq!(read(&bytes).unwrap(), want);
    }

    #[test]
    fn malformed_streams_are_errors() {
        let s = stream(&[("a", Some(1))]);
        assert!(read(&[&s[..s.len() - 1]]).is_err(), "no end marker");
        assert!(read(&[&s[..s.len() - 5]]).is_err(), "cut inside a row");
        assert!(read(&[b"COPY\n"]).is_err(), "no signature");
        let mut extra = s.clone();
        extra.extend_from_slice(&[0, 1]);
        assert!(read(&[&extra]).is_err(), "data after the end");
        let mut neg = stream(&[]);
        neg.truncate(19);
        neg.extend_from_slice(&1i16.to_be_bytes());
        neg.extend_from_slice(&(-5i32).to_be_bytes());
        assert!(read(&[&neg]).is_err(), "negative length");
    }

    proptest! {
        /// Random bytes never panic and never hang.
        #[test]
        fn random_bytes_are_handled(b in proptest::collection::vec(any::<u8>(), 0..256), cut in 0usize..256) {
            let mut data = SIGNATURE.to_vec();
            data.extend_from_slice(&b);
            let cut = cut.min(data.len());
            let _ = read(&[&data[..cut], &data[cut..]]);
        }
    }
}
