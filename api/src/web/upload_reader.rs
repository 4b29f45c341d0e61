//! Reading an upload form as it streams in: its photos (counted per file,
//! per request and per process, refused the moment a bound is passed, then
//! handed to [`super::images`] to check and re-encode) and its text fields.

use std::collections::HashMap;

use axum::{
    extract::{
        Multipart,
        multipart::{Field, MultipartError},
    },
    http::StatusCode,
};

use super::images::{
    FORM_BYTES, Held, MAX_FILE_BYTES, MAX_IMAGES, Processed, Uploads, process_async, refused,
    too_large,
};
use crate::error::ApiError;

/// Longest text field kept (a description is at most 5,000 characters).
const MAX_TEXT_BYTES: usize = 64 * 1024;

/// A multipart form as read: its pictures (field `images`, processed) and the
/// text fields asked for.
#[derive(Default)]
pub struct Upload {
    pub photos: Vec<Processed>,
    pub fields: HashMap<String, String>,
}

/// What one upload request may still send, in bytes.
struct RequestBytes(usize);

impl RequestBytes {
    fn take(&mut self, bytes: usize) -> Result<(), ApiError> {
        self.0 = self.0.checked_sub(bytes).ok_or_else(too_large)?;
        Ok(())
    }
}

fn unreadable(err: MultipartError) -> ApiError {
    if let Some(refusal) = super::upload_body::Refusal::of(&err) {
        return refusal.answer();
    }
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large();
    }
    ApiError::unprocessable(
        "invalid_image",
        format!("the upload could not be read: {err}"),
    )
}

/// Reads one file as it streams in, refusing it (and reading no further)
/// the moment it passes 5 MB, the request's bytes or the process's.
async fn read_file(
    uploads: &Uploads,
    field: &mut Field<'_>,
    name: &str,
    request: &mut RequestBytes,
) -> Result<Held, ApiError> {
    let mut file = Held {
        bytes: Vec::new(),
        reserved: uploads.reserve(),
    };
    while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
        request.take(chunk.len())?;
        if file.bytes.len() + chunk.len() > MAX_FILE_BYTES {
            return Err(refused(format!("{name} is over 5 MB")));
        }
        file.reserved.grow(chunk.len())?;
        file.bytes.extend_from_slice(&chunk);
    }
    Ok(file)
}

/// Reads one text field, at most [`MAX_TEXT_BYTES`].
async fn read_text(
    field: &mut Field<'_>,
    name: &str,
    request: &mut RequestBytes,
) -> Result<String, ApiError> {
    let mut text = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
        request.take(chunk.len())?;
        if text.len() + chunk.len() > MAX_TEXT_BYTES {
            return Err(ApiError::unprocessable(
                "invalid_body",
                format!("the field `{name}` is over 64 KiB"),
            ));
        }
        text.extend_from_slice(&chunk);
    }
    String::from_utf8(text).map_err(|_| {
        ApiError::unprocessable(
            "invalid_text",
            format!("the field `{name}` is not valid UTF-8"),
        )
    })
}

/// Reads `form`: every non-empty `images` file is checked and re-encoded (at
/// most `room`: what the lot can still take); text fields for which `keep`
/// is true are kept, the rest read past (counted, not kept). Before the first byte of a
/// file is read, `before_files` judges the text fields read so far (a page's
/// CSRF token): a form whose files come before what it needs is refused
/// without a file read. Bytes are counted as they arrive: a file over 5 MB is
/// 422 `invalid_image`, a request over `room` files' worth 413
/// `payload_too_large`, all uploads in the process over
/// [`super::images::UploadLimits::in_flight_bytes`] 503 `busy`. On a refusal, what was read so far comes
/// back with it (a page shows its form again as typed).
pub async fn read_upload(
    uploads: &Uploads,
    form: &mut Multipart,
    keep: impl Fn(&str) -> bool,
    room: usize,
    mut before_files: impl FnMut(&HashMap<String, String>) -> Result<(), ApiError>,
) -> Result<Upload, (Upload, ApiError)> {
    let mut upload = Upload::default();
    let mut request = RequestBytes(room.min(MAX_IMAGES) * MAX_FILE_BYTES + FORM_BYTES);
    let mut judged = false;
    loop {
        let mut field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return Ok(upload),
            Err(err) => return Err((upload, unreadable(err))),
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "images" {
            if !judged {
                if let Err(err) = before_files(&upload.fields) {
                    return Err((upload, err));
                }
                judged = true;
            }
            let file = field.file_name().unwrap_or("a file").to_owned();
            if upload.photos.len() >= room {
                // An empty part is a file input left empty: not a photo.
                match field.chunk().await {
                    Ok(None) => continue,
                    Ok(Some(_)) => {
                        let err = ApiError::unprocessable(
                            "too_many_images",
                            format!("a lot has at most {MAX_IMAGES} photos"),
                        );
                        return Err((upload, err));
                    }
                    Err(err) => return Err((upload, unreadable(err))),
                }
            }
            let held = match read_file(uploads, &mut field, &file, &mut request).await {
                Ok(held) if held.bytes.is_empty() => continue,
                Ok(held) => held,
                Err(err) => return Err((upload, err)),
            };
            match process_async(uploads, file, held).await {
                Ok(photo) => upload.photos.push(photo),
                Err(err) => return Err((upload, err)),
            }
        } else if keep(&name) {
            match read_text(&mut field, &name, &mut request).await {
                Ok(text) => {
                    upload.fields.insert(name, text);
                }
                Err(err) => return Err((upload, err)),
            }
        } else {
            // Skipped, but its bytes count: they are the request's too.
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => {
                        if let Err(err) = request.take(chunk.len()) {
                            return Err((upload, err));
                        }
                    }
                    Ok(None) => break,
                    Err(err) => return Err((upload, unreadable(err))),
                }
            }
        }
    }
}
