//! The segment header format: the words at the start of every segment file, as a pure
//! serialize (`Header::to_bytes`) and parse (`Header::parse`) of bytes.
//!
//! Owns the word indices, the magic, the versions, the checksum and every check of a header's
//! words against each other and against the page size its file lives on. It never touches a file
//! or a mapping (`header_page` reads and writes the mapped page; `open` checks the header against
//! the file), so every check here runs on a plain byte array.
//!
//! The header is `HEADER_WORDS` little-endian u64 words at offset 0 of the file:
//! - words `W_MAGIC..=W_CREATED_UNIX_MS`: what the segment is and how its file is laid out, then
//!   `W_CHECKSUM` over them (version 2: over the table words too) and `W_READY`, the word the
//!   creator sets last;
//! - words `W_SCHEMA_LEN..`: a record segment's schema text with its length and hash (not under
//!   the checksum: the hash covers the text);
//! - version 2 only, words `W_TABLE_KIND..=W_TABLE_HASH`: where the frame table is in the file.

use std::fmt;

use crate::layout::{Layout, FRAME_BYTES, SLOT_BYTES};
use crate::region::{PAGE_1G, PAGE_2M};

/// "USLAYSHM" read as a little-endian u64.
pub const MAGIC: u64 = u64::from_le_bytes(*b"USLAYSHM");
/// The newest header format this build writes and reads: version 2 records a frame table.
pub const VERSION: u64 = 2;
/// The header format of segments without a frame table (written for them, so older builds open them).
pub const VERSION_NO_TABLE: u64 = 1;
/// The value of the `ready` word once the segment is complete ("READY!!!").
pub(super) const READY: u64 = u64::from_le_bytes(*b"READY!!!");

// Header words (index of each u64 in the header page).
/// `MAGIC`; 0 while the creator has written only its pid.
pub const W_MAGIC: usize = 0;
/// The header format: `VERSION_NO_TABLE` or `VERSION`.
pub const W_VERSION: usize = 1;
/// Slots of the slab.
pub const W_SLOTS: usize = 2;
/// Copies of every slot.
pub const W_REPLICAS: usize = 3;
/// Bytes from one copy's chunk to the next copy's (`FRAME_BYTES` for a framed slab).
pub const W_CHANNEL_OFFSET: usize = 4;
/// 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB pages.
pub const W_PAGE_KIND: usize = 5;
/// Bytes of the file's pages (and of the header page).
pub const W_PAGE_SIZE: usize = 6;
/// Byte offset of the data area in the file: always one page, right after the header page.
pub const W_DATA_OFFSET: usize = 7;
/// Bytes of the data area (whole pages).
pub const W_DATA_BYTES: usize = 8;
/// Bytes of the whole file: header page, data, and the frame table's pages.
pub const W_FILE_BYTES: usize = 9;
/// The creating process's pid, written first of all.
pub const W_CREATOR_PID: usize = 10;
/// When the segment was created, in milliseconds since the Unix epoch.
pub const W_CREATED_UNIX_MS: usize = 11;
/// Checksum of words `0..W_CHECKSUM`.
pub const W_CHECKSUM: usize = 12;
/// `READY` once everything else is written; 0 before.
pub const W_READY: usize = 13;
/// Record segments (`records`): the byte length of the schema text (0 for a plain slab of slots,
/// which is what every segment written before records existed has here: the page was zero).
pub const W_SCHEMA_LEN: usize = 14;
/// FNV-1a of the schema text's bytes.
pub const W_SCHEMA_HASH: usize = 15;
/// First word of the schema text (UTF-8, zero-padded to whole words).
pub const W_SCHEMA: usize = 16;
/// Longest schema text a header holds.
pub const MAX_SCHEMA_BYTES: usize = 1024;
/// Version 2: how the copies are laid out, `TABLE_NONE` or `TABLE_FRAMED`. This word and the
/// five after it are covered by the header checksum of a version 2 header.
pub const W_TABLE_KIND: usize = W_SCHEMA + MAX_SCHEMA_BYTES / 8;
/// Version 2: byte offset of the frame table in the file (page-aligned, `W_DATA_OFFSET + W_DATA_BYTES`).
pub const W_TABLE_OFFSET: usize = W_TABLE_KIND + 1;
/// Version 2: bytes of the table (4 per entry; the file holds it rounded up to whole pages).
pub const W_TABLE_BYTES: usize = W_TABLE_KIND + 2;
/// Version 2: the table's chunks.
pub const W_TABLE_CHUNKS: usize = W_TABLE_KIND + 3;
/// Version 2: the table's replicas.
pub const W_TABLE_REPLICAS: usize = W_TABLE_KIND + 4;
/// Version 2: FNV-1a of the table's bytes.
pub const W_TABLE_HASH: usize = W_TABLE_KIND + 5;
/// The table words, `W_TABLE_KIND..=W_TABLE_HASH`.
pub(super) const TABLE_WORDS: usize = 6;
/// Words of the header, up to and including `W_TABLE_HASH` (the rest of its page stays zero).
pub(super) const HEADER_WORDS: usize = W_TABLE_HASH + 1;
/// Bytes of the header: what `Header::parse` needs and `Header::to_bytes` gives.
pub(super) const HEADER_BYTES: usize = HEADER_WORDS * 8;
/// `W_TABLE_KIND`: copies laid out by the channel offset.
pub const TABLE_NONE: u64 = 0;
/// `W_TABLE_KIND`: a framed table (`Layout::framed`).
pub const TABLE_FRAMED: u64 = 1;

