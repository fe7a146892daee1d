//! The simulator's FileTransfer upload servlet: where [`AgentAction::RequestFile`] sends the visitor (`POST
//! {scheme}://{host}/content/rest/fileupload`), and how it checks what arrives.
//!
//! One of the resource families of `server`.
//!
//! The request must be what `wire::Upload` documents and the three peers send: `POST` with the query
//! parameters `orgId` (the session's ChasitorInit `organizationId`), `chatKey` (the session id, i.e. the key
//! up to its first `!`), `fileToken` (one the agent issued to that session and not yet used) and
//! `encoding=UTF-8`, a `multipart/form-data` body with a `file` part that has a `filename` (and, if sent, a
//! `filename` field with the same name), 1 byte to [`MAX_UPLOAD_BYTES`]. Answers: `200 Success` (Inbenta's
//! success test), then a `FileTransfer {type: "Success", fileToken}` to the visitor and a
//! [`VisitorEvent::FileUploaded`] in the session record; 405 for another method; 400 for a missing or wrong
//! parameter or a malformed body; 403 for an unknown or ended chat or an unknown or used token; 413 for a
//! file over the limit; 415 for a body that is not `multipart/form-data`. A refused upload uses no token.
//!
//! [`AgentAction::RequestFile`]: crate::sim::AgentAction::RequestFile

use super::Server;
use super::encoding::Answer;
use super::routing::{Ctx, SESSION_INVALID, query_pairs};
use crate::sim::VisitorEvent;
use crate::wire::{FileTransfer, MAX_UPLOAD_BYTES, Message};
use http::Method;
use http::Request;

/// Where the simulated upload servlet listens.
pub(super) const UPLOAD_PATH: &str = "/content/rest/fileupload";
/// Where `cdmServletUrl` points (not served).
pub(super) const CDM_PATH: &str = "/content/rest/cdm";

/// One part of a `multipart/form-data` body.
#[derive(Debug)]
struct Part<'a> {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    data: &'a [u8],
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let hay = haystack.get(from..)?;
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i.saturating_add(from))
}

/// `boundary` of a `multipart/form-data` content type (quoted or not), `None` for anything else.
fn boundary_of(content_type: &str) -> Option<&str> {
    let mut params = content_type.split(';');
    let essence = params.next()?.trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|b| !b.is_empty() && b.len() <= 70)
}

/// The value of `key="value"` (or `key=value`) in a `Content-Disposition` header.
fn disposition_param(value: &str, key: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case(key) {
            return None;
        }
        let v = v.trim();
        Some(
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
                .to_owned(),
        )
    })
}

fn parse_multipart<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, &'static str> {
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let mut pos = if body.starts_with(delim) {
        0
    } else {
        // A preamble is allowed before the first delimiter line.
        let mut lead = b"\r\n".to_vec();
        lead.extend_from_slice(delim);
        find(body, &lead, 0)
            .ok_or("no opening boundary")?
            .saturating_add(2)
    };
    let mut parts = Vec::new();
    let mut closing = b"\r\n".to_vec();
    closing.extend_from_slice(delim);
    loop {
        pos = pos.saturating_add(delim.len());
        let rest = body.get(pos..).unwrap_or_default();
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        if !rest.starts_with(b"\r\n") {
            return Err("boundary line not followed by CRLF");
        }
        let headers_start = pos.saturating_add(2);
        let headers_end = find(body, b"\r\n\r\n", headers_start).ok_or("part headers never end")?;
        let headers = body.get(headers_start..headers_end).unwrap_or_default();
        let headers = std::str::from_utf8(headers).map_err(|_| "part headers are not UTF-8")?;
        let data_start = headers_end.saturating_add(4);
        let data_end = find(body, &closing, data_start).ok_or("part never closed")?;
        let mut part = Part {
            name: String::new(),
            filename: None,
            content_type: None,
            data: body.get(data_start..data_end).unwrap_or_default(),
        };
        for line in headers.split("\r\n") {
            let Some((name, value)) = line.split_once(':') else {
                return Err("part header without a colon");
            };
            if name.trim().eq_ignore_ascii_case("content-disposition") {
                if !value
                    .trim_start()
                    .to_ascii_lowercase()
                    .starts_with("form-data")
                {
                    return Err("part is not form-data");
                }
                part.name = disposition_param(value, "name").unwrap_or_default();
                part.filename = disposition_param(value, "filename");
            } else if name.trim().eq_ignore_ascii_case("content-type") {
                part.content_type = Some(value.trim().to_owned());
            }
        }
        if part.name.is_empty() {
            return Err("part without a name");
        }
        parts.push(part);
        if parts.len() > 16 {
            return Err("more than 16 parts");
        }
        pos = data_end.saturating_add(2);
    }
}

impl Server {
    /// Serves the upload servlet if `req` is for it; `None` leaves the request to the Chat REST routes.
    pub(super) fn upload_route<B: AsRef<[u8]>>(
        &mut self,
        req: &Request<B>,
        ctx: &mut Ctx,
    ) -> Option<Answer> {
        if req.uri().path() != UPLOAD_PATH {
            return None;
        }
        if self.config.record_transcript {
            // The chat key and the token stay out of the transcript.
            ctx.line = format!("{} {UPLOAD_PATH}", req.method());
        }
        Some(self.upload(req, ctx))
    }

