//! xz streams assembled from separately compressed blocks, so a file's content is compressed
//! once and reused in every package that holds it: the deb's `data.tar.xz` and the RPM's
//! `cpio.xz` payload carry the same kubelet, compressed the same way.
//!
//! An .xz stream is a header, blocks, an index of the blocks' sizes and a footer
//! (<https://tukaani.org/xz/xz-file-format.txt>). Every block starts its LZMA2 state afresh, so
//! blocks compressed apart can be laid end to end in one stream, which every decoder (liblzma in
//! dpkg, rpm, tar and xz) reads as it reads the multi-block streams of `xz -T`. Blocks are cut
//! where `xz -T` cuts them at preset 6 (every 24 MiB), carry both sizes in their headers as
//! `xz -T` writes them, and each large file's content starts a block; the archive headers and
//! small files between contents are compressed in blocks of their own.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use liblzma::stream::{Action, Check, Filters, LzmaOptions, Status, Stream};
use sha2::{Digest, Sha256};

/// The compression preset: xz's and dpkg-deb's default.
pub const PRESET: u32 = 6;
/// The largest block: three dictionaries of preset 6, where `xz -T` cuts its blocks.
pub const BLOCK_SIZE: usize = 24 << 20;
/// Contents at least this large start blocks of their own and are shared; smaller ones are
/// compressed with the archive headers around them.
pub const SHARED_MIN: usize = 64 << 10;

const MAGIC: [u8; 6] = [0xfd, b'7', b'z', b'X', b'Z', 0];
/// Stream flags: CRC64 checks, what `xz` writes by default.
const FLAGS: [u8; 2] = [0, 0x04];
const FOOTER_MAGIC: [u8; 2] = *b"YZ";

/// One compressed block as it sits in a stream (header, data, padding, check), with the sizes
/// the stream's index records for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    bytes: Vec<u8>,
    unpadded: u64,
    uncompressed: u64,
}

impl Block {
    /// Compresses `data` as one block at [`PRESET`] (the dictionary no larger than the data).
    pub fn encode(data: &[u8]) -> io::Result<Block> {
        let dict = u32::try_from(data.len())
            .unwrap_or(u32::MAX)
            .checked_next_power_of_two()
            .unwrap_or(u32::MAX)
            .clamp(4096, 8 << 20);
        let mut options = LzmaOptions::new_preset(PRESET).map_err(io::Error::other)?;
        options.dict_size(dict);
        let mut filters = Filters::new();
        filters.lzma2(&options);
        let mut stream =
            Stream::new_stream_encoder(&filters, Check::Crc64).map_err(io::Error::other)?;
        let mut out = Vec::with_capacity(data.len() / 3 + 256);
        loop {
            if out.capacity() - out.len() < 4096 {
                out.reserve(out.capacity().max(4096));
            }
            let consumed = usize::try_from(stream.total_in()).unwrap_or(data.len());
            let status = stream
                .process_vec(&data[consumed.min(data.len())..], &mut out, Action::Finish)
                .map_err(io::Error::other)?;
            if status == Status::StreamEnd {
                break;
            }
        }
        Block::from_stream(&out)
    }

    /// The single block of a whole .xz stream.
    fn from_stream(stream: &[u8]) -> io::Result<Block> {
        let bad =
            |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("xz stream: {what}"));
        if stream.len() < 24 || stream[..6] != MAGIC || stream[6..8] != FLAGS {
            return Err(bad("not a CRC64 stream"));
        }
        let footer = &stream[stream.len() - 12..];
        let backward = u32::from_le_bytes([footer[4], footer[5], footer[6], footer[7]]);
        let index_len = (backward as usize + 1) * 4;
        let index_start = stream
            .len()
            .checked_sub(12 + index_len)
            .filter(|start| *start >= 12)
            .ok_or_else(|| bad("index out of range"))?;
        let mut index = &stream[index_start..stream.len() - 12];
        if read_u8(&mut index)? != 0 || read_varint(&mut index)? != 1 {
            return Err(bad("not exactly one block"));
        }
        let unpadded = read_varint(&mut index)?;
        let uncompressed = read_varint(&mut index)?;
        let block = &stream[12..index_start];
        if block.len() as u64 != unpadded.div_ceil(4) * 4 {
            return Err(bad("block size differs from its index record"));
        }
        with_sizes(block, unpadded, uncompressed)
    }
}

/// The CRC64 check that ends every block.
const CHECK_LEN: u64 = 8;

