//! Payload compression shared by the deb and rpm writers.

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use crate::xz;

/// How package payloads are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// gzip level 9: read by every dpkg and rpm.
    Gzip,
    /// xz preset 6, the default of `dpkg-deb` and of most RPM distributions: read by every
    /// supported dpkg and rpm.
    Xz,
    /// zstd level 19: fastest to unpack; needs dpkg 1.21.18+ (Debian 12, Ubuntu 21.10) and rpm 4.14+.
    Zstd,
}

impl Compression {
    /// The file extension (`gz`, `xz`, `zst`).
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Gzip => "gz",
            Compression::Xz => "xz",
            Compression::Zstd => "zst",
        }
    }

    /// Compresses everything written to the returned writer into `out`; call `finish`.
    pub fn writer<'a>(self, out: &'a mut Vec<u8>) -> io::Result<Compressor<'a>> {
        Ok(match self {
            Compression::Gzip => {
                Compressor::Gzip(flate2::GzBuilder::new().write(out, flate2::Compression::best()))
            }
            Compression::Xz => Compressor::Xz(liblzma::write::XzEncoder::new(out, 6)),
            Compression::Zstd => Compressor::Zstd(zstd::stream::write::Encoder::new(out, 19)?),
        })
    }
}

impl Compression {
    /// A writer for a package payload (`data.tar`, the RPM's cpio archive) into `out`: xz
    /// payloads are assembled from blocks, large file contents taken from `shared` when they
    /// were compressed ahead of time; call `finish`.
    pub fn payload_writer<'a>(
        self,
        out: &'a mut Vec<u8>,
        shared: Option<&'a dyn xz::SharedBlocks>,
    ) -> io::Result<PayloadWriter<'a>> {
        Ok(match self {
            Compression::Xz => PayloadWriter::Xz {
                writer: xz::Writer::new(shared),
                out,
            },
            other => PayloadWriter::Stream(other.writer(out)?),
        })
    }
}

/// Writes a package payload: archive bytes through [`Write`], file contents through
/// [`PayloadWriter::content`].
pub enum PayloadWriter<'a> {
    /// One compressed stream.
    Stream(Compressor<'a>),
    /// An xz stream of blocks.
    Xz {
        /// The stream.
        writer: xz::Writer<'a>,
        /// Where it goes.
        out: &'a mut Vec<u8>,
    },
}

impl PayloadWriter<'_> {
    /// Appends a file's content (in xz, blocks of its own when large).
    pub fn content(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            PayloadWriter::Stream(w) => w.write_all(data),
            PayloadWriter::Xz { writer, .. } => writer.content(data),
        }
    }

    /// Ends the compressed stream.
    pub fn finish(self) -> io::Result<()> {
        match self {
            PayloadWriter::Stream(w) => w.finish(),
            PayloadWriter::Xz { writer, out } => {
                out.extend_from_slice(&writer.finish()?);
                Ok(())
            }
        }
    }
}

impl Write for PayloadWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            PayloadWriter::Stream(w) => w.write(buf),
            PayloadWriter::Xz { writer, .. } => writer.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            PayloadWriter::Stream(w) => w.flush(),
            PayloadWriter::Xz { writer, .. } => writer.flush(),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
        })
    }
}

impl FromStr for Compression {
    type Err = String;

    fn from_str(text: &str) -> Result<Compression, String> {
        match text {
            "gzip" | "gz" => Ok(Compression::Gzip),
            "xz" => Ok(Compression::Xz),
            "zstd" | "zst" => Ok(Compression::Zstd),
            other => Err(format!(
                "unknown compression `{other}`: use gzip, xz or zstd"
            )),
        }
    }
}

/// A compressing writer.
pub enum Compressor<'a> {
    /// gzip.
    Gzip(flate2::write::GzEncoder<&'a mut Vec<u8>>),
    /// xz.
    Xz(liblzma::write::XzEncoder<&'a mut Vec<u8>>),
    /// zstd.
    Zstd(zstd::stream::write::Encoder<'static, &'a mut Vec<u8>>),
}

impl Compressor<'_> {
    /// Writes the compressed stream's end.
    pub fn finish(self) -> io::Result<()> {
        match self {
            Compressor::Gzip(w) => w.finish().map(drop),
            Compressor::Xz(w) => w.finish().map(drop),
            Compressor::Zstd(w) => w.finish().map(drop),
        }
    }
}

impl Write for Compressor<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::Gzip(w) => w.write(buf),
            Compressor::Xz(w) => w.write(buf),
            Compressor::Zstd(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::Gzip(w) => w.flush(),
            Compressor::Xz(w) => w.flush(),
            Compressor::Zstd(w) => w.flush(),
        }
    }
}
