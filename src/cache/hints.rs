//! Format-aware prefetch plans: which small byte ranges of a FITS or ASDF file a reader is
//! about to ask for, so they can be fetched together right after the open.
//!
//! Pure functions over bytes and sizes; the block cache fetches what they plan.
//!
//! - Every FITS or ASDF open starts with a small *head* fetch instead of a whole block:
//!   headers and ASDF trees are tens of KiB, and a cutout should not pay for a megabyte it
//!   never reads.
//! - FITS: the headers found in the head give each HDU's data size, hence the exact offset
//!   of the first header past the head. The HDUs after it are guessed to repeat the last
//!   extension's size (the SCI/ERR/DQ or SCI/WHT/CTX pattern of HST and JWST products), so
//!   their headers are fetched in parallel with a little slack either side rather than one
//!   round trip each; the end of the file (where table HDUs usually sit) is fetched too.
//!   Headers known or confirmed this way are unit boundaries: a reader of one HDU's data
//!   is not read ahead into the next HDU.
//! - ASDF: the block index sits at the end of the file, and asdf reads it right after the
//!   tree: the tail is fetched together with the head. The index also says where each
//!   block starts, so read-ahead for one array stops at the end of its block instead of
//!   running into the next arrays.
//!
//! Windows are sized for what the kernel asks of FUSE (reads of up to 128 KiB from a page
//! boundary), so that a reader's request falls wholly inside one window.

use std::ops::Range;

/// The first fetch of a FITS or ASDF file.
pub const HEAD_LEN: u64 = 256 << 10;
/// A window around a header offset known exactly: what one kernel read can span.
const EXACT_WINDOW: u64 = 132 << 10;
/// How far a guessed header may be off (header lengths differ by a few 2880-byte blocks).
const GUESS_SLACK: u64 = 24 << 10;
/// Header guesses past the first exact one.
const MAX_GUESSES: u64 = 3;
/// The tail window of an ASDF (block index) or FITS (last HDU header) file.
const TAIL_LEN: u64 = 96 << 10;
const PAGE: u64 = 4096;
const FITS_BLOCK: u64 = 2880;

/// What kind of file a name suggests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Fits,
    Asdf,
}

/// The format of a file, from its name (`.fits`, `.fit`, `.fts`, `.asdf`, any case).
pub fn format_of(name: &str) -> Option<Format> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    match ext.as_str() {
        "fits" | "fit" | "fts" => Some(Format::Fits),
        "asdf" => Some(Format::Asdf),
        _ => None,
    }
}

/// The range to fetch along with the head of an ASDF file: its tail (the block index).
pub fn asdf_tail(size: u64) -> Option<Range<u64>> {
    if size <= HEAD_LEN {
        return None;
    }
    let start = size.saturating_sub(TAIL_LEN).max(HEAD_LEN) / PAGE * PAGE;
    Some(start.max(HEAD_LEN)..size)
}

/// Where the units of an ASDF file start (each block, then the block index), from the
/// file's tail as fetched from `tail_start`: the YAML list after `#ASDF BLOCK INDEX`.
/// Empty when the tail holds no index (asdf then finds blocks by scanning; so does
/// read-ahead, unbounded).
pub fn asdf_units(tail: &[u8], tail_start: u64, size: u64) -> Vec<u64> {
    const MARKER: &[u8] = b"#ASDF BLOCK INDEX";
    let Some(at) = tail.windows(MARKER.len()).rposition(|w| w == MARKER) else {
        return Vec::new();
    };
    let index_start = tail_start.saturating_add(at as u64);
    let Ok(text) = std::str::from_utf8(&tail[at..]) else {
        return Vec::new();
    };
    let mut starts: Vec<u64> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- ")?.trim().parse::<u64>().ok())
        .filter(|o| *o < index_start)
        .collect();
    if starts.is_empty() || starts.windows(2).any(|w| w[0] >= w[1]) {
        return Vec::new();
    }
    starts.push(index_start.min(size));
    starts
}