/// `block` with both sizes written in its header, as `xz -T` writes them, so multi-threaded
/// decoders can hand blocks to threads. liblzma's stream encoder leaves them out.
fn with_sizes(block: &[u8], unpadded: u64, uncompressed: u64) -> io::Result<Block> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("xz block: {what}"));
    let header_len = (usize::from(*block.first().ok_or_else(|| bad("empty"))?) + 1) * 4;
    let flags = *block.get(1).ok_or_else(|| bad("header cut short"))?;
    if flags & 0xc0 != 0 || flags & 0x03 != 0 || block.len() < header_len {
        return Err(bad("not a one-filter header without sizes"));
    }
    // The filter flags: ID, size of properties, properties (then zero padding and CRC32).
    let mut filter = &block[2..header_len - 4];
    let before = filter.len();
    read_varint(&mut filter)?;
    let properties = usize::try_from(read_varint(&mut filter)?).map_err(|_| bad("filter"))?;
    let filter_len = before - filter.len() + properties;
    let compressed = unpadded
        .checked_sub(header_len as u64 + CHECK_LEN)
        .ok_or_else(|| bad("smaller than its header"))?;

    let mut header = vec![0, flags | 0xc0];
    write_varint(&mut header, compressed);
    write_varint(&mut header, uncompressed);
    header.extend_from_slice(&block[2..2 + filter_len]);
    header.resize(header.len().div_ceil(4) * 4, 0);
    // The size byte is (size / 4) - 1 of the header with its CRC32: (len + 4) / 4 - 1 = len / 4.
    header[0] = u8::try_from(header.len() / 4).map_err(|_| bad("header too long"))?;
    let check = crc32(&header);
    header.extend_from_slice(&check.to_le_bytes());
    let unpadded = header.len() as u64 + compressed + CHECK_LEN;
    header.extend_from_slice(&block[header_len..]);
    Ok(Block {
        bytes: header,
        unpadded,
        uncompressed,
    })
}

/// Compresses `data` in blocks of at most [`BLOCK_SIZE`].
pub fn encode_blocks(data: &[u8]) -> io::Result<Vec<Block>> {
    data.chunks(BLOCK_SIZE).map(Block::encode).collect()
}

/// Contents compressed ahead of time, found by SHA-256 and length.
pub trait SharedBlocks: Sync {
    /// The blocks of the content with this digest and length, if it was compressed.
    fn get(&self, sha256: &[u8; 32], len: u64) -> io::Result<Option<Vec<Block>>>;
}

/// Writes one .xz stream: archive bytes through [`Write`], file contents through
/// [`Writer::content`] (blocks of their own, taken from `shared` when compressed already).
pub struct Writer<'a> {
    out: Vec<u8>,
    records: Vec<(u64, u64)>,
    pending: Vec<u8>,
    shared: Option<&'a dyn SharedBlocks>,
}

impl<'a> Writer<'a> {
    /// A stream whose large contents come from `shared` when it has them.
    pub fn new(shared: Option<&'a dyn SharedBlocks>) -> Writer<'a> {
        let mut out = Vec::with_capacity(1 << 16);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FLAGS);
        out.extend_from_slice(&crc32(&FLAGS).to_le_bytes());
        Writer {
            out,
            records: Vec::new(),
            pending: Vec::new(),
            shared,
        }
    }

    /// Appends a file's content: its own blocks when it is large, shared if compressed already.
    pub fn content(&mut self, data: &[u8]) -> io::Result<()> {
        if data.len() < SHARED_MIN {
            return self.write_all(data);
        }
        self.flush_pending()?;
        let found = match self.shared {
            Some(shared) => shared.get(&Sha256::digest(data).into(), data.len() as u64)?,
            None => None,
        };
        let blocks = match found {
            Some(blocks) => blocks,
            None => encode_blocks(data)?,
        };
        for block in &blocks {
            self.push(block);
        }
        Ok(())
    }

    fn push(&mut self, block: &Block) {
        self.out.extend_from_slice(&block.bytes);
        self.records.push((block.unpadded, block.uncompressed));
    }

