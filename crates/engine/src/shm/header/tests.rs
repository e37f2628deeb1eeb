//! Tests of the header format on byte arrays: what `Header::to_bytes` writes, that `Header::parse`
//! reads it back, and that each bad word gives its own `HeaderError`, in the order of the checks.

use super::*;
use crate::region::PAGE_4K;

/// A plain slab: 1000 slots x 2 replicas at 256 B, on 4 KiB pages.
fn offset_header() -> Header {
    let layout = Layout::new(1000, 2, 256).unwrap();
    let data_bytes = layout.span().div_ceil(PAGE_4K) * PAGE_4K;
    Header { layout, page_size: PAGE_4K, data_bytes, creator_pid: 4242, created_unix_ms: 1_700_000_000_000, table: None, schema: None }
}

/// A framed slab: 3000 slots x 3 replicas (6 chunks each, 72 table bytes) over a 23-frame pool.
fn framed_header() -> Header {
    let data_bytes = 23 * PAGE_4K;
    let table = TableAt { offset: PAGE_4K + data_bytes, bytes: 72, chunks: 6, hash: 0x1234_5678 };
    Header { layout: Layout::new(3000, 3, FRAME_BYTES).unwrap(), data_bytes, table: Some(table), ..offset_header() }
}

fn record_header(text: &str) -> Header {
    Header { schema: Some(text.into()), ..offset_header() }
}

fn word(b: &[u8], w: usize) -> u64 {
    u64::from_le_bytes(b[w * 8..w * 8 + 8].try_into().unwrap())
}

fn set(b: &mut [u8], w: usize, v: u64) {
    b[w * 8..w * 8 + 8].copy_from_slice(&v.to_le_bytes());
}

/// Sets word `w` to `v` and the checksum to match, as a buggy or hostile writer might.
fn forge(b: &mut [u8; HEADER_BYTES], w: usize, v: u64) {
    set(b, w, v);
    let mut all = [0u64; HEADER_WORDS];
    for (k, a) in all.iter_mut().enumerate() {
        *a = word(b, k);
    }
    let (words, table) = covered(&all);
    set(b, W_CHECKSUM, header_checksum(&words, &table));
}

fn parse_4k(b: &[u8]) -> Result<Header, HeaderError> {
    Header::parse(b, PAGE_4K)
}

#[test]
fn every_kind_of_header_parses_back_to_what_was_written() {
    for h in [offset_header(), framed_header(), record_header("bid:f64,ask:f64,qty:u64"), record_header(&"x".repeat(MAX_SCHEMA_BYTES))] {
        let b = h.to_bytes();
        assert_eq!(parse_4k(&b), Ok(h.clone()));
        // Whatever follows the header in its page is not part of it.
        let mut page = b.to_vec();
        page.resize(PAGE_4K, 0xee);
        assert_eq!(parse_4k(&page), Ok(h));
    }
}

#[test]
fn the_words_are_where_the_format_says() {
    let b = offset_header().to_bytes();
    assert_eq!(&b[..8], b"USLAYSHM");
    assert_eq!(&b[W_READY * 8..W_READY * 8 + 8], b"READY!!!");
    assert_eq!(word(&b, W_VERSION), VERSION_NO_TABLE, "a slab without a table stays readable by version 1 builds");
    assert_eq!((word(&b, W_SLOTS), word(&b, W_REPLICAS), word(&b, W_CHANNEL_OFFSET)), (1000, 2, 256));
    assert_eq!((word(&b, W_PAGE_KIND), word(&b, W_PAGE_SIZE), word(&b, W_DATA_OFFSET)), (1, 4096, 4096));
    assert_eq!(word(&b, W_FILE_BYTES), 4096 + word(&b, W_DATA_BYTES));
    assert_eq!(word(&b, W_CREATOR_PID), 4242);
    assert!(b[W_SCHEMA_LEN * 8..].iter().all(|&x| x == 0), "no schema, no table: the rest stays zero");
    let b = framed_header().to_bytes();
    assert_eq!(word(&b, W_VERSION), VERSION);
    let table: Vec<u64> = (W_TABLE_KIND..=W_TABLE_HASH).map(|w| word(&b, w)).collect();
    assert_eq!(table, [TABLE_FRAMED, 24 * 4096, 72, 6, 3, 0x1234_5678]);
    assert_eq!(word(&b, W_FILE_BYTES), 4096 * (1 + 23 + 1), "the table's 72 bytes take a whole page");
    let b = record_header("abcdefghij").to_bytes();
    assert_eq!(word(&b, W_SCHEMA_LEN), 10);
    assert_eq!(&b[W_SCHEMA * 8..W_SCHEMA * 8 + 16], b"abcdefghij\0\0\0\0\0\0");
    assert_eq!(word(&b, W_SCHEMA_HASH), fnv1a(*b"abcdefghij"));
}

#[test]
fn fewer_bytes_than_a_header_are_refused_as_short() {
    let b = offset_header().to_bytes();
    for len in [0, 8, W_READY * 8, HEADER_BYTES - 1] {
        assert_eq!(parse_4k(&b[..len]), Err(HeaderError::Short { len }));
    }
}