    fn upload<B: AsRef<[u8]>>(&mut self, req: &Request<B>, ctx: &mut Ctx) -> Answer {
        if req.method() != Method::POST {
            return Answer::text(405, "Method Not Allowed");
        }
        let query = query_pairs(req.uri().query());
        let get = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_ref())
                .filter(|v| !v.is_empty())
        };
        let (Some(org_id), Some(chat_key), Some(token), Some(encoding)) = (
            get("orgId"),
            get("chatKey"),
            get("fileToken"),
            get("encoding"),
        ) else {
            return Answer::text(
                400,
                "Missing parameter: orgId, chatKey, fileToken and encoding are required",
            );
        };
        if !encoding.eq_ignore_ascii_case("UTF-8") {
            return Answer::text(400, "Unsupported encoding");
        }
        let Some(&si) = self.by_id.get(chat_key) else {
            return Answer::text(403, SESSION_INVALID);
        };
        ctx.session = Some(si);
        let Some(s) = self.sessions.get(si) else {
            return Answer::text(403, SESSION_INVALID);
        };
        if !s.rec.state.is_live() || s.rec.state.end_reason().is_some() {
            return Answer::text(403, SESSION_INVALID);
        }
        if s.upload.org_id != org_id {
            return Answer::text(400, "Invalid orgId");
        }
        let Some(token_at) = s.upload.tokens.iter().position(|t| t == token) else {
            return Answer::text(403, "Invalid or used file token");
        };
        let content_type = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let Some(boundary) = boundary_of(content_type) else {
            return Answer::text(415, "Expected multipart/form-data with a boundary");
        };
        let body = req.body().as_ref();
        if body.len() > MAX_UPLOAD_BYTES.saturating_add(64 * 1024) {
            return Answer::text(413, "File too large");
        }
        let parts = match parse_multipart(body, boundary) {
            Ok(p) => p,
            Err(why) => return Answer::text(400, &format!("Malformed multipart body: {why}")),
        };
        let Some(file) = parts.iter().find(|p| p.name == "file") else {
            return Answer::text(400, "No file part");
        };
        let Some(filename) = file.filename.clone().filter(|f| !f.is_empty()) else {
            return Answer::text(400, "The file part has no filename");
        };
        if let Some(field) = parts.iter().find(|p| p.name == "filename")
            && field.data != filename.as_bytes()
        {
            return Answer::text(400, "The filename field does not match the file part");
        }
        if file.data.is_empty() {
            return Answer::text(400, "Empty file");
        }
        if file.data.len() > MAX_UPLOAD_BYTES {
            return Answer::text(413, "File too large");
        }
        let len = file.data.len();
        let content_type = file
            .content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into());
        let token = token.to_owned();
        let Some(s) = self.sessions.get_mut(si) else {
            return Answer::text(403, SESSION_INVALID);
        };
        s.upload.tokens.remove(token_at);
        s.rec.visitor_events.push(VisitorEvent::FileUploaded {
            filename: filename.clone(),
            content_type: content_type.clone(),
            len,
        });
        let t = ctx.now;
        if self.config.record_transcript {
            let text = format!("upload accepted: {filename:?}, {len} bytes, {content_type}");
            self.log(t, None, Some(si), text);
        }
        let m = Message::FileTransfer(FileTransfer {
            kind: Some("Success".into()),
            upload_servlet_url: None,
            file_token: Some(token),
            cdm_servlet_url: None,
        });
        self.emit(si, m, t);
        Answer::text(200, "Success")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_parts_are_split_and_named() -> Result<(), &'static str> {
        let body = b"preamble\r\n--B\r\nContent-Disposition: form-data; name=\"filename\"\r\n\r\na.txt\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhi\r\nthere\r\n--B--\r\n";
        let parts = parse_multipart(body, "B")?;
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "filename");
        assert_eq!(parts[0].data, b"a.txt");
        assert_eq!(parts[1].filename.as_deref(), Some("a.txt"));
        assert_eq!(parts[1].content_type.as_deref(), Some("text/plain"));
        assert_eq!(parts[1].data, b"hi\r\nthere");
        Ok(())
    }

    #[test]
    fn malformed_bodies_are_refused_without_panicking() {
        for body in [
            &b""[..],
            b"--B",
            b"--B\r\n",
            b"--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nno end",
            b"--B\r\nno colon\r\n\r\nx\r\n--B--",
            b"--B\r\nContent-Disposition: attachment; name=\"f\"\r\n\r\nx\r\n--B--",
            b"--Bxx",
        ] {
            assert!(parse_multipart(body, "B").is_err(), "{body:?}");
        }
    }

    #[test]
    fn boundary_is_read_from_the_content_type() {
        assert_eq!(
            boundary_of("multipart/form-data; boundary=abc"),
            Some("abc")
        );
        assert_eq!(
            boundary_of("Multipart/Form-Data; charset=x; Boundary=\"a b\""),
            Some("a b")
        );
        assert_eq!(boundary_of("multipart/mixed; boundary=abc"), None);
        assert_eq!(boundary_of("multipart/form-data"), None);
    }
}
