//! Just enough of fragmented MP4 (ISO BMFF) to record by stream copy: ffmpeg hands the camera's
//! H.264/H.265 over as fMP4 (an init segment `ftyp`+`moov`, then one `moof`+`mdat` fragment per
//! group of pictures); this splits that byte stream into its parts and reads from them what a
//! recorder needs (time scale, codec and size; each fragment's start, length and whether it begins
//! with a key frame). The same reader checks a file on disk after a crash, so a half-written
//! segment keeps every whole fragment and loses only the torn one.

use std::io::Read;

/// The largest box accepted from ffmpeg or a file: a fragment is one group of pictures, a few MB
/// even at 4K; anything bigger is a broken stream, not a reason to allocate gigabytes.
const MAX_BOX: u64 = 64 << 20;

/// What the init segment says about the video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInfo {
    /// Ticks per second of the track's times.
    pub timescale: u32,
    /// RFC 6381 codec string where known (`avc1.64001f`), else the sample entry's name (`hvc1`).
    pub codec: String,
    pub width: u32,
    pub height: u32,
}

impl TrackInfo {
    /// Whether browsers can play it (H.264 everywhere, H.265 in some).
    pub fn is_h264_or_h265(&self) -> bool {
        ["avc1", "avc3", "hvc1", "hev1"].iter().any(|name| self.codec.starts_with(name))
    }
}

/// One `moof`+`mdat` pair: its bytes and what its header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    pub bytes: Vec<u8>,
    /// Decode time of its first sample, in the track's time scale.
    pub start: u64,
    /// Sum of its samples' durations, in the track's time scale.
    pub duration: u64,
    /// Whether its first sample is a key frame (a segment may start here).
    pub starts_with_key_frame: bool,
    /// Where in `bytes` the decode time is written, and whether as 64 bits.
    decode_time_at: usize,
    decode_time_wide: bool,
}

impl Fragment {
    /// Rewrites the decode time in `bytes` as `start - base`: a file's first fragment at 0, so each
    /// file's own timeline starts at zero (players and ffmpeg's concat points count from there).
    /// `start` keeps the stream's time.
    pub fn rebase(&mut self, base: u64) {
        self.set_decode_time(self.start.saturating_sub(base));
    }

    /// Writes `time` as the fragment's decode time in `bytes` (`start` keeps the time it was read
    /// with).
    pub fn set_decode_time(&mut self, time: u64) {
        let at = self.decode_time_at;
        if self.decode_time_wide {
            self.bytes[at..at + 8].copy_from_slice(&time.to_be_bytes());
        } else {
            self.bytes[at..at + 4].copy_from_slice(&(time.min(u64::from(u32::MAX)) as u32).to_be_bytes());
        }
    }
}

/// `ftyp` and `moov`, verbatim, with what they say: the start of every file of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitSegment {
    pub bytes: Vec<u8>,
    pub track: TrackInfo,
}

/// A part of the stream ffmpeg writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    Init(InitSegment),
    Fragment(Fragment),
}

/// Splits a fragmented MP4 byte stream into [`Chunk`]s.
pub struct ChunkReader<R> {
    input: R,
    init: Vec<u8>,
    /// A `moof` waiting for its `mdat`, and the length of its header.
    pending_moof: Option<Vec<u8>>,
    moof_header: usize,
}

impl<R: Read> ChunkReader<R> {
    pub fn new(input: R) -> Self {
        Self { input, init: Vec::new(), pending_moof: None, moof_header: 8 }
    }

    /// The input, to read what is left of it.
    pub fn into_inner(self) -> R {
        self.input
    }