#[test]
fn a_foreign_magic_is_refused_before_the_ready_word_is_looked_at() {
    let mut b = [0x41u8; HEADER_BYTES];
    let e = parse_4k(&b).unwrap_err();
    assert_eq!(e, HeaderError::Foreign { magic: 0x4141_4141_4141_4141 });
    assert!(e.to_string().contains("not an ultraslayer segment"), "{e}");
    b = offset_header().to_bytes();
    set(&mut b, W_MAGIC, u64::from_le_bytes(*b"USLAYSHN"));
    assert!(matches!(parse_4k(&b), Err(HeaderError::Foreign { .. })));
}

#[test]
fn a_header_without_its_ready_word_is_unfinished_and_names_its_creator() {
    let e = parse_4k(&[0u8; HEADER_BYTES]).unwrap_err();
    assert_eq!(e, HeaderError::Unfinished { creator_pid: 0 });
    assert!(e.to_string().contains("never written"), "{e}");
    // What a creator has written before it publishes: its pid, maybe more, but not `ready`.
    let mut b = offset_header().to_bytes();
    set(&mut b, W_READY, 0);
    assert_eq!(parse_4k(&b), Err(HeaderError::Unfinished { creator_pid: 4242 }));
    set(&mut b, W_READY, 0x1234);
    let e = parse_4k(&b).unwrap_err();
    assert_eq!(e, HeaderError::BadReady { ready: 0x1234 });
    assert!(e.to_string().contains("corrupt"), "{e}");
}

#[test]
fn versions_other_than_1_and_2_are_refused_by_number() {
    for version in [0, 3, u64::MAX] {
        let mut b = offset_header().to_bytes();
        forge(&mut b, W_VERSION, version);
        let e = parse_4k(&b).unwrap_err();
        assert_eq!(e, HeaderError::Version { version });
        assert!(e.to_string().contains("reads versions 1 and 2"), "{e}");
    }
}

#[test]
fn a_change_to_any_checked_word_breaks_the_checksum() {
    for h in [offset_header(), framed_header()] {
        let good = h.to_bytes();
        let mut checked: Vec<usize> = (W_VERSION..=W_CHECKSUM).collect();
        if h.table.is_some() {
            checked.extend(W_TABLE_KIND..=W_TABLE_HASH);
        }
        for w in checked {
            let mut b = good;
            // Versions swap 1 <-> 2 (another known version); any other word gains a bit.
            let v = if w == W_VERSION { VERSION + VERSION_NO_TABLE - word(&b, w) } else { word(&b, w) ^ 0x100 };
            set(&mut b, w, v);
            assert_eq!(parse_4k(&b), Err(HeaderError::Checksum), "word {w}");
        }
    }
    assert!(HeaderError::Checksum.to_string().contains("checksum mismatch"));
}

#[test]
fn a_version_1_header_ignores_the_words_where_version_2_keeps_its_table() {
    let mut b = offset_header().to_bytes();
    set(&mut b, W_TABLE_KIND, 7);
    set(&mut b, W_TABLE_HASH, 99);
    assert_eq!(parse_4k(&b), Ok(offset_header()));
}

#[test]
fn an_impossible_layout_is_refused_even_with_a_good_checksum() {
    for (w, v) in [(W_SLOTS, 0), (W_REPLICAS, 1), (W_CHANNEL_OFFSET, 100), (W_REPLICAS, u64::MAX)] {
        let mut b = offset_header().to_bytes();
        forge(&mut b, w, v);
        let e = parse_4k(&b).unwrap_err();
        assert!(matches!(e, HeaderError::Layout { .. }), "word {w}: {e:?}");
        assert!(e.to_string().contains("impossible layout"), "{e}");
    }
}

#[test]
fn the_page_size_and_kind_must_be_those_of_the_file() {
    let b = offset_header().to_bytes();
    let e = Header::parse(&b, PAGE_2M).unwrap_err();
    assert_eq!(e, HeaderError::PageSize { header_page: 4096, kind: 1, page: PAGE_2M });
    assert!(e.to_string().contains("but the file lives on 2097152-byte pages"), "{e}");
    let mut b = offset_header().to_bytes();
    forge(&mut b, W_PAGE_KIND, 2);
    assert_eq!(parse_4k(&b), Err(HeaderError::PageSize { header_page: 4096, kind: 2, page: PAGE_4K }));
}

#[test]
fn table_words_of_an_unknown_kind_or_with_no_table_are_refused() {
    let mut b = framed_header().to_bytes();
    forge(&mut b, W_TABLE_KIND, 7);
    let e = parse_4k(&b).unwrap_err();
    assert_eq!(e, HeaderError::TableKind { kind: 7 });
    assert!(e.to_string().contains("table kind 7"), "{e}");
    forge(&mut b, W_TABLE_KIND, TABLE_NONE);
    let e = parse_4k(&b).unwrap_err();
    assert_eq!(e, HeaderError::TableWordsSet);
    assert!(e.to_string().contains("table words set"), "{e}");
}