/// What a header records, once checked: the creator fills one in and serializes it; an opener
/// parses one from the bytes of a header page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Header {
    /// The copies as the header words lay them out by channel offset (slots, replicas, offset);
    /// a framed segment's `table` then says which frame holds each chunk.
    pub layout: Layout,
    /// Bytes of the file's pages: the header page, and the unit of the data and table areas.
    pub page_size: usize,
    /// Bytes of the data area (whole pages; a framed slab's is the pool its table indexes).
    pub data_bytes: usize,
    /// The creating process.
    pub creator_pid: u32,
    /// When it was created, in milliseconds since the Unix epoch.
    pub created_unix_ms: u64,
    /// Where the frame table is (version 2, framed segments only).
    pub table: Option<TableAt>,
    /// A record segment's schema text (`records::Schema::text`); None for a plain slab.
    pub schema: Option<String>,
}

/// Where a version 2 header says its frame table is, checked against the rest of the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct TableAt {
    /// Byte offset in the file: right after the data area, on a page boundary.
    pub offset: usize,
    /// Bytes of the table (4 per entry), before rounding up to whole pages.
    pub bytes: usize,
    /// Chunks of every replica the table places.
    pub chunks: u64,
    /// FNV-1a of the table's bytes.
    pub hash: u64,
}