/// The unit holding `offset`: from the last unit start at or before it (else the start of
/// the file) to the first unit start after it (else the size). `units` is ascending.
pub fn unit_of(units: &[u64], offset: u64, size: u64) -> Range<u64> {
    let after = units.partition_point(|u| *u <= offset);
    let start = after.checked_sub(1).map_or(0, |i| units[i]);
    let end = units.get(after).copied().unwrap_or(size);
    start..end
}

/// One parsed FITS header: where it starts, its length and its data's padded length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hdu {
    pub header_start: u64,
    pub header_len: u64,
    pub data_len: u64,
}

impl Hdu {
    /// Where the next HDU starts; `None` past the end of any possible file.
    fn end(&self) -> Option<u64> {
        self.header_start
            .checked_add(self.header_len)?
            .checked_add(self.data_len)
    }
}

/// The HDUs whose headers lie wholly in `head` (the file's first bytes), and the offset of
/// the next header when it lies beyond the head. `None` for the offset when the head ends
/// inside a header or the bytes are not FITS.
pub fn fits_chain(head: &[u8], size: u64) -> (Vec<Hdu>, Option<u64>) {
    let mut hdus = Vec::new();
    let mut at = 0u64;
    loop {
        if at >= size {
            return (hdus, None);
        }
        if at >= head.len() as u64 {
            return (hdus, Some(at));
        }
        let Some(hdu) = parse_header(&head[at as usize..], at, hdus.is_empty()) else {
            return (hdus, None);
        };
        // Every header is at least one 2880-byte block, so `at` grows at each step and the
        // scan ends within the head; a data length that would overflow ends it at once.
        let Some(end) = hdu.end() else {
            return (hdus, None);
        };
        at = end;
        hdus.push(hdu);
    }
}

/// Ranges to fetch after the head of a FITS file of `size` bytes: the next header (known
/// exactly), guesses at the ones after it, and the tail.
pub fn fits_plan(head: &[u8], size: u64) -> Vec<Range<u64>> {
    let (hdus, next) = fits_chain(head, size);
    let Some(next) = next else {
        return Vec::new();
    };
    let mut windows = vec![window(next, 0, size)];
    for guess in guessed_headers(&hdus, next, size) {
        windows.push(window(guess, GUESS_SLACK, size));
    }
    if size > HEAD_LEN + TAIL_LEN {
        let tail_start = (size - TAIL_LEN) / PAGE * PAGE;
        windows.push(tail_start..size);
    }
    merge(windows, HEAD_LEN)
}

/// Where the headers after `next` would be if the HDUs repeat the last extension's size.
fn guessed_headers(hdus: &[Hdu], next: u64, size: u64) -> Vec<u64> {
    let Some(last) = hdus.iter().rev().find(|h| h.header_start > 0) else {
        return Vec::new();
    };
    let Some(stride) = last.header_len.checked_add(last.data_len) else {
        return Vec::new();
    };
    if stride == 0 {
        return Vec::new();
    }
    (1..=MAX_GUESSES)
        .map_while(|k| next.checked_add(k.checked_mul(stride)?))
        .take_while(|g| *g < size)
        .collect()
}

/// What the head of a FITS file says about its units (an HDU: header and data): where
/// the extensions it holds start and where the next header starts (`known`), and the
/// offsets where later headers are guessed to start (`to_check` against their bytes with
/// [`fits_units_at`]). Read-ahead of a reader inside one HDU's data stops at its end.
pub fn fits_units(head: &[u8], size: u64) -> (Vec<u64>, Vec<u64>) {
    let (hdus, next) = fits_chain(head, size);
    let mut known: Vec<u64> = hdus
        .iter()
        .map(|h| h.header_start)
        .filter(|s| *s > 0)
        .collect();
    let Some(next) = next else {
        return (known, Vec::new());
    };
    known.push(next);
    let mut to_check = vec![next];
    to_check.extend(guessed_headers(&hdus, next, size));
    (known, to_check)
}

