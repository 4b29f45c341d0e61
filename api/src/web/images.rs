//! Uploaded pictures, once read: the bounds on what uploads may hold (per
//! file, per request, per process), checked by their content (JPEG, PNG or
//! WebP, whatever the file is called), measured from their header before a
//! pixel is decoded, decoded under limits and re-encoded as JPEG at two sizes
//! (a thumbnail for cards, a display size for the lot's page). Re-encoding
//! drops whatever else the file carried (EXIF, location, scripts in odd
//! formats). Reading them from a multipart form is [`super::upload_reader`];
//! storing them is [`super::photos`].

use std::{io::Cursor, sync::Arc, time::Duration};

use axum::http::StatusCode;
use image::{
    ColorType, DynamicImage, ImageDecoder, ImageFormat, ImageReader, ImageResult, Limits,
    codecs::jpeg::JpegEncoder, imageops::FilterType,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// Photos per lot.
pub const MAX_IMAGES: usize = 8;
/// Largest file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 5 * 1024 * 1024;
/// The text of a form around its photos (a title, a description, prices).
pub(super) const FORM_BYTES: usize = 1024 * 1024;
/// The body limit of an upload: every photo at once, and the form around them.
pub const MAX_UPLOAD_BYTES: usize = MAX_IMAGES * MAX_FILE_BYTES + FORM_BYTES;
/// Most pixels decoded (40 megapixels), whatever the file's size: a 0.5 MB
/// PNG can claim 144 megapixels.
pub const MAX_PIXELS: u64 = 40_000_000;
/// Memory one photo may take, from decoding to its two JPEGs: the decoded
/// picture, the decoder's own working memory and every buffer of the
/// resize, reckoned from the header by [`memory_needed`] before anything is
/// decoded. Photos being decoded take at most this times
/// [`UploadLimits::decodes`] (512 MiB at the default two).
pub const MEMORY_BUDGET: u64 = 256 * 1024 * 1024;

/// What photo uploads may take of one API process (from `gavel`'s flags,
/// where their defaults live).
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    /// Decodes at once (`GAVEL_PHOTO_DECODES`): decoding is CPU and memory
    /// heavy, [`MEMORY_BUDGET`] each.
    pub decodes: usize,
    /// Bytes uploads may hold at once (`GAVEL_UPLOAD_MEMORY_MIB`): files read
    /// (whole or in part) and not yet stored, and their re-encoded copies.
    /// When it is full an upload is told to come back (503 `busy`) at once,
    /// not made to wait with what it holds.
    pub in_flight_bytes: usize,
}

/// The turns at decoding and the bytes uploads may hold, shared by every
/// request of the process (held in the app state, built from its
/// [`UploadLimits`]).
#[derive(Debug, Clone)]
pub struct Uploads {
    decoding: Arc<Semaphore>,
    in_flight: Arc<Semaphore>,
}

impl Uploads {
    pub fn new(limits: UploadLimits) -> Self {
        Self {
            decoding: Arc::new(Semaphore::new(limits.decodes.max(1))),
            in_flight: Arc::new(Semaphore::new(
                limits.in_flight_bytes.min(Semaphore::MAX_PERMITS),
            )),
        }
    }

    /// Nothing held yet of the process's upload bytes.
    pub(super) fn reserve(&self) -> Reserved {
        Reserved {
            pool: Some(self.in_flight.clone()),
            held: None,
        }
    }
}

/// Longest an upload waits for a turn at decoding before it is told to come
/// back (inside the default request timeout).
const LONGEST_WAIT: Duration = Duration::from_secs(10);
/// Widest side decoded.
const MAX_SIDE: u32 = 12_000;
const THUMB: (u32, u32) = (480, 360);
const DISPLAY: (u32, u32) = (1_600, 1_600);
/// Pictures larger than this are first box-sampled down to it, and freed,
/// before the Lanczos pass (whose float buffer is as wide as its source).
const STEP: (u32, u32) = (2 * DISPLAY.0, 2 * DISPLAY.1);
const MIB: u64 = 1024 * 1024;

/// One uploaded photo, ready to store.
pub struct Processed {
    pub thumb: Vec<u8>,
    pub display: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// Its bytes' share of [`UploadLimits::in_flight_bytes`], until it is stored.
    _held: Reserved,
}