/// Why a header's bytes are not a usable header. `Display` words it for an error about the file
/// (`open` wraps it with the path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum HeaderError {
    /// Fewer bytes than a header holds.
    Short { len: usize },
    /// A magic word that is neither 0 nor `MAGIC`: not a segment.
    Foreign { magic: u64 },
    /// The ready word is 0: the creator has not finished (pid 0: it never wrote even its pid).
    Unfinished { creator_pid: u64 },
    /// The ready word is neither 0 nor `READY`.
    BadReady { ready: u64 },
    /// A header format this build does not read.
    Version { version: u64 },
    /// The checksum does not match the words it covers.
    Checksum,
    /// Slots, replicas and channel offset no slab can have.
    Layout { reason: String },
    /// The header's page size or kind is not that of the file's pages.
    PageSize { header_page: u64, kind: u64, page: usize },
    /// Table kind `TABLE_NONE` with other table words set.
    TableWordsSet,
    /// A table kind this build does not know.
    TableKind { kind: u64 },
    /// Table words that disagree with the rest of the header: what is wrong, one item each.
    TableMisfit { wrong: Vec<String> },
    /// Data offset, data bytes or file bytes that do not follow from the layout.
    Sizes { data_offset: u64, data_bytes: u64, file_bytes: u64, slots: u64, replicas: usize, need: u64, page: usize, framed: bool },
    /// A schema length over `MAX_SCHEMA_BYTES`.
    SchemaLength { len: u64 },
    /// Schema text that does not match its hash.
    SchemaHash,
    /// Schema text that is not UTF-8.
    SchemaUtf8,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::Short { len } => write!(f, "its header is {len} bytes, shorter than the {HEADER_BYTES} bytes of a header"),
            HeaderError::Foreign { magic } => {
                write!(f, "bad magic {magic:#018x} (expected {MAGIC:#018x}): not an ultraslayer segment")
            }
            HeaderError::Unfinished { creator_pid: 0 } => {
                f.write_str("its header was never written (its creator died while creating it, or it is not a segment)")
            }
            HeaderError::Unfinished { creator_pid } => write!(f, "it is still being created by process {creator_pid}"),
            HeaderError::BadReady { ready } => {
                write!(f, "its ready word is {ready:#018x}, neither 0 nor the ready mark: the header is corrupt")
            }
            HeaderError::Version { version } => write!(
                f,
                "header format version {version}, this build reads versions {VERSION_NO_TABLE} and {VERSION}: open it with the ultraslayer release that created it"
            ),
            HeaderError::Checksum => f.write_str("header checksum mismatch: the header was overwritten or corrupted"),
            HeaderError::Layout { reason } => write!(f, "its header describes an impossible layout ({reason})"),
            HeaderError::PageSize { header_page, kind, page } => {
                write!(f, "its header says {header_page}-byte pages (kind {kind}), but the file lives on {page}-byte pages")
            }
            HeaderError::TableWordsSet => f.write_str("its header has no frame table but table words set: the header is corrupt"),
            HeaderError::TableKind { kind } => write!(f, "its header names table kind {kind}, which this build does not know"),
            HeaderError::TableMisfit { wrong } => write!(f, "its frame table does not fit its header: {}", wrong.join("; ")),
            HeaderError::Sizes { data_offset, data_bytes, file_bytes, slots, replicas, need, page, framed } => write!(
                f,
                "its header's sizes (data at {data_offset}, {data_bytes} data bytes, {file_bytes} file bytes) do not match its layout ({slots} slots x {replicas} replicas needs {need} data bytes at {page}{})",
                if *framed { ", whole pages, then the frame table" } else { "" }
            ),
            HeaderError::SchemaLength { len } => {
                write!(f, "its schema length {len} is over the {MAX_SCHEMA_BYTES}-byte limit: the header is corrupt")
            }
            HeaderError::SchemaHash => f.write_str("its record schema does not match its hash: the header was overwritten or corrupted"),
            HeaderError::SchemaUtf8 => f.write_str("its record schema is not UTF-8: the header is corrupt"),
        }
    }
}

impl std::error::Error for HeaderError {}

impl Header {
    /// The header's bytes, ready word set: what the creator writes (every other word first, then
    /// the ready word: `HeaderPage::publish`). A schema is at most `MAX_SCHEMA_BYTES` long
    /// (`create_pending` refuses longer ones).
    pub(super) fn to_bytes(&self) -> [u8; HEADER_BYTES] {
        let page = self.page_size as u64;
        let mut w = [0u64; HEADER_WORDS];
        w[W_MAGIC] = MAGIC;
        w[W_VERSION] = if self.table.is_some() { VERSION } else { VERSION_NO_TABLE };
        w[W_SLOTS] = self.layout.slots();
        w[W_REPLICAS] = self.layout.replicas() as u64;
        w[W_CHANNEL_OFFSET] = self.layout.channel_offset() as u64;
        w[W_PAGE_KIND] = page_kind_code(self.page_size);
        w[W_PAGE_SIZE] = page;
        w[W_DATA_OFFSET] = page;
        w[W_DATA_BYTES] = self.data_bytes as u64;
        w[W_FILE_BYTES] = self.file_bytes() as u64;
        w[W_CREATOR_PID] = self.creator_pid as u64;
        w[W_CREATED_UNIX_MS] = self.created_unix_ms;
        if let Some(t) = self.table {
            let table = [TABLE_FRAMED, t.offset as u64, t.bytes as u64, t.chunks, self.layout.replicas() as u64, t.hash];
            w[W_TABLE_KIND..=W_TABLE_HASH].copy_from_slice(&table);
        }
        let (words, table) = covered(&w);
        w[W_CHECKSUM] = header_checksum(&words, &table);
        if let Some(text) = &self.schema {
            debug_assert!(text.len() <= MAX_SCHEMA_BYTES);
            for (word, chunk) in w[W_SCHEMA..W_TABLE_KIND].iter_mut().zip(text.as_bytes().chunks(8)) {
                let mut b = [0u8; 8];
                b[..chunk.len()].copy_from_slice(chunk);
                *word = u64::from_le_bytes(b);
            }
            w[W_SCHEMA_HASH] = fnv1a(text.bytes());
            w[W_SCHEMA_LEN] = text.len() as u64;
        }
        w[W_READY] = READY;
        let mut bytes = [0u8; HEADER_BYTES];
        for (b, v) in bytes.chunks_exact_mut(8).zip(w) {
            b.copy_from_slice(&v.to_le_bytes());
        }
        bytes
    }

