//! File contents as data URLs, encoded the way Butane does it: the smallest of percent-encoding,
//! base64, and base64 of gzip (then `compression: gzip`).

use std::io::Write as _;

use base64::Engine as _;

/// A file's contents for Ignition: a `data:` URL and its compression (`None` = stored as is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataUrl {
    /// The `data:` URL.
    pub source: String,
    /// `Some("gzip")` when the payload is gzip-compressed.
    pub compression: Option<&'static str>,
}

/// Encode `bytes` like Butane's `MakeDataURL`: keep the shortest of `data:,<percent-encoded>` and
/// `data:;base64,<base64>`; then use `data:;base64,<base64(gzip -9)>` only if it is shorter
/// still, counting the `gzip` compression field against it.
#[must_use]
pub fn encode(bytes: &[u8]) -> DataUrl {
    let pct = format!("data:,{}", percent_encode(bytes));
    let b64 = format!(
        "data:;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    );
    let mut best = if b64.len() < pct.len() { b64 } else { pct };
    let gz = format!(
        "data:;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(gzip(bytes))
    );
    if gz.len() + "gzip".len() < best.len() {
        return DataUrl {
            source: gz,
            compression: Some("gzip"),
        };
    }
    best.shrink_to_fit();
    DataUrl {
        source: best,
        compression: None,
    }
}

/// RFC 2397 escaping as Go's `dataurl` package does it: unreserved characters stay.
fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Deterministic gzip at the best compression: no file name, modification time 0.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).expect("writing to memory cannot fail");
    enc.finish().expect("writing to memory cannot fail")
}

/// Decode a data URL made by [`encode`] (for checks and tests).
///
/// # Panics
/// On a URL [`encode`] would not make.
#[must_use]
pub fn decode(url: &DataUrl) -> Vec<u8> {
    use std::io::Read as _;
    let raw = if let Some(b) = url.source.strip_prefix("data:;base64,") {
        base64::engine::general_purpose::STANDARD
            .decode(b)
            .expect("valid base64")
    } else {
        let p = url.source.strip_prefix("data:,").expect("data URL");
        let mut out = Vec::new();
        let b = p.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).expect("ascii");
                out.push(u8::from_str_radix(hex, 16).expect("hex"));
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    };
    if url.compression == Some("gzip") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    } else {
        raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_smallest_and_round_trips() {
        let tiny = encode(b"REBOOT_STRATEGY=reboot\n");
        assert_eq!(tiny.source, "data:,REBOOT_STRATEGY%3Dreboot%0A");
        assert_eq!(tiny.compression, None);

        let binary = encode(&[0u8, 255, 1, 254, 2, 253, 3, 252]);
        assert!(binary.source.starts_with("data:;base64,"));
        assert_eq!(binary.compression, None);

        let text = "line of a long and repetitive file\n".repeat(100);
        let big = encode(text.as_bytes());
        assert_eq!(big.compression, Some("gzip"));
        assert!(big.source.len() < text.len() / 4);

        for input in [&b""[..], b"a b", text.as_bytes(), &[0, 1, 2, 200]] {
            assert_eq!(decode(&encode(input)), input);
        }
        // Deterministic: no timestamp in the gzip header.
        assert_eq!(encode(text.as_bytes()), encode(text.as_bytes()));
    }
}