pub(super) fn refused(message: impl Into<String>) -> ApiError {
    ApiError::unprocessable("invalid_image", message)
}

fn busy(limit: &'static str, message: &str) -> ApiError {
    crate::limits::refused(limit);
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message).with_retry_after(5)
}

pub(super) fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "an upload holds at most {MAX_IMAGES} photos of 5 MB each (fewer when the lot has some) and the form around them"
        ),
    )
}

/// The answer when uploads hold all [`UploadLimits::in_flight_bytes`].
pub(super) fn uploads_full() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "too many photos are being uploaded at once; retry shortly",
    )
    .with_retry_after(5)
}

/// A share of [`UploadLimits::in_flight_bytes`], given back when dropped.
/// The default one counts against nothing (a photo processed outside the
/// upload accounting).
#[derive(Default)]
pub(super) struct Reserved {
    pool: Option<Arc<Semaphore>>,
    held: Option<OwnedSemaphorePermit>,
}

impl Reserved {
    /// `bytes` more, or 503 `busy` at once when uploads hold all there is.
    pub(super) fn grow(&mut self, bytes: usize) -> Result<(), ApiError> {
        let Some(pool) = &self.pool else {
            return Ok(());
        };
        let Ok(bytes) = u32::try_from(bytes) else {
            return Err(too_large());
        };
        let more = pool.clone().try_acquire_many_owned(bytes).map_err(|_| {
            crate::limits::refused("upload_bytes");
            uploads_full()
        })?;
        match &mut self.held {
            Some(held) => held.merge(more),
            None => self.held = Some(more),
        }
        Ok(())
    }
}

/// A file as read, with its share of [`UploadLimits::in_flight_bytes`].
pub struct Held {
    pub(super) bytes: Vec<u8>,
    pub(super) reserved: Reserved,
}

fn jpeg(image: &DynamicImage) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&image.to_rgb8())
        .map_err(ApiError::internal)?;
    Ok(out)
}

/// What a file's header says, read before any pixel is decoded.
#[derive(Debug, Clone, Copy)]
struct Header {
    format: ImageFormat,
    width: u32,
    height: u32,
    color: ColorType,
    /// A JPEG's frame: progressive or not, and its components.
    jpeg: Option<JpegFrame>,
}

#[derive(Debug, Clone, Copy)]
struct JpegFrame {
    progressive: bool,
    components: u8,
}

/// A JPEG's frame as the decoder that will decode it reads it (the same
/// crate `image` decodes with, and as leniently: it skips fill bytes and
/// stray bytes between segments). A walk of our own could read markers
/// otherwise and be shown a decoy frame the decoder skips (a progressive
/// picture priced as a baseline one).
fn jpeg_frame(bytes: &[u8]) -> Option<JpegFrame> {
    let options = zune_jpeg::zune_core::options::DecoderOptions::default()
        .set_strict_mode(false)
        .set_max_width(MAX_SIDE as usize)
        .set_max_height(MAX_SIDE as usize);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(
        zune_jpeg::zune_core::bytestream::ZCursor::new(bytes),
        options,
    );
    decoder.decode_headers().ok()?;
    let info = decoder.info()?;
    Some(JpegFrame {
        progressive: !info.sof.is_sequential_dct(),
        components: info.components,
    })
}

/// The width and height `(width, height)` takes to fit in `bound`, as
/// `image`'s resizing reckons it (rounded up: this only sizes buffers).
fn fit(width: u32, height: u32, bound: (u32, u32)) -> (u32, u32) {
    let (w, h) = (f64::from(width), f64::from(height));
    let ratio = (f64::from(bound.0) / w).min(f64::from(bound.1) / h);
    if ratio >= 1.0 {
        return (width, height);
    }
    // Under 1, the ratio makes each side at most the original one (a u32),
    // so these casts cannot truncate.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let fitted = (
        ((w * ratio).ceil() as u32).saturating_add(1),
        ((h * ratio).ceil() as u32).saturating_add(1),
    );
    fitted
}

/// `width` × `height` × `bytes` a pixel, saturating: a picture whose
/// buffers would not fit a u64 is over every budget anyway.
fn area(width: u32, height: u32, bytes: u64) -> u64 {
    (u64::from(width) * u64::from(height)).saturating_mul(bytes)
}