    /// Parses and checks the header in `bytes` (at least `HEADER_BYTES`; what follows is ignored)
    /// of a file that lives on pages of `page` bytes. Checks, in this order: magic, ready word,
    /// version, checksum, layout, page size, table words, sizes, schema; the first that fails is
    /// the error.
    ///
    /// # Errors
    /// The `HeaderError` of the first check that fails; `HeaderError::Unfinished` for a header
    /// whose creator has not set the ready word yet (an opener may wait and parse again).
    pub(super) fn parse(bytes: &[u8], page: usize) -> Result<Header, HeaderError> {
        if bytes.len() < HEADER_BYTES {
            return Err(HeaderError::Short { len: bytes.len() });
        }
        let mut w = [0u64; HEADER_WORDS];
        for (v, b) in w.iter_mut().zip(bytes.chunks_exact(8)) {
            *v = u64::from_le_bytes(b.try_into().expect("chunks_exact(8) gives 8 bytes"));
        }
        let magic = w[W_MAGIC];
        if magic != 0 && magic != MAGIC {
            return Err(HeaderError::Foreign { magic });
        }
        match w[W_READY] {
            READY => {}
            0 => return Err(HeaderError::Unfinished { creator_pid: w[W_CREATOR_PID] }),
            ready => return Err(HeaderError::BadReady { ready }),
        }
        let version = w[W_VERSION];
        if version != VERSION && version != VERSION_NO_TABLE {
            return Err(HeaderError::Version { version });
        }
        let (words, table) = covered(&w);
        if w[W_CHECKSUM] != header_checksum(&words, &table) {
            return Err(HeaderError::Checksum);
        }
        let replicas = usize::try_from(w[W_REPLICAS]).unwrap_or(usize::MAX);
        let channel_offset = usize::try_from(w[W_CHANNEL_OFFSET]).unwrap_or(usize::MAX);
        let layout = Layout::new(w[W_SLOTS], replicas, channel_offset).map_err(|e| HeaderError::Layout { reason: e.to_string() })?;
        if w[W_PAGE_SIZE] != page as u64 || w[W_PAGE_KIND] != page_kind_code(page) {
            return Err(HeaderError::PageSize { header_page: w[W_PAGE_SIZE], kind: w[W_PAGE_KIND], page });
        }
        let table = match table[0] {
            TABLE_NONE if table[1..].iter().any(|&t| t != 0) => return Err(HeaderError::TableWordsSet),
            TABLE_NONE => None,
            TABLE_FRAMED => Some(check_table_words(&words, &table, &layout, page)?),
            kind => return Err(HeaderError::TableKind { kind }),
        };
        let data_bytes = match table {
            // The data area of a framed slab is the pool its table indexes: at least the frames named.
            Some(_) => w[W_DATA_BYTES],
            None => (layout.span().div_ceil(page) * page) as u64,
        };
        let want_file = file_bytes(page, data_bytes as usize, table.map_or(0, |t| t.bytes));
        if w[W_DATA_OFFSET] != page as u64
            || w[W_DATA_BYTES] != data_bytes
            || data_bytes == 0
            || data_bytes % page as u64 != 0
            || w[W_FILE_BYTES] != want_file as u64
        {
            return Err(HeaderError::Sizes {
                data_offset: w[W_DATA_OFFSET],
                data_bytes: w[W_DATA_BYTES],
                file_bytes: w[W_FILE_BYTES],
                slots: layout.slots(),
                replicas: layout.replicas(),
                need: data_bytes,
                page,
                framed: table.is_some(),
            });
        }
        Ok(Header {
            schema: parse_schema(&w)?,
            layout,
            page_size: page,
            data_bytes: data_bytes as usize,
            creator_pid: w[W_CREATOR_PID] as u32,
            created_unix_ms: w[W_CREATED_UNIX_MS],
            table,
        })
    }