    /// The next chunk; `Ok(None)` at a clean end of the stream, an error for a broken one.
    /// A fragment's `mdat` is read straight behind its `moof`, so its bytes are copied once.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>, String> {
        loop {
            let mut buffer = self.pending_moof.take().unwrap_or_default();
            let box_start = buffer.len();
            let Some((kind, header_len)) = read_box_into(&mut self.input, &mut buffer)? else { return Ok(None) };
            match &kind {
                b"mdat" if box_start > 0 => {
                    let moof_header = self.moof_header;
                    let times = fragment_times(&buffer[moof_header..box_start])?;
                    return Ok(Some(Chunk::Fragment(Fragment {
                        bytes: buffer,
                        start: times.start,
                        duration: times.duration,
                        starts_with_key_frame: times.starts_with_key_frame,
                        decode_time_at: moof_header + times.decode_time_at,
                        decode_time_wide: times.decode_time_wide,
                    })));
                }
                b"moof" => {
                    // A `moof` without its `mdat` before it is dropped.
                    buffer.drain(..box_start);
                    self.moof_header = header_len;
                    self.pending_moof = Some(buffer);
                }
                b"ftyp" => self.init = buffer.split_off(box_start),
                b"moov" => {
                    let moov = buffer.split_off(box_start);
                    let track = track_info(&moov[header_len..])?;
                    let mut bytes = std::mem::take(&mut self.init);
                    bytes.extend_from_slice(&moov);
                    return Ok(Some(Chunk::Init(InitSegment { bytes, track })));
                }
                // `styp`, `sidx`, `free`, `mfra`, an `mdat` without a `moof`: nothing a recorder
                // needs; a `moof` read before stays pending.
                _ => {
                    buffer.truncate(box_start);
                    if box_start > 0 {
                        self.pending_moof = Some(buffer);
                    }
                }
            }
        }
    }
}

/// Appends one box (header included) to `out`; its type and header length, or `None` at the end
/// of the input before a header starts.
fn read_box_into(input: &mut impl Read, out: &mut Vec<u8>) -> Result<Option<([u8; 4], usize)>, String> {
    let mut header = [0u8; 8];
    let mut filled = 0;
    while filled < 8 {
        match input.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err("the stream ends inside a box header".into()),
            Ok(n) => filled += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err.to_string()),
        }
    }
    let kind = [header[4], header[5], header[6], header[7]];
    let start = out.len();
    out.extend_from_slice(&header);
    let size = match u64::from(u32::from_be_bytes([header[0], header[1], header[2], header[3]])) {
        1 => {
            let mut large = [0u8; 8];
            input.read_exact(&mut large).map_err(|e| e.to_string())?;
            out.extend_from_slice(&large);
            u64::from_be_bytes(large)
        }
        0 => return Err("a box that runs to the end of the stream cannot be streamed".into()),
        size => size,
    };
    let header_len = out.len() - start;
    if size < header_len as u64 || size > MAX_BOX {
        return Err(format!("a {:?} box of {size} bytes is not plausible", String::from_utf8_lossy(&kind)));
    }
    // Read into spare capacity: no zero-filling of megabytes that are overwritten at once.
    let rest = size - header_len as u64;
    out.reserve_exact(rest as usize);
    input.take(rest).read_to_end(out).map_err(|e| format!("the stream breaks inside a box: {e}"))?;
    if (out.len() - start) as u64 != size {
        return Err("the stream ends inside a box".into());
    }
    Ok(Some((kind, header_len)))
}

/// The boxes directly inside `data` (a box's payload), as (type, payload).
fn children(data: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.len() < 8 {
            return None;
        }
        let size = u32::from_be_bytes(rest[..4].try_into().ok()?) as usize;
        let (header, size) = match size {
            1 if rest.len() >= 16 => (16, u64::from_be_bytes(rest[8..16].try_into().ok()?) as usize),
            0 => (8, rest.len()),
            size => (8, size),
        };
        if size < header || size > rest.len() {
            return None;
        }
        let (kind, payload) = (&rest[4..8], &rest[header..size]);
        rest = &rest[size..];
        Some((kind, payload))
    })
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    children(data).find(|(k, _)| k == kind).map(|(_, payload)| payload)
}

fn path<'a>(data: &'a [u8], kinds: &[&[u8; 4]]) -> Option<&'a [u8]> {
    kinds.iter().try_fold(data, |inside, kind| child(inside, kind))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

fn u64_at(data: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(data.get(at..at + 8)?.try_into().ok()?))
}