    fn flush_pending(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let block = Block::encode(&self.pending)?;
            self.push(&block);
            self.pending.clear();
        }
        Ok(())
    }

    /// Ends the stream (index and footer) and returns it.
    pub fn finish(mut self) -> io::Result<Vec<u8>> {
        self.flush_pending()?;
        let mut index = vec![0u8];
        write_varint(&mut index, self.records.len() as u64);
        for (unpadded, uncompressed) in &self.records {
            write_varint(&mut index, *unpadded);
            write_varint(&mut index, *uncompressed);
        }
        index.resize(index.len().div_ceil(4) * 4, 0);
        let check = crc32(&index);
        index.extend_from_slice(&check.to_le_bytes());
        let backward = u32::try_from(index.len() / 4 - 1)
            .map_err(|_| io::Error::other("xz index too large"))?;
        let mut footer = Vec::with_capacity(12);
        footer.extend_from_slice(&backward.to_le_bytes());
        footer.extend_from_slice(&FLAGS);
        let check = crc32(&footer);
        self.out.extend_from_slice(&index);
        self.out.extend_from_slice(&check.to_le_bytes());
        self.out.extend_from_slice(&footer);
        self.out.extend_from_slice(&FOOTER_MAGIC);
        Ok(self.out)
    }
}

impl Write for Writer<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if self.pending.len() >= BLOCK_SIZE {
            self.flush_pending()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn read_u8(input: &mut &[u8]) -> io::Result<u8> {
    let (&first, rest) = input
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "xz index ends early"))?;
    *input = rest;
    Ok(first)
}

fn read_varint(input: &mut &[u8]) -> io::Result<u64> {
    let mut value = 0u64;
    for shift in (0..63).step_by(7) {
        let byte = read_u8(input)?;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "xz index: number too long",
    ))
}