    /// Bytes of the file: header page, data, and the table's pages.
    pub(super) fn file_bytes(&self) -> usize {
        file_bytes(self.page_size, self.data_bytes, self.table.map_or(0, |t| t.bytes))
    }
}

/// Header page + data + the table rounded up to whole pages.
pub(super) fn file_bytes(page: usize, data_bytes: usize, table_bytes: usize) -> usize {
    page + data_bytes + table_bytes.div_ceil(page) * page
}

/// The code `W_PAGE_KIND` records for pages of `page` bytes.
fn page_kind_code(page: usize) -> u64 {
    match page {
        PAGE_2M => 2,
        PAGE_1G => 3,
        _ => 1,
    }
}

/// The words the checksum covers: those before `W_CHECKSUM`, and the table words (zero unless
/// the version is `VERSION`: a version 1 header has none, whatever its page holds there).
fn covered(w: &[u64; HEADER_WORDS]) -> ([u64; W_CHECKSUM], [u64; TABLE_WORDS]) {
    let mut words = [0u64; W_CHECKSUM];
    words.copy_from_slice(&w[..W_CHECKSUM]);
    let mut table = [0u64; TABLE_WORDS];
    if w[W_VERSION] == VERSION {
        table.copy_from_slice(&w[W_TABLE_KIND..=W_TABLE_HASH]);
    }
    (words, table)
}

/// Checksum of the header words before `W_CHECKSUM` (FNV-1a over their bytes, 64-bit).
pub(super) fn checksum(words: &[u64]) -> u64 {
    fnv1a(words.iter().flat_map(|w| w.to_le_bytes()))
}

/// The checksum a header of this version carries: version 2 covers the table words too.
pub(super) fn header_checksum(words: &[u64; W_CHECKSUM], table: &[u64; TABLE_WORDS]) -> u64 {
    if words[W_VERSION] == VERSION_NO_TABLE {
        checksum(words)
    } else {
        checksum(&[&words[..], &table[..]].concat())
    }
}

/// FNV-1a, 64-bit.
pub(super) fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Checks the table words `t` of a framed header against its layout `l` and its data words.
fn check_table_words(words: &[u64; W_CHECKSUM], t: &[u64; TABLE_WORDS], l: &Layout, page: usize) -> Result<TableAt, HeaderError> {
    let chunks = l.slots().div_ceil((FRAME_BYTES / SLOT_BYTES) as u64);
    let bytes = chunks * l.replicas() as u64 * 4;
    let offset = words[W_DATA_OFFSET].checked_add(words[W_DATA_BYTES]);
    let mut wrong = Vec::new();
    if l.channel_offset() != FRAME_BYTES {
        wrong.push(format!("a framed slab has a {FRAME_BYTES} B channel offset, not {}", l.channel_offset()));
    }
    if t[1] % page as u64 != 0 || Some(t[1]) != offset {
        wrong.push(format!("the table is at byte {}, not right after the data (at a page boundary)", t[1]));
    }
    if t[2] != bytes {
        wrong.push(format!("the table is {} bytes, but {chunks} chunks x {} replicas need {bytes}", t[2], l.replicas()));
    }
    if t[3] != chunks || t[4] != l.replicas() as u64 {
        wrong.push(format!("the table is for {} chunks x {} replicas, the slab has {chunks} x {}", t[3], t[4], l.replicas()));
    }
    if !wrong.is_empty() {
        return Err(HeaderError::TableMisfit { wrong });
    }
    Ok(TableAt { offset: t[1] as usize, bytes: bytes as usize, chunks, hash: t[5] })
}

/// The schema text a header records, checked against its length and hash; None for plain slabs.
fn parse_schema(w: &[u64; HEADER_WORDS]) -> Result<Option<String>, HeaderError> {
    let len = w[W_SCHEMA_LEN];
    if len == 0 {
        return Ok(None);
    }
    if len > MAX_SCHEMA_BYTES as u64 {
        return Err(HeaderError::SchemaLength { len });
    }
    let bytes: Vec<u8> = w[W_SCHEMA..W_TABLE_KIND].iter().flat_map(|v| v.to_le_bytes()).take(len as usize).collect();
    if fnv1a(bytes.iter().copied()) != w[W_SCHEMA_HASH] {
        return Err(HeaderError::SchemaHash);
    }
    String::from_utf8(bytes).map(Some).map_err(|_| HeaderError::SchemaUtf8)
}

#[cfg(test)]
mod tests;