/// The most memory turning a picture with `header` (from a file of
/// `file_bytes`) into its two JPEGs takes at any one moment, in bytes: the
/// larger of
/// - decoding: the picture plus the decoder's working memory (a JPEG's copy
///   of the file, and for a progressive one every coefficient, 2 bytes per
///   component per pixel; a PNG's two rows; a WebP's planes, 4 bytes a pixel),
/// - the first step down (to at most twice the display size, box-sampled) while
///   the picture is still held,
/// - the Lanczos pass from that step to the display size (its `f32` RGBA
///   buffer, 16 bytes per pixel of the step's width by the display's
///   height) and its result,
/// - the thumbnail and both encodes (RGB copies and their JPEGs).
///
/// Sums saturate: an overflow means "too large", which the budget refuses.
fn memory_needed(header: &Header, file_bytes: u64) -> u64 {
    let (width, height) = (header.width, header.height);
    let pixel = u64::from(header.color.bytes_per_pixel());
    let decoded = area(width, height, pixel);
    let working = MIB.saturating_add(match (header.format, header.jpeg) {
        (ImageFormat::Jpeg, Some(frame)) if !frame.progressive => {
            file_bytes.saturating_add(area(width, 32, u64::from(frame.components) * 2))
        }
        // Progressive, or a frame this walk did not find: the worst.
        (ImageFormat::Jpeg, frame) => file_bytes.saturating_add(area(
            width,
            height,
            2 * u64::from(frame.map_or(4, |f| f.components.max(1))),
        )),
        (ImageFormat::Png, _) => area(width, 1, pixel).saturating_add(1).saturating_mul(2),
        _ => area(width, height, 4),
    });
    let stepped = width > STEP.0 || height > STEP.1;
    let (step_w, step_h) = fit(width, height, STEP);
    let step = if stepped {
        area(step_w, step_h, pixel)
    } else {
        0
    };
    let (display_w, display_h) = fit(step_w, step_h, DISPLAY);
    let display = area(display_w, display_h, pixel);
    let resized = step_w > DISPLAY.0 || step_h > DISPLAY.1;
    let lanczos = if resized {
        area(step_w, display_h, 16)
    } else {
        0
    };
    let (thumb_w, thumb_h) = fit(step_w, step_h, THUMB);
    let encodes = area(display_w, display_h, 6).saturating_add(area(thumb_w, thumb_h, 6));
    let decoding = decoded.saturating_add(working);
    let stepping = decoded.saturating_add(step);
    let resizing = step.saturating_add(lanczos).saturating_add(display);
    let encoding = display
        .saturating_add(area(thumb_w, thumb_h, pixel))
        .saturating_add(encodes);
    decoding.max(stepping).max(resizing).max(encoding)
}

/// A decoder for `bytes`, limited to [`MAX_SIDE`] and [`MEMORY_BUDGET`];
/// reading its header is all it has done.
fn decoder(bytes: &[u8], format: ImageFormat) -> ImageResult<impl ImageDecoder + '_> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MEMORY_BUDGET);
    reader.limits(limits);
    reader.into_decoder()
}

/// Most multi-segment metadata pieces (extended XMP, ICC profile chunks) a
/// JPEG may carry. The JPEG decoder re-assembles what it has gathered of
/// them after every segment it reads, so thousands of tiny ones in a 5 MB
/// file make reading the header alone quadratic (seconds of CPU); a camera
/// or editor writes a handful.
const MAX_JPEG_METADATA_PIECES: usize = 64;

/// Whether `bytes` carry more metadata pieces than any real photo does. The
/// pieces are counted by their signatures anywhere in the file, not by a
/// walk of its segments, so no way of hiding a segment from a walk (fill
/// bytes, stray bytes) hides it from the count.
fn too_much_jpeg_metadata(bytes: &[u8]) -> bool {
    let pieces = [
        &b"http://ns.adobe.com/xmp/extension/\0"[..],
        &b"ICC_PROFILE\0"[..],
    ]
    .iter()
    .map(|signature| memchr::memmem::find_iter(bytes, signature).count())
    .sum::<usize>();
    pieces > MAX_JPEG_METADATA_PIECES
}

