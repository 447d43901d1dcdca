//! Serving a file with HTTP Range (RFC 9110 §14): what a `<video>` needs to seek and what a
//! download manager needs to resume. One range per request (browsers ask for one); the file is
//! streamed from disk, never read whole into memory.

use super::respond::ApiResult;
use crate::error::Error;
use actix_web::{HttpRequest, HttpResponse};
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// The byte range `[start, end]` (inclusive) a `Range` header asks of a `len`-byte file: `None`
/// for the whole file (no header, or one this does not serve, such as several ranges), `Err` for
/// a range outside the file.
pub fn requested_range(header: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.split_once('-') else { return Ok(None) };
    let (first, last) = (first.trim(), last.trim());
    let range = match (first.parse::<u64>(), last.parse::<u64>()) {
        // `bytes=-500`: the last 500 bytes.
        (Err(_), Ok(suffix)) if first.is_empty() && suffix > 0 => {
            (len.saturating_sub(suffix), len.checked_sub(1).ok_or(())?)
        }
        (Ok(start), Err(_)) if last.is_empty() => (start, len.checked_sub(1).ok_or(())?),
        (Ok(start), Ok(end)) if start <= end => (start, end.min(len.saturating_sub(1))),
        _ => return Ok(None),
    };
    if range.0 >= len {
        return Err(());
    }
    Ok(Some(range))
}

/// `path` as `content_type`, whole or the asked range; `download` names it as an attachment.
pub async fn serve_file(req: &HttpRequest, path: &Path, content_type: &str, download: Option<&str>) -> ApiResult {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| Error::not_found("the file is gone; ask again").with_source(e))?;
    let len = file.metadata().await.map_err(|e| Error::internal("cannot read a file's size").with_source(e))?.len();
    let header = req.headers().get("range").and_then(|v| v.to_str().ok());
    let mut response = match requested_range(header, len) {
        Err(()) => {
            return Ok(HttpResponse::RangeNotSatisfiable()
                .insert_header(("Content-Range", format!("bytes */{len}")))
                .finish());
        }
        Ok(None) => HttpResponse::Ok(),
        Ok(Some((start, end))) => {
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(|e| Error::internal("cannot seek in a file").with_source(e))?;
            let mut partial = HttpResponse::PartialContent();
            partial.insert_header(("Content-Range", format!("bytes {start}-{end}/{len}")));
            let body = tokio_util::io::ReaderStream::new(file.take(end - start + 1));
            return Ok(finish(partial, content_type, download).no_chunking(end - start + 1).streaming(body));
        }
    };
    let body = tokio_util::io::ReaderStream::new(file);
    Ok(finish(response.take(), content_type, download).no_chunking(len).streaming(body))
}

fn finish(
    mut response: actix_web::HttpResponseBuilder,
    content_type: &str,
    download: Option<&str>,
) -> actix_web::HttpResponseBuilder {
    response
        .content_type(content_type)
        .insert_header(("Accept-Ranges", "bytes"))
        .insert_header(("Cache-Control", "private, no-store"));
    if let Some(name) = download {
        response.insert_header(("Content-Disposition", format!("attachment; filename=\"{name}\"")));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_browsers_send_them() {
        assert_eq!(requested_range(None, 1000), Ok(None));
        assert_eq!(requested_range(Some("bytes=0-"), 1000), Ok(Some((0, 999))));
        assert_eq!(requested_range(Some("bytes=100-199"), 1000), Ok(Some((100, 199))));
        assert_eq!(requested_range(Some("bytes=900-5000"), 1000), Ok(Some((900, 999))));
        assert_eq!(requested_range(Some("bytes=-100"), 1000), Ok(Some((900, 999))));
        assert_eq!(requested_range(Some("bytes=1000-"), 1000), Err(()));
        assert_eq!(requested_range(Some("bytes=0-1,5-6"), 1000), Ok(None), "several ranges: the whole file");
        assert_eq!(requested_range(Some("items=0-1"), 1000), Ok(None));
        assert_eq!(requested_range(Some("bytes=0-"), 0), Err(()));
    }
}