/// Unit starts confirmed by `bytes` (fetched from file offset `start`): each offset of
/// `to_check` inside them where an extension header begins, and where that HDU ends.
pub fn fits_units_at(bytes: &[u8], start: u64, to_check: &[u64], size: u64) -> Vec<u64> {
    let mut found = Vec::new();
    for &offset in to_check {
        let Some(at) = offset.checked_sub(start) else {
            continue;
        };
        let Some(rest) = bytes.get(at as usize..).filter(|r| !r.is_empty()) else {
            continue;
        };
        if let Some(hdu) = parse_header(rest, offset, false) {
            found.push(offset);
            if let Some(end) = hdu.end().filter(|end| *end < size) {
                found.push(end);
            }
        }
    }
    found
}

/// A fetch window around `offset`, `slack` bytes either side, clipped to the file.
fn window(offset: u64, slack: u64, size: u64) -> Range<u64> {
    let start = offset.saturating_sub(slack) / PAGE * PAGE;
    let end = offset
        .saturating_add(slack)
        .saturating_add(EXACT_WINDOW)
        .min(size);
    start..end
}

/// Sorted, overlapping windows joined, anything below `from` dropped.
fn merge(mut windows: Vec<Range<u64>>, from: u64) -> Vec<Range<u64>> {
    windows.retain(|w| w.end > from);
    for w in &mut windows {
        w.start = w.start.max(from);
    }
    windows.sort_by_key(|w| w.start);
    let mut out: Vec<Range<u64>> = Vec::new();
    for w in windows {
        match out.last_mut() {
            Some(prev) if w.start <= prev.end => prev.end = prev.end.max(w.end),
            _ => out.push(w),
        }
    }
    out
}

