//! Uploaded pictures: read from a multipart form, checked by their content
//! (JPEG, PNG or WebP, whatever the file is called), decoded under limits and
//! re-encoded as JPEG at two sizes (a thumbnail for cards, a display size for
//! the lot's page). Re-encoding drops whatever else the file carried (EXIF,
//! location, scripts in odd formats). Storing them is [`super::photos`].

use std::collections::HashMap;
use std::{io::Cursor, sync::LazyLock};

use axum::extract::{Multipart, multipart::MultipartError};
use image::{DynamicImage, ImageFormat, ImageReader, Limits, codecs::jpeg::JpegEncoder};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Photos per lot.
pub const MAX_IMAGES: usize = 8;
/// Largest file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 5 * 1024 * 1024;
/// The body limit of an upload: every photo at once, and the form around them.
pub const MAX_UPLOAD_BYTES: usize = MAX_IMAGES * MAX_FILE_BYTES + 1024 * 1024;
/// Widest pixel count decoded (a tiny file can claim a huge picture).
const MAX_SIDE: u32 = 12_000;
const THUMB: (u32, u32) = (480, 360);
const DISPLAY: (u32, u32) = (1_600, 1_600);

/// Decoding is CPU and memory heavy: two at a time.
static DECODING: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(2));

/// One uploaded photo, ready to store.
pub struct Processed {
    pub thumb: Vec<u8>,
    pub display: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

fn refused(message: impl Into<String>) -> ApiError {
    ApiError::unprocessable("invalid_image", message)
}

fn jpeg(image: &DynamicImage) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&image.to_rgb8())
        .map_err(ApiError::internal)?;
    Ok(out)
}

/// Checks and re-encodes one file (`name` only for messages).
pub fn process(name: &str, bytes: &[u8]) -> Result<Processed, ApiError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(refused(format!("{name} is over 5 MB")));
    }
    let format = image::guess_format(bytes)
        .ok()
        .filter(|f| matches!(f, ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP))
        .ok_or_else(|| refused(format!("{name} is not a JPEG, PNG or WebP picture")))?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|err| refused(format!("{name} cannot be read as a picture: {err}")))?;
    let thumb = image.thumbnail(THUMB.0, THUMB.1);
    let display = if image.width() > DISPLAY.0 || image.height() > DISPLAY.1 {
        image.resize(DISPLAY.0, DISPLAY.1, image::imageops::FilterType::Lanczos3)
    } else {
        image
    };
    Ok(Processed {
        thumb: jpeg(&thumb)?,
        width: display.width(),
        height: display.height(),
        display: jpeg(&display)?,
    })
}

/// [`process`] on the blocking pool, two at a time.
pub async fn process_async(name: String, bytes: Vec<u8>) -> Result<Processed, ApiError> {
    let _turn = DECODING.acquire().await.map_err(ApiError::internal)?;
    tokio::task::spawn_blocking(move || process(&name, &bytes))
        .await
        .map_err(ApiError::internal)?
}

/// A multipart form as read: its pictures (field `images`, processed) and the
/// text fields asked for.
#[derive(Default)]
pub struct Upload {
    pub photos: Vec<Processed>,
    pub fields: HashMap<String, String>,
}

/// Reads `form`: every non-empty `images` file is checked and re-encoded (at
/// most [`MAX_IMAGES`]); text fields for which `keep` is true are kept, the
/// rest skipped. On a refusal, what was read so far comes back with it (a
/// page shows its form again as typed).
pub async fn read_upload(
    form: &mut Multipart,
    keep: impl Fn(&str) -> bool,
) -> Result<Upload, (Upload, ApiError)> {
    let mut upload = Upload::default();
    let unreadable = |err: MultipartError| {
        ApiError::unprocessable(
            "invalid_image",
            format!("the upload could not be read: {err}"),
        )
    };
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return Ok(upload),
            Err(err) => return Err((upload, unreadable(err))),
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "images" {
            let file = field.file_name().unwrap_or("a file").to_owned();
            let bytes = match field.bytes().await {
                Ok(bytes) if bytes.is_empty() => continue,
                Ok(bytes) => bytes,
                Err(err) => return Err((upload, unreadable(err))),
            };
            if upload.photos.len() == MAX_IMAGES {
                let err = ApiError::unprocessable(
                    "too_many_images",
                    format!("a lot has at most {MAX_IMAGES} photos"),
                );
                return Err((upload, err));
            }
            match process_async(file, bytes.to_vec()).await {
                Ok(photo) => upload.photos.push(photo),
                Err(err) => return Err((upload, err)),
            }
        } else if keep(&name) {
            match field.text().await {
                Ok(text) => {
                    upload.fields.insert(name, text);
                }
                Err(err) => return Err((upload, unreadable(err))),
            }
        }
    }
}