/// Reads the first video track of a `moov` payload.
fn track_info(moov: &[u8]) -> Result<TrackInfo, String> {
    let broken = |what: &str| format!("the init segment has no readable {what}");
    let trak = children(moov)
        .filter(|(kind, _)| kind == b"trak")
        .map(|(_, payload)| payload)
        .find(|trak| path(trak, &[b"mdia", b"hdlr"]).and_then(|h| h.get(8..12)) == Some(b"vide"))
        .ok_or_else(|| broken("video track"))?;
    let mdhd = path(trak, &[b"mdia", b"mdhd"]).ok_or_else(|| broken("media header"))?;
    // Version 1 has 64-bit creation and modification times before the time scale.
    let timescale = if mdhd.first() == Some(&1) { u32_at(mdhd, 20) } else { u32_at(mdhd, 12) }
        .filter(|&t| t > 0)
        .ok_or_else(|| broken("time scale"))?;
    let stsd = path(trak, &[b"mdia", b"minf", b"stbl", b"stsd"]).ok_or_else(|| broken("sample description"))?;
    // Full box header (4) and entry count (4), then the first sample entry as a box.
    let (entry_kind, entry) =
        children(stsd.get(8..).unwrap_or_default()).next().ok_or_else(|| broken("sample entry"))?;
    let name = String::from_utf8_lossy(entry_kind).to_string();
    // A visual sample entry: 6 reserved, 2 data reference index, 16 pre-defined/reserved, then
    // width and height; its own boxes start after 78 bytes.
    let width = u16_at(entry, 24).ok_or_else(|| broken("picture size"))?;
    let height = u16_at(entry, 26).ok_or_else(|| broken("picture size"))?;
    let codec = match child(entry.get(78..).unwrap_or_default(), b"avcC") {
        Some(avcc) if avcc.len() >= 4 => format!("{name}.{:02x}{:02x}{:02x}", avcc[1], avcc[2], avcc[3]),
        _ => name,
    };
    Ok(TrackInfo { timescale, codec, width: width.into(), height: height.into() })
}

/// What a `moof` says about its fragment's time.
struct FragmentTimes {
    start: u64,
    duration: u64,
    starts_with_key_frame: bool,
    /// Offset of the decode time's value within the `moof` payload.
    decode_time_at: usize,
    decode_time_wide: bool,
}

/// A fragment's first decode time, total duration and whether it starts with a key frame, from
/// its `moof` payload (one track, as ffmpeg writes it).
fn fragment_times(moof: &[u8]) -> Result<FragmentTimes, String> {
    let broken = |what: &str| format!("a fragment has no readable {what}");
    let traf = child(moof, b"traf").ok_or_else(|| broken("track fragment"))?;
    let tfhd = child(traf, b"tfhd").ok_or_else(|| broken("header"))?;
    let tfhd_flags = u32_at(tfhd, 0).ok_or_else(|| broken("header"))? & 0x00ff_ffff;
    // After flags and track id: the optional fields in this order.
    let mut at = 8;
    let mut default_duration = None;
    let mut default_flags = None;
    for (bit, width) in [(0x01, 8), (0x02, 4), (0x08, 4), (0x10, 4), (0x20, 4)] {
        if tfhd_flags & bit != 0 {
            match bit {
                0x08 => default_duration = u32_at(tfhd, at),
                0x20 => default_flags = u32_at(tfhd, at),
                _ => {}
            }
            at += width;
        }
    }
    let tfdt = child(traf, b"tfdt").ok_or_else(|| broken("decode time"))?;
    let decode_time_wide = tfdt.first() == Some(&1);
    let start = if decode_time_wide { u64_at(tfdt, 4) } else { u32_at(tfdt, 4).map(u64::from) }
        .ok_or_else(|| broken("decode time"))?;
    // `tfdt` borrows from `moof`: its value's place in the payload.
    let decode_time_at = tfdt.as_ptr() as usize - moof.as_ptr() as usize + 4;
    let mut duration = 0u64;
    let mut first_flags = None;
    for (_, trun) in children(traf).filter(|(kind, _)| kind == b"trun") {
        let flags = u32_at(trun, 0).ok_or_else(|| broken("run"))? & 0x00ff_ffff;
        let count = u32_at(trun, 4).ok_or_else(|| broken("run"))?;
        let mut at = 8;
        if flags & 0x01 != 0 {
            at += 4;
        }
        if flags & 0x04 != 0 {
            first_flags = first_flags.or(u32_at(trun, at));
            at += 4;
        }
        for sample in 0..count {
            let mut sample_duration = default_duration;
            for (bit, width) in [(0x100, 4), (0x200, 4), (0x400, 4), (0x800, 4)] {
                if flags & bit != 0 {
                    let value = u32_at(trun, at).ok_or_else(|| broken("sample"))?;
                    match bit {
                        0x100 => sample_duration = Some(value),
                        0x400 if sample == 0 => first_flags = first_flags.or(Some(value)),
                        _ => {}
                    }
                    at += width;
                }
            }
            duration += u64::from(sample_duration.ok_or_else(|| broken("sample duration"))?);
        }
    }
    // ISO 14496-12 sample flags: bit 16 is "sample is not a sync sample".
    let starts_with_key_frame = first_flags.or(default_flags).is_none_or(|flags| flags & 0x0001_0000 == 0);
    Ok(FragmentTimes { start, duration, starts_with_key_frame, decode_time_at, decode_time_wide })
}

