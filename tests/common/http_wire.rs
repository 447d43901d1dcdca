//! Reading one HTTP/1.1 request off a socket, for the fakes of internet services: the head, then a
//! body by Content-Length or chunked transfer coding; and `multipart/form-data` split into parts.

use std::io::Read;
use std::time::Duration;

pub struct HttpRequest {
    pub method: String,
    pub path: String,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// One request, or `None` when the client closed the connection or sent garbage.
pub fn read_request(stream: &mut std::net::TcpStream) -> Option<HttpRequest> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut data = Vec::new();
    let mut buffer = [0u8; 65_536];
    let end = loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut buffer).ok().filter(|n| *n > 0)?;
        data.extend_from_slice(&buffer[..n]);
    };
    let head = String::from_utf8_lossy(&data[..end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next()?.split_whitespace();
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let mut rest = data[end + 4..].to_vec();
    let mut more = |rest: &mut Vec<u8>| -> Option<()> {
        let n = stream.read(&mut buffer).ok().filter(|n| *n > 0)?;
        rest.extend_from_slice(&buffer[..n]);
        Some(())
    };
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(at) = rest.windows(2).position(|w| w == b"\r\n") {
                    break at;
                }
                more(&mut rest)?;
            };
            let size_text = String::from_utf8_lossy(&rest[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            while rest.len() < line_end + 2 + size + 2 {
                more(&mut rest)?;
            }
            body.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
            rest.drain(..line_end + 2 + size + 2);
            if size == 0 {
                break body;
            }
        }
    } else {
        let length: usize =
            headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
        while rest.len() < length {
            more(&mut rest)?;
        }
        rest.truncate(length);
        rest
    };
    Some(HttpRequest { method, path, headers, body })
}

/// One part of a `multipart/form-data` body.
#[derive(Debug, Clone)]
pub struct FormPart {
    pub name: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

/// The parts of a `multipart/form-data` body (RFC 7578), by the boundary in `content_type`.
pub fn multipart(content_type: &str, body: &[u8]) -> Vec<FormPart> {
    let Some(boundary) = content_type.split(';').find_map(|p| p.trim().strip_prefix("boundary=")) else {
        return Vec::new();
    };
    let delimiter = format!("--{}", boundary.trim_matches('"')).into_bytes();
    let mut parts = Vec::new();
    let mut positions = Vec::new();
    let mut at = 0;
    while let Some(found) = body[at..].windows(delimiter.len()).position(|w| w == delimiter.as_slice()) {
        positions.push(at + found);
        at += found + delimiter.len();
    }
    for pair in positions.windows(2) {
        let section = &body[pair[0] + delimiter.len()..pair[1]];
        let section = section.strip_prefix(b"\r\n").unwrap_or(section);
        let section = section.strip_suffix(b"\r\n").unwrap_or(section);
        let Some(split) = section.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&section[..split]).into_owned();
        let mut part =
            FormPart { name: String::new(), file_name: None, content_type: None, data: section[split + 4..].to_vec() };
        for line in head.lines() {
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            match name.trim().to_ascii_lowercase().as_str() {
                "content-disposition" => {
                    for field in value.split(';').map(str::trim) {
                        if let Some(v) = field.strip_prefix("name=") {
                            part.name = v.trim_matches('"').to_string();
                        } else if let Some(v) = field.strip_prefix("filename=") {
                            part.file_name = Some(v.trim_matches('"').to_string());
                        }
                    }
                }
                "content-type" => part.content_type = Some(value.trim().to_string()),
                _ => {}
            }
        }
        parts.push(part);
    }
    parts
}