/// Reads the header of file `name` and refuses what is not a JPEG, PNG or
/// WebP, or is over [`MAX_PIXELS`] or [`MEMORY_BUDGET`]: cheap, no pixel
/// decoded.
fn inspect(name: &str, bytes: &[u8]) -> Result<Header, ApiError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(refused(format!("{name} is over 5 MB")));
    }
    let format = image::guess_format(bytes)
        .ok()
        .filter(|f| matches!(f, ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP))
        .ok_or_else(|| refused(format!("{name} is not a JPEG, PNG or WebP picture")))?;
    if format == ImageFormat::Jpeg && too_much_jpeg_metadata(bytes) {
        return Err(refused(format!(
            "{name} carries more than {MAX_JPEG_METADATA_PIECES} metadata segments"
        )));
    }
    let decoder = decoder(bytes, format)
        .map_err(|err| refused(format!("{name} cannot be read as a picture: {err}")))?;
    let (width, height) = decoder.dimensions();
    let header = Header {
        format,
        width,
        height,
        color: decoder.color_type(),
        jpeg: (format == ImageFormat::Jpeg)
            .then(|| jpeg_frame(bytes))
            .flatten(),
    };
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Err(refused(format!(
            "{name} is {width}×{height} pixels: photos are at most 40 megapixels"
        )));
    }
    // At most MAX_FILE_BYTES (checked above): it fits a u64.
    let file_bytes =
        u64::try_from(bytes.len()).map_err(|_| refused(format!("{name} is over 5 MB")))?;
    let memory = memory_needed(&header, file_bytes);
    if memory > MEMORY_BUDGET {
        return Err(refused(format!(
            "{name} is {width}×{height} pixels in {:?}: too large to decode ({} MiB, at most 256 MiB)",
            header.color,
            memory.div_ceil(MIB)
        )));
    }
    Ok(header)
}

/// To the display size: a box-sampled step first when the picture is much
/// larger, freeing it before the Lanczos pass.
fn shrink(image: DynamicImage) -> DynamicImage {
    let image = if image.width() > STEP.0 || image.height() > STEP.1 {
        let step = image.thumbnail(STEP.0, STEP.1);
        drop(image);
        step
    } else {
        image
    };
    if image.width() > DISPLAY.0 || image.height() > DISPLAY.1 {
        let display = image.resize(DISPLAY.0, DISPLAY.1, FilterType::Lanczos3);
        drop(image);
        display
    } else {
        image
    }
}

/// The thumbnail and display JPEGs of one file (`name` only for messages),
/// and the display size's width and height.
fn reencode(name: &str, bytes: &[u8]) -> Result<(Vec<u8>, Vec<u8>, u32, u32), ApiError> {
    let header = inspect(name, bytes)?;
    let unreadable = |err| refused(format!("{name} cannot be read as a picture: {err}"));
    let decoder = decoder(bytes, header.format).map_err(unreadable)?;
    let image = DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    let display = shrink(image);
    let thumb = display.thumbnail(THUMB.0, THUMB.1);
    Ok((
        jpeg(&thumb)?,
        jpeg(&display)?,
        display.width(),
        display.height(),
    ))
}

/// Checks and re-encodes one file (`name` only for messages), outside the
/// in-flight accounting (tools and tests).
pub fn process(name: &str, bytes: &[u8]) -> Result<Processed, ApiError> {
    let (thumb, display, width, height) = reencode(name, bytes)?;
    Ok(Processed {
        thumb,
        display,
        width,
        height,
        _held: Reserved::default(),
    })
}

/// A turn at decoding, or 503 `busy` when the queue is too long to wait out.
async fn decode_turn(uploads: &Uploads) -> Result<OwnedSemaphorePermit, ApiError> {
    match tokio::time::timeout(LONGEST_WAIT, uploads.decoding.clone().acquire_owned()).await {
        Ok(Ok(turn)) => Ok(turn),
        _ => Err(busy(
            "photo_decoding",
            "too many photos are being processed at once; retry shortly",
        )),
    }
}