/// What a segment file holds, read back from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSummary {
    pub track: TrackInfo,
    /// Bytes up to the end of the last whole fragment (a torn tail after a crash is past it).
    pub whole_len: u64,
    pub fragments: usize,
    /// From the first fragment's start to the last one's end, in the track's time scale.
    pub duration: u64,
}

/// Reads a segment file: its init segment and every whole fragment; `Err` when it has no init
/// segment or no whole fragment (nothing in it can be played).
pub fn summarize(mut input: impl Read) -> Result<FileSummary, String> {
    let mut counted = CountingReader { inner: &mut input, count: 0 };
    let mut reader = ChunkReader::new(&mut counted);
    let mut track = None;
    let mut first_start = None;
    let mut end = 0u64;
    let mut fragments = 0;
    let mut whole_len = 0;
    loop {
        match reader.next_chunk() {
            Ok(Some(Chunk::Init(init))) => track = Some(init.track),
            Ok(Some(Chunk::Fragment(fragment))) => {
                first_start.get_or_insert(fragment.start);
                end = end.max(fragment.start + fragment.duration);
                fragments += 1;
            }
            Ok(None) | Err(_) => break,
        }
        whole_len = reader.input.count;
    }
    let track = track.ok_or("no init segment")?;
    let first_start = first_start.ok_or("no whole fragment")?;
    Ok(FileSummary { track, whole_len, fragments, duration: end - first_start })
}

struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut out = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(payload);
        out
    }

    /// A minimal init segment: one video track, 90 kHz, avc1 640×360 with an avcC.
    pub(crate) fn init_segment() -> Vec<u8> {
        let mut mdhd = vec![0u8; 12];
        mdhd.extend_from_slice(&90_000u32.to_be_bytes());
        mdhd.extend_from_slice(&[0; 8]);
        let mut hdlr = vec![0u8; 8];
        hdlr.extend_from_slice(b"vide");
        hdlr.extend_from_slice(&[0; 13]);
        let mut entry = vec![0u8; 24];
        entry.extend_from_slice(&640u16.to_be_bytes());
        entry.extend_from_slice(&360u16.to_be_bytes());
        entry.resize(78, 0);
        entry.extend(boxed(b"avcC", &[1, 0x64, 0x00, 0x1f, 0xff]));
        let mut stsd = vec![0, 0, 0, 0, 0, 0, 0, 1];
        stsd.extend(boxed(b"avc1", &entry));
        let stbl = boxed(b"stbl", &boxed(b"stsd", &stsd));
        let minf = boxed(b"minf", &stbl);
        let mdia = boxed(b"mdia", &[boxed(b"mdhd", &mdhd), boxed(b"hdlr", &hdlr), minf].concat());
        let moov = boxed(b"moov", &boxed(b"trak", &mdia));
        [boxed(b"ftyp", b"isom\0\0\x02\0"), moov].concat()
    }

    /// A fragment as ffmpeg writes it: tfhd with default-base-is-moof and a default flags field,
    /// tfdt version 1, trun with data offset, first-sample flags and per-sample durations.
    pub(crate) fn fragment(start: u64, durations: &[u32], key_frame: bool) -> Vec<u8> {
        let mut tfhd = 0x0002_0020u32.to_be_bytes().to_vec();
        tfhd.extend_from_slice(&1u32.to_be_bytes());
        tfhd.extend_from_slice(&0x0101_0000u32.to_be_bytes());
        let mut tfdt = vec![1, 0, 0, 0];
        tfdt.extend_from_slice(&start.to_be_bytes());
        let mut trun = 0x0000_0105u32.to_be_bytes().to_vec();
        trun.extend_from_slice(&(durations.len() as u32).to_be_bytes());
        trun.extend_from_slice(&0u32.to_be_bytes());
        trun.extend_from_slice(&(if key_frame { 0x0200_0000u32 } else { 0x0101_0000 }).to_be_bytes());
        for d in durations {
            trun.extend_from_slice(&d.to_be_bytes());
        }
        let traf = boxed(b"traf", &[boxed(b"tfhd", &tfhd), boxed(b"tfdt", &tfdt), boxed(b"trun", &trun)].concat());
        let moof = boxed(b"moof", &[boxed(b"mfhd", &[0, 0, 0, 0, 0, 0, 0, 1]), traf].concat());
        [moof, boxed(b"mdat", &[0xAB; 100])].concat()
    }

    #[test]
    fn a_stream_splits_into_its_init_segment_and_fragments() {
        let stream = [init_segment(), fragment(0, &[6000; 15], true), fragment(90_000, &[6000; 10], false)].concat();
        let mut reader = ChunkReader::new(stream.as_slice());
        let Some(Chunk::Init(InitSegment { bytes, track })) = reader.next_chunk().unwrap() else {
            panic!("init first")
        };
        assert_eq!(bytes, init_segment());
        assert_eq!(track, TrackInfo { timescale: 90_000, codec: "avc1.64001f".into(), width: 640, height: 360 });
        assert!(track.is_h264_or_h265());
        let Some(Chunk::Fragment(first)) = reader.next_chunk().unwrap() else { panic!("a fragment") };
        assert_eq!((first.start, first.duration, first.starts_with_key_frame), (0, 90_000, true));
        let Some(Chunk::Fragment(second)) = reader.next_chunk().unwrap() else { panic!("a fragment") };
        assert_eq!((second.start, second.duration, second.starts_with_key_frame), (90_000, 60_000, false));
        assert_eq!(reader.next_chunk().unwrap(), None);
        // Rebased, the second fragment starts its file's timeline at 0.
        let mut rebased = second.clone();
        rebased.rebase(90_000);
        let Some(Chunk::Fragment(read_back)) = ChunkReader::new(rebased.bytes.as_slice()).next_chunk().unwrap() else {
            panic!("a fragment")
        };
        assert_eq!((read_back.start, read_back.duration), (0, 60_000));
    }

    #[test]
    fn a_torn_file_keeps_its_whole_fragments_and_nonsense_is_refused() {
        let whole = [init_segment(), fragment(0, &[6000; 15], true), fragment(90_000, &[6000; 15], true)].concat();
        let torn = [whole.as_slice(), &fragment(180_000, &[6000; 15], true)[..50]].concat();
        let summary = summarize(torn.as_slice()).unwrap();
        assert_eq!((summary.whole_len, summary.fragments, summary.duration), (whole.len() as u64, 2, 180_000));
        assert!(summarize(init_segment().as_slice()).is_err(), "no fragment");
        assert!(summarize(&b"not an mp4 file at all"[..]).is_err());
        let mut huge = 0xffff_fff0u32.to_be_bytes().to_vec();
        huge.extend_from_slice(b"mdat");
        assert!(ChunkReader::new(huge.as_slice()).next_chunk().is_err(), "a 4 GB box is refused, not allocated");
    }
}