#[test]
fn table_words_that_do_not_fit_the_header_say_what_is_wrong() {
    let at = (24 * 4096) as u64;
    for (w, v, says) in [
        (W_TABLE_OFFSET, at + 4096, "not right after the data"),
        (W_TABLE_OFFSET, at + 8, "not right after the data"),
        (W_TABLE_BYTES, 64, "but 6 chunks x 3 replicas need 72"),
        (W_TABLE_CHUNKS, 5, "the table is for 5 chunks x 3 replicas, the slab has 6 x 3"),
        (W_TABLE_REPLICAS, 2, "the table is for 6 chunks x 2 replicas"),
        (W_SLOTS, 5000, "the slab has 10 x 3"),
        (W_CHANNEL_OFFSET, 256, "a framed slab has a 4096 B channel offset, not 256"),
    ] {
        let mut b = framed_header().to_bytes();
        forge(&mut b, w, v);
        let e = parse_4k(&b).unwrap_err();
        assert!(matches!(e, HeaderError::TableMisfit { .. }), "word {w}: {e:?}");
        assert!(e.to_string().contains("does not fit its header") && e.to_string().contains(says), "word {w}: {e}");
    }
}

#[test]
fn sizes_that_do_not_follow_from_the_layout_are_refused() {
    let plain = offset_header().to_bytes();
    let data = word(&plain, W_DATA_BYTES);
    let framed = framed_header().to_bytes();
    for (good, w, v) in [
        (plain, W_DATA_OFFSET, 8192),
        (plain, W_DATA_BYTES, data + 4096),
        (plain, W_FILE_BYTES, 4096 + data + 4096),
        (framed, W_DATA_BYTES, 0),
        (framed, W_FILE_BYTES, 4096 * 24),
    ] {
        let mut b = good;
        forge(&mut b, w, v);
        if w == W_DATA_BYTES {
            // Keep the table right after the data, so that only the sizes are wrong.
            forge(&mut b, W_TABLE_OFFSET, 4096 + v);
        }
        let e = parse_4k(&b).unwrap_err();
        assert!(matches!(e, HeaderError::Sizes { .. }), "word {w} = {v}: {e:?}");
        assert!(e.to_string().contains("do not match its layout"), "{e}");
    }
    // A framed data area may hold more frames than its table names: the pool placement chose from.
    let mut h = framed_header();
    h.data_bytes = 40 * 4096;
    h.table = Some(TableAt { offset: 41 * 4096, ..h.table.unwrap() });
    assert_eq!(parse_4k(&h.to_bytes()), Ok(h));
}

#[test]
fn a_schema_too_long_changed_or_not_utf8_is_refused() {
    let good = record_header("bid:f64,ask:f64").to_bytes();
    let mut b = good;
    set(&mut b, W_SCHEMA_LEN, MAX_SCHEMA_BYTES as u64 + 1);
    assert_eq!(parse_4k(&b), Err(HeaderError::SchemaLength { len: MAX_SCHEMA_BYTES as u64 + 1 }));
    // The schema is under its own hash, not the checksum.
    let mut b = good;
    set(&mut b, W_SCHEMA, u64::from_le_bytes(*b"ask:f64,"));
    let e = parse_4k(&b).unwrap_err();
    assert_eq!(e, HeaderError::SchemaHash);
    assert!(e.to_string().contains("does not match its hash"), "{e}");
    let mut b = good;
    set(&mut b, W_SCHEMA, 0xfffe);
    set(&mut b, W_SCHEMA_LEN, 2);
    set(&mut b, W_SCHEMA_HASH, fnv1a([0xfe, 0xff]));
    assert_eq!(parse_4k(&b), Err(HeaderError::SchemaUtf8));
}

#[test]
fn the_first_check_that_fails_is_the_error() {
    let mut b = framed_header().to_bytes();
    set(&mut b, W_SCHEMA_LEN, u64::MAX);
    forge(&mut b, W_FILE_BYTES, 1);
    assert!(matches!(parse_4k(&b), Err(HeaderError::Sizes { .. })), "sizes before the schema");
    forge(&mut b, W_TABLE_BYTES, 1);
    assert!(matches!(parse_4k(&b), Err(HeaderError::TableMisfit { .. })), "table words before sizes");
    assert!(matches!(Header::parse(&b, PAGE_2M), Err(HeaderError::PageSize { .. })), "page size before table words");
    forge(&mut b, W_SLOTS, 0);
    assert!(matches!(Header::parse(&b, PAGE_2M), Err(HeaderError::Layout { .. })), "layout before page size");
    set(&mut b, W_CHECKSUM, 0);
    assert_eq!(parse_4k(&b), Err(HeaderError::Checksum), "checksum before layout");
    set(&mut b, W_VERSION, 9);
    assert_eq!(parse_4k(&b), Err(HeaderError::Version { version: 9 }), "version before checksum");
    set(&mut b, W_READY, 0);
    assert_eq!(parse_4k(&b), Err(HeaderError::Unfinished { creator_pid: 4242 }), "ready before version");
    set(&mut b, W_MAGIC, 1);
    assert_eq!(parse_4k(&b), Err(HeaderError::Foreign { magic: 1 }), "magic before ready");
}