/// Re-encodes `file` on the blocking pool, [`UploadLimits::decodes`] at a time. The turn
/// and the file's bytes travel with the work: a request dropped meanwhile
/// (timed out) frees neither until the decode is over, so decodes left
/// behind still count against both bounds.
pub async fn process_async(
    uploads: &Uploads,
    name: String,
    file: Held,
) -> Result<Processed, ApiError> {
    // Refused from its header before it waits for a turn.
    inspect(&name, &file.bytes)?;
    let turn = decode_turn(uploads).await?;
    let (thumb, display, width, height) = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let done = reencode(&name, &file.bytes);
        drop(file);
        done
    })
    .await
    .map_err(ApiError::internal)??;
    // The file's share is back; its JPEGs take their own.
    let mut held = uploads.reserve();
    held.grow(thumb.len() + display.len())?;
    Ok(Processed {
        thumb,
        display,
        width,
        height,
        _held: held,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest file, as `memory_needed` takes it.
    const FILE_BYTES: u64 = MAX_FILE_BYTES as u64;

    /// A PNG whose header says `width`×`height` at `depth` bits in colour
    /// type `kind`, with no pixel data worth the name: only the header can
    /// be read.
    fn png_header(width: u32, height: u32, depth: u8, kind: u8) -> Vec<u8> {
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut header = Vec::new();
        header.extend(width.to_be_bytes());
        header.extend(height.to_be_bytes());
        header.extend([depth, kind, 0, 0, 0]);
        for (kind, data) in [
            (b"IHDR", header),
            (b"IDAT", vec![0x78, 0x9C]),
            (b"IEND", vec![]),
        ] {
            out.extend(u32::try_from(data.len()).unwrap().to_be_bytes());
            let start = out.len();
            out.extend(kind);
            out.extend(&data);
            let crc = crc32(&out[start..]);
            out.extend(crc.to_be_bytes());
        }
        out
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for byte in bytes {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn over_forty_megapixels_is_refused_from_the_header() {
        let err = inspect("big.png", &png_header(7_000, 6_000, 8, 2)).unwrap_err();
        assert_eq!(err.code, "invalid_image");
        assert!(err.message.contains("40 megapixels"), "{}", err.message);
    }

    #[test]
    fn a_deep_picture_under_forty_megapixels_is_refused_for_its_memory() {
        // 36 megapixels of 16-bit RGBA: 288 MB decoded.
        let err = inspect("deep.png", &png_header(6_000, 6_000, 16, 6)).unwrap_err();
        assert!(err.message.contains("256 MiB"), "{}", err.message);
    }

    #[test]
    fn an_ordinary_forty_megapixel_photo_fits_the_budget() {
        let header = inspect("ok.png", &png_header(7_300, 5_475, 8, 2)).unwrap();
        let needed = memory_needed(&header, FILE_BYTES);
        assert!(needed <= MEMORY_BUDGET, "{} MiB", needed / MIB);
        let baseline = Header {
            format: ImageFormat::Jpeg,
            jpeg: Some(JpegFrame {
                progressive: false,
                components: 3,
            }),
            ..header
        };
        assert!(memory_needed(&baseline, FILE_BYTES) <= MEMORY_BUDGET);
        // A progressive JPEG holds every coefficient while it decodes.
        let progressive = Header {
            jpeg: Some(JpegFrame {
                progressive: true,
                components: 3,
            }),
            ..baseline
        };
        assert!(memory_needed(&progressive, FILE_BYTES) > MEMORY_BUDGET);
    }

    #[test]
    fn a_jpegs_frame_is_read_as_the_decoder_reads_it() {
        let image = DynamicImage::new_rgb8(64, 48);
        let bytes = jpeg(&image).unwrap();
        let frame = jpeg_frame(&bytes).unwrap();
        assert!(!frame.progressive);
        assert_eq!(frame.components, 3);
        assert!(jpeg_frame(b"\xFF\xD8\xFF").is_none());
    }

    /// A progressive 7300×5475 three-component JPEG's headers, disguised as
    /// a review found: `SOI | FF 00 | SOF2 | COM(65533 bytes) | DQT | DHT |
    /// SOS | …`, the COM holding a one-component baseline frame (SOF0) just
    /// where a walk that reads `FF 00` as a segment (length `FF C2`) lands.
    /// The decoder skips `FF 00` as filler, sees the SOF2 and skips the COM.
    fn disguised_progressive_jpeg(disguised: bool) -> Vec<u8> {
        let (width, height) = (7_300u16, 5_475u16);
        let mut out = vec![0xFF, 0xD8];
        if disguised {
            out.extend([0xFF, 0x00]);
        }
        out.extend([0xFF, 0xC2, 0x00, 0x11, 0x08]);
        out.extend(height.to_be_bytes());
        out.extend(width.to_be_bytes());
        out.extend([0x03, 0x01, 0x11, 0x00, 0x02, 0x11, 0x00, 0x03, 0x11, 0x00]);
        if disguised {
            let com = out.len();
            out.extend([0xFF, 0xFE, 0xFF, 0xFF]);
            out.resize(com + 2 + 0xFFFF, b' ');
            // Where the walk lands: 2 (SOI) + 2 + 0xFFC2.
            let fake = 2 + 2 + 0xFFC2;
            assert!(fake > com + 4 && fake + 19 < out.len());
            let mut frame = vec![0xFF, 0xC0, 0x00, 0x0B, 0x08];
            frame.extend(height.to_be_bytes());
            frame.extend(width.to_be_bytes());
            frame.extend([0x01, 0x01, 0x11, 0x00]);
            out[fake..fake + frame.len()].copy_from_slice(&frame);
        }
        // One quantisation table of ones, one DC Huffman table (one code).
        out.extend([0xFF, 0xDB, 0x00, 0x43, 0x00]);
        out.extend([1u8; 64]);
        out.extend([0xFF, 0xC4, 0x00, 0x14, 0x00, 0x01]);
        out.extend([0u8; 15]);
        out.push(0x00);
        // The first DC scan of all three components.
        out.extend([
            0xFF, 0xDA, 0x00, 0x0C, 0x03, 0x01, 0x00, 0x02, 0x00, 0x03, 0x00,
        ]);
        out.extend([0x00, 0x00, 0x00]);
        out.extend([0u8; 64]);
        out.extend([0xFF, 0xD9]);
        out
    }

    #[test]
    fn a_progressive_jpeg_disguised_as_baseline_is_priced_as_progressive() {
        // The plain file: refused for what its coefficients take.
        let plain = inspect("plain.jpg", &disguised_progressive_jpeg(false)).unwrap_err();
        assert!(plain.message.contains("256 MiB"), "{}", plain.message);
        // The disguised one is the same picture to the decoder.
        let err = inspect("disguised.jpg", &disguised_progressive_jpeg(true))
            .map(|header| format!("accepted as {header:?}"))
            .unwrap_err();
        assert_eq!(err.code, "invalid_image");
        assert!(err.message.contains("256 MiB"), "{}", err.message);
        // Priced so because the decoder's view was read, not because no
        // view could be had (the worst case would be refused as well).
        let frame = jpeg_frame(&disguised_progressive_jpeg(true)).expect("the decoder's view");
        assert!(frame.progressive, "{frame:?}");
        assert_eq!(frame.components, 3, "{frame:?}");
    }

    #[test]
    fn a_jpeg_stuffed_with_metadata_pieces_is_refused_before_its_header_is_read() {
        // 63,000 empty extended-XMP segments (79 bytes each, ~5 MB) made the
        // decoder's header read quadratic; a real photo has a few.
        let mut bytes = vec![0xFF, 0xD8];
        let piece: Vec<u8> = [
            &[0xFF, 0xE1, 0x00, 0x4D][..],
            b"http://ns.adobe.com/xmp/extension/\0",
            &[b'0'; 32],
            &[0, 0, 0, 1, 0, 0, 0, 0],
        ]
        .concat();
        for _ in 0..63_000 {
            bytes.extend(&piece);
        }
        bytes.extend([0xFF, 0xD9]);
        let started = std::time::Instant::now();
        let err = inspect("stuffed.jpg", &bytes).unwrap_err();
        assert!(err.message.contains("metadata segments"), "{}", err.message);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
        // A handful, as cameras write, is no reason to refuse.
        let few = [&bytes[..2 + 4 * piece.len()], &[0xFF, 0xD9][..]].concat();
        assert!(!too_much_jpeg_metadata(&few));
    }

    #[test]
    fn a_large_picture_shrinks_to_the_display_size() {
        let display = shrink(DynamicImage::new_rgb8(5_000, 2_500));
        assert_eq!((display.width(), display.height()), (1_600, 800));
    }
}