/// Parses the header at the start of `bytes` (file offset `at`).
fn parse_header(bytes: &[u8], at: u64, primary: bool) -> Option<Hdu> {
    let mut bitpix: Option<i64> = None;
    let mut naxis: Option<usize> = None;
    let mut axes: Vec<u64> = Vec::new();
    let (mut pcount, mut gcount, mut groups) = (0u64, 1u64, false);
    for (i, card) in bytes.chunks_exact(80).enumerate() {
        let keyword = std::str::from_utf8(&card[..8]).ok()?.trim_end();
        if i == 0 {
            let first = if primary { "SIMPLE" } else { "XTENSION" };
            if keyword != first {
                return None;
            }
        }
        if keyword == "END" {
            let cards = i as u64 + 1;
            let header_len = (cards * 80).div_ceil(FITS_BLOCK) * FITS_BLOCK;
            let naxis = naxis?;
            let bits = bitpix?.unsigned_abs();
            if axes.len() < naxis {
                return None;
            }
            let mut product: u64 = if naxis == 0 { 0 } else { 1 };
            // Random groups (NAXIS1 = 0, GROUPS = T) leave NAXIS1 out of the product.
            let skip_first = groups && axes.first() == Some(&0);
            for (n, len) in axes.iter().take(naxis).enumerate() {
                if n == 0 && skip_first {
                    continue;
                }
                product = product.checked_mul(*len)?;
            }
            let elements = if naxis == 0 && pcount == 0 {
                0
            } else {
                gcount.checked_mul(pcount.checked_add(product)?)?
            };
            let data = (bits / 8).checked_mul(elements)?;
            return Some(Hdu {
                header_start: at,
                header_len,
                data_len: data.div_ceil(FITS_BLOCK).checked_mul(FITS_BLOCK)?,
            });
        }
        if card.get(8..10) != Some(b"= ") {
            continue;
        }
        let value = std::str::from_utf8(&card[10..]).ok()?;
        let value = value.split('/').next().unwrap_or("").trim();
        let int = || value.parse::<i64>().ok();
        match keyword {
            "BITPIX" => bitpix = int(),
            "NAXIS" => {
                let n = usize::try_from(int()?).ok()?;
                if n > 999 {
                    return None;
                }
                naxis = Some(n);
                axes = vec![0; n];
            }
            "PCOUNT" => pcount = u64::try_from(int()?).ok()?,
            "GCOUNT" => gcount = u64::try_from(int()?).ok()?,
            "GROUPS" => groups = value == "T",
            k if k.starts_with("NAXIS") => {
                let n: usize = k[5..].parse().ok()?;
                let len = u64::try_from(int()?).ok()?;
                if n >= 1 && n <= axes.len() {
                    axes[n - 1] = len;
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(text: &str) -> Vec<u8> {
        let mut c = text.as_bytes().to_vec();
        c.resize(80, b' ');
        c
    }

    /// A header of `cards` (END added), padded to 2880-byte blocks.
    fn header(cards: &[String]) -> Vec<u8> {
        let mut h: Vec<u8> = cards.iter().flat_map(|c| card(c)).collect();
        h.extend(card("END"));
        h.resize(h.len().div_ceil(2880) * 2880, b' ');
        h
    }

    fn kv(k: &str, v: &str) -> String {
        format!("{k:<8}= {v:>20}")
    }

    fn image_header(first: &str, extra_cards: usize) -> Vec<u8> {
        let mut cards = vec![
            if first == "SIMPLE" {
                kv("SIMPLE", "T")
            } else {
                kv("XTENSION", "'IMAGE   '")
            },
            kv("BITPIX", "-32"),
            kv("NAXIS", "2"),
            kv("NAXIS1", "4240"),
            kv("NAXIS2", "4313"),
        ];
        if first != "SIMPLE" {
            cards.push(kv("PCOUNT", "0"));
            cards.push(kv("GCOUNT", "1"));
        }
        cards.extend((0..extra_cards).map(|i| kv(&format!("K{i}"), "1")));
        header(&cards)
    }

    const DATA: u64 = 4240 * 4313 * 4;

    #[test]
    fn formats_from_names() {
        assert_eq!(format_of("x_drz.FITS"), Some(Format::Fits));
        assert_eq!(format_of("a.fts"), Some(Format::Fits));
        assert_eq!(format_of("r_cal.asdf"), Some(Format::Asdf));
        assert_eq!(format_of("x.fits.gz"), None);
        assert_eq!(format_of("README"), None);
    }

    #[test]
    fn the_chain_follows_data_sizes_to_the_first_header_past_the_head() {
        let primary = header(&[
            kv("SIMPLE", "T"),
            kv("BITPIX", "8"),
            kv("NAXIS", "0"),
            kv("EXTEND", "T"),
        ]);
        let sci = image_header("XTENSION", 60);
        let mut head = primary.clone();
        head.extend(&sci);
        let size = 300_000_000;
        let (hdus, next) = fits_chain(&head, size);
        assert_eq!(hdus.len(), 2, "HDUs parsed: {hdus:?}");
        assert_eq!(hdus[0].data_len, 0, "primary without data");
        let padded = DATA.div_ceil(2880) * 2880;
        assert_eq!(hdus[1].data_len, padded, "SCI data, padded to 2880");
        assert_eq!(
            next,
            Some(primary.len() as u64 + sci.len() as u64 + padded),
            "the next header follows the SCI data"
        );
    }

    #[test]
    fn the_plan_has_the_exact_next_header_guesses_and_the_tail() {
        let primary = header(&[kv("SIMPLE", "T"), kv("BITPIX", "8"), kv("NAXIS", "0")]);
        let sci = image_header("XTENSION", 60);
        let mut head = primary.clone();
        head.extend(&sci);
        let stride = sci.len() as u64 + DATA.div_ceil(2880) * 2880;
        let next = primary.len() as u64 + stride;
        let size = next + 2 * stride + 200_000;
        let plan = fits_plan(&head, size);
        let covers = |offset: u64, len: u64| {
            plan.iter()
                .any(|w| w.start <= offset / PAGE * PAGE && offset + len <= w.end)
        };
        assert!(
            covers(next, 128 << 10),
            "next header {next} not in {plan:?}"
        );
        // The following headers may be a few blocks off the guess.
        for k in 1..=2 {
            for off in [0u64, 2 * 2880, 5 * 2880] {
                let h = next + k * stride + off;
                assert!(covers(h, 64 << 10), "header guess {h} not in {plan:?}");
            }
        }
        assert!(covers(size - 80_000, 80_000), "tail missing from {plan:?}");
        let fetched: u64 = plan.iter().map(|w| w.end - w.start).sum();
        assert!(
            fetched < 800 << 10,
            "a header plan should be a few hundred KiB, got {fetched} bytes in {plan:?}"
        );
        assert!(plan.iter().all(|w| w.start >= HEAD_LEN && w.end <= size));
    }

    #[test]
    fn units_are_the_known_headers_and_guesses_confirmed_by_their_bytes() {
        let primary = header(&[kv("SIMPLE", "T"), kv("BITPIX", "8"), kv("NAXIS", "0")]);
        let sci = image_header("XTENSION", 60);
        let mut head = primary.clone();
        head.extend(&sci);
        let stride = sci.len() as u64 + DATA.div_ceil(2880) * 2880;
        let first = primary.len() as u64;
        let next = first + stride;
        let size = next + 2 * stride + 200_000;
        let (known, to_check) = fits_units(&head, size);
        assert_eq!(known, vec![first, next], "(SCI header, next header)");
        assert_eq!(to_check, vec![next, next + stride, next + 2 * stride]);
        // The bytes at `next` hold a header as guessed; at the second guess there is none.
        let found_header = image_header("XTENSION", 10);
        let its_end = next + found_header.len() as u64 + DATA.div_ceil(2880) * 2880;
        let mut fetched = vec![0u8; 4096];
        fetched.extend(&found_header);
        let fetched_from = next - 4096;
        assert_eq!(
            fits_units_at(&fetched, fetched_from, &to_check, size),
            vec![next, its_end],
            "a header found at the first offset, and where its HDU ends"
        );
        let elsewhere = vec![b' '; 8192];
        assert!(fits_units_at(&elsewhere, next + stride - 100, &to_check, size).is_empty());
        assert_eq!(fits_units(b"#ASDF 1.0.0\n", size), (Vec::new(), Vec::new()));
    }

    #[test]
    fn no_plan_for_a_head_that_is_not_fits_or_ends_in_a_header() {
        assert!(fits_plan(b"#ASDF 1.0.0\n", 10_000_000).is_empty());
        let primary = header(&[kv("SIMPLE", "T"), kv("BITPIX", "8"), kv("NAXIS", "0")]);
        let truncated = &primary[..200]; // ends before the END card
        assert!(fits_plan(truncated, 10_000_000).is_empty());
        // A header with garbage where NAXIS should be a number.
        let bad = header(&[kv("SIMPLE", "T"), kv("BITPIX", "8"), kv("NAXIS", "'x'")]);
        assert!(fits_plan(&bad, 10_000_000).is_empty());
    }

    #[test]
    fn data_sizes_that_overflow_end_the_scan() {
        // 2 groups of 2^63-1 bytes: the padded data length and the next offset overflow.
        let primary = header(&[
            kv("SIMPLE", "T"),
            kv("BITPIX", "8"),
            kv("NAXIS", "1"),
            kv("NAXIS1", "9223372036854775807"),
            kv("GCOUNT", "2"),
        ]);
        let mut head = primary.clone();
        head.extend(image_header("XTENSION", 0));
        let size = u64::MAX;
        let (hdus, next) = fits_chain(&head, size);
        assert_eq!(
            (hdus.len(), next),
            (0, None),
            "a header whose data length overflows: no HDU, no next header"
        );
        assert!(fits_plan(&head, size).is_empty(), "no plan for it");
        // A header whose end overflows only with its start added.
        let big = header(&[
            kv("XTENSION", "'IMAGE   '"),
            kv("BITPIX", "8"),
            kv("NAXIS", "1"),
            kv("NAXIS1", "18446744073709000000"),
        ]);
        let _ = fits_units_at(&big, u64::MAX - 2880, &[u64::MAX - 2880], size);
        let mut chain = image_header("SIMPLE", 0);
        chain.extend(header(&[
            kv("XTENSION", "'IMAGE   '"),
            kv("BITPIX", "8"),
            kv("NAXIS", "2"),
            kv("NAXIS1", "9223372036854775807"),
            kv("NAXIS2", "1"),
            kv("GCOUNT", "1"),
        ]));
        let (_, next) = fits_chain(&chain, size);
        assert!(
            next.is_none_or(|n| n > chain.len() as u64),
            "the scan must only move forward, got next header at {next:?}"
        );
    }

    #[test]
    fn the_scan_of_a_head_full_of_headers_is_bounded_by_the_head() {
        // Empty HDUs, one 2880-byte header each, filling the whole head.
        let mut head = header(&[kv("SIMPLE", "T"), kv("BITPIX", "8"), kv("NAXIS", "0")]);
        let ext = header(&[
            kv("XTENSION", "'IMAGE   '"),
            kv("BITPIX", "8"),
            kv("NAXIS", "0"),
        ]);
        while head.len() < HEAD_LEN as usize {
            head.extend(&ext);
        }
        let (hdus, next) = fits_chain(&head, u64::MAX);
        assert_eq!(
            (hdus.len(), next),
            (head.len() / 2880, Some(head.len() as u64)),
            "one HDU per header in the head, the next just past it"
        );
    }

    #[test]
    fn small_files_need_no_plan() {
        let primary = header(&[kv("SIMPLE", "T"), kv("BITPIX", "8"), kv("NAXIS", "0")]);
        assert!(fits_plan(&primary, primary.len() as u64).is_empty());
        assert!(asdf_tail(100_000).is_none());
    }

    #[test]
    fn asdf_units_come_from_the_block_index() {
        let tail_start = 1_000_000;
        let mut tail = vec![0u8; 500];
        tail.extend_from_slice(
            b"#ASDF BLOCK INDEX\n%YAML 1.1\n---\n- 10490\n- 900000\n- 500000\n...\n",
        );
        // Not ascending: no units rather than wrong ones.
        assert!(asdf_units(&tail, tail_start, 2_000_000).is_empty());
        let mut tail = vec![0u8; 500];
        tail.extend_from_slice(b"#ASDF BLOCK INDEX\n%YAML 1.1\n---\n- 10490\n- 600000\n...\n");
        let units = asdf_units(&tail, tail_start, 2_000_000);
        assert_eq!(units, vec![10490, 600_000, 1_000_500]);
        assert_eq!(
            unit_of(&units, 20_000, 2_000_000).end,
            600_000,
            "first block ends"
        );
        assert_eq!(
            unit_of(&units, 700_000, 2_000_000).end,
            1_000_500,
            "last block ends at the index"
        );
        assert_eq!(
            unit_of(&units, 1_500_000, 2_000_000).end,
            2_000_000,
            "past the index: the size"
        );
        assert_eq!(unit_of(&units, 600_000, 2_000_000), 600_000..1_000_500);
        assert_eq!(unit_of(&units, 20_000, 2_000_000), 10490..600_000);
        assert_eq!(
            unit_of(&units, 5, 2_000_000),
            0..10490,
            "before the first unit"
        );
        assert_eq!(unit_of(&units, 1_500_000, 2_000_000), 1_000_500..2_000_000);
        assert!(asdf_units(b"no index here", 0, 100).is_empty());
    }

    #[test]
    fn asdf_tail_covers_the_block_index() {
        let size = 375_796_471;
        let tail = asdf_tail(size).expect("a tail for a large file");
        assert_eq!(tail.end, size);
        assert!(tail.start <= size - 64 * 1024, "{tail:?}");
        assert_eq!(tail.start % PAGE, 0);
    }
}