/// Reads until `buf` is full or the file ends; the bytes read.
fn read_full(file: &mut fs::File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// One block's worth of a file to compress ahead of time.
#[derive(Debug, Clone)]
pub struct Chunk {
    path: PathBuf,
    key: Key,
    index: usize,
    sha256: [u8; 32],
}

impl Chunk {
    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of the file this chunk compresses.
    pub fn len(&self) -> usize {
        let total = usize::try_from(self.key.1).unwrap_or(usize::MAX);
        (total - self.index * BLOCK_SIZE).min(BLOCK_SIZE)
    }

    /// Whether the chunk is empty (never: empty files are not planned).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A content: its SHA-256 and length.
type Key = ([u8; 32], u64);
/// Each stored content's blocks' (unpadded, uncompressed) sizes, `None` until compressed.
type Sizes = HashMap<Key, Vec<Option<(u64, u64)>>>;

/// Blocks compressed ahead of time, kept in a scratch directory (one file per block) so a run's
/// memory does not grow with the release.
pub struct BlockStore {
    dir: PathBuf,
    sizes: Mutex<Sizes>,
}

impl BlockStore {
    /// A store in the directory `dir` (which exists; its files are the caller's to remove).
    pub fn new(dir: &Path) -> BlockStore {
        BlockStore {
            dir: dir.to_path_buf(),
            sizes: Mutex::new(HashMap::new()),
        }
    }

    /// The chunks that compress `path` (hashed now, whole and per chunk, so a file that changes
    /// before it is compressed is refused); none if it is small or planned already (the same
    /// bytes under another name).
    pub fn plan(&self, path: &Path) -> io::Result<Vec<Chunk>> {
        let mut file = fs::File::open(path)?;
        let (mut whole, mut len) = (Sha256::new(), 0u64);
        let mut chunk_digests = Vec::new();
        let mut buf = vec![0; BLOCK_SIZE];
        loop {
            let n = read_full(&mut file, &mut buf)?;
            if n == 0 {
                break;
            }
            whole.update(&buf[..n]);
            chunk_digests.push(Sha256::digest(&buf[..n]).into());
            len += n as u64;
        }
        let key = (whole.finalize().into(), len);
        if len < SHARED_MIN as u64 {
            return Ok(Vec::new());
        }
        let mut sizes = self.lock();
        if sizes.contains_key(&key) {
            return Ok(Vec::new());
        }
        sizes.insert(key, vec![None; chunk_digests.len()]);
        Ok(chunk_digests
            .into_iter()
            .enumerate()
            .map(|(index, sha256)| Chunk {
                path: path.to_path_buf(),
                key,
                index,
                sha256,
            })
            .collect())
    }

    /// Compresses one chunk into the store.
    pub fn compress(&self, chunk: &Chunk) -> io::Result<()> {
        let mut file = fs::File::open(&chunk.path)?;
        file.seek(io::SeekFrom::Start((chunk.index * BLOCK_SIZE) as u64))?;
        let mut data = vec![0; chunk.len()];
        file.read_exact(&mut data)?;
        if <[u8; 32]>::from(Sha256::digest(&data)) != chunk.sha256 {
            return Err(io::Error::other(
                "the file changed while it was being packaged; run again",
            ));
        }
        let block = Block::encode(&data)?;
        fs::write(self.block_path(&chunk.key, chunk.index), &block.bytes)?;
        if let Some(slot) = self
            .lock()
            .get_mut(&chunk.key)
            .and_then(|slots| slots.get_mut(chunk.index))
        {
            *slot = Some((block.unpadded, block.uncompressed));
        }
        Ok(())
    }

    fn block_path(&self, key: &Key, index: usize) -> PathBuf {
        self.dir
            .join(format!("{}-{}-{index}.xzblock", hex::encode(key.0), key.1))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sizes> {
        self.sizes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl SharedBlocks for BlockStore {
    fn get(&self, sha256: &[u8; 32], len: u64) -> io::Result<Option<Vec<Block>>> {
        let key = (*sha256, len);
        let Some(sizes) = self.lock().get(&key).cloned() else {
            return Ok(None);
        };
        let mut blocks = Vec::with_capacity(sizes.len());
        for (index, size) in sizes.into_iter().enumerate() {
            let Some((unpadded, uncompressed)) = size else {
                return Ok(None);
            };
            let bytes = fs::read(self.block_path(&key, index))?;
            blocks.push(Block {
                bytes,
                unpadded,
                uncompressed,
            });
        }
        Ok(Some(blocks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(stream: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        liblzma::read::XzDecoder::new(stream)
            .read_to_end(&mut out)
            .expect("liblzma reads the stream");
        out
    }

    fn sample(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| ((i / 7) as u8).wrapping_mul(31) ^ seed ^ (i % 13) as u8)
            .collect()
    }

    #[test]
    fn a_stream_of_headers_and_contents_decodes_to_the_same_bytes() {
        let big = sample(300_000, 1);
        let mut writer = Writer::new(None);
        writer.write_all(b"header one").unwrap();
        writer.content(&big).unwrap();
        writer.write_all(b"header two").unwrap();
        writer.content(b"small content").unwrap();
        let stream = writer.finish().unwrap();
        let mut expected = b"header one".to_vec();
        expected.extend_from_slice(&big);
        expected.extend_from_slice(b"header twosmall content");
        assert_eq!(decode(&stream), expected);
    }

    #[test]
    fn block_headers_carry_both_sizes_as_xz_t_writes_them() {
        let data = sample(100_000, 4);
        let block = Block::encode(&data).unwrap();
        assert_eq!(
            block.bytes[1] & 0xc0,
            0xc0,
            "compressed and uncompressed size present"
        );
        assert_eq!(block.uncompressed, 100_000);
        assert_eq!(block.bytes.len() as u64, block.unpadded.div_ceil(4) * 4);
        let mut writer = Writer::new(None);
        writer.content(&data).unwrap();
        // liblzma checks the header's CRC32 and both sizes against the block.
        assert_eq!(decode(&writer.finish().unwrap()), data);
    }

    #[test]
    fn an_empty_stream_decodes() {
        let stream = Writer::new(None).finish().unwrap();
        assert_eq!(stream.len(), 32);
        assert!(decode(&stream).is_empty());
    }

    #[test]
    fn large_contents_are_cut_where_xz_cuts_blocks() {
        let data = sample(BLOCK_SIZE + 1000, 2);
        let blocks = encode_blocks(&data).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[1].uncompressed, 1000);
    }

    #[test]
    fn stored_blocks_are_reused_and_identical() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlockStore::new(dir.path());
        let data = sample(200_000, 3);
        let path = dir.path().join("kubelet");
        fs::write(&path, &data).unwrap();
        let chunks = store.plan(&path).unwrap();
        assert_eq!(chunks.len(), 1);
        let copy = dir.path().join("kubelet-copy");
        fs::write(&copy, &data).unwrap();
        assert!(
            store.plan(&copy).unwrap().is_empty(),
            "same bytes planned once"
        );
        let digest: [u8; 32] = Sha256::digest(&data).into();
        assert_eq!(store.get(&digest, data.len() as u64).unwrap(), None);
        store.compress(&chunks[0]).unwrap();
        let blocks = store.get(&digest, data.len() as u64).unwrap().unwrap();
        assert_eq!(blocks, encode_blocks(&data).unwrap());

        let mut writer = Writer::new(Some(&store));
        writer.content(&data).unwrap();
        assert_eq!(decode(&writer.finish().unwrap()), data);
    }
}
