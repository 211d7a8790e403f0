//! Tests of the chunk table's layout and of the writer's fanout.

use super::{ChunkTable, FANOUT, MAX_FANOUT, TableHeader, depth_for, fanout_for};
use crate::format::{ChunkRef, Encoding};

#[test]
fn a_header_encodes_as_its_archived_bytes_and_decodes_back() -> Result<(), String> {
    let r = ChunkRef::new(4096, 100, 300, 0xABCD, Encoding::Zstd);
    for h in [TableHeader::new(ChunkTable::new(r, 1000, 2, 32), 123_456), TableHeader::empty()] {
        let bytes = h.to_bytes();
        assert_eq!(TableHeader::from_bytes(&bytes), h);
        let mut aligned = rkyv::util::AlignedVec::<16>::new();
        aligned.extend_from_slice(&bytes);
        let archived = rkyv::access::<TableHeader, rkyv::rancor::Error>(&aligned).map_err(|e| e.to_string())?;
        assert_eq!(*archived, h);
    }
    Ok(())
}

#[test]
fn the_writers_fanout_keeps_the_least_depth_with_the_narrowest_nodes() {
    let one = u64::from(FANOUT);
    let max = u64::from(MAX_FANOUT);
    let counts = (0..5_000u64).chain((5_000..1_000_000).step_by(997)).chain([
        one * one,
        one * one + 1,
        max * max,
        max * max + 1,
        1 << 40,
    ]);
    for n in counts {
        let f = u64::from(fanout_for(n));
        let depth = if n <= one { 1 } else { depth_for(n, max).max(2) };
        assert!((2..=max).contains(&f), "{n}: fanout {f}");
        assert_eq!(depth_for(n, f), depth, "{n}: fanout {f} changes the depth");
        if depth > 1 {
            assert!(f == 2 || depth_for(n, f - 1) > depth, "{n}: fanout {f} is not the narrowest");
        } else {
            assert_eq!(f, one, "{n}: a single node keeps the default fanout");
        }
    }
    // Two levels up to 2,048^2 leaves: a 10 GB map's lookup reads two nodes.
    assert_eq!(depth_for(max * max, u64::from(fanout_for(max * max))), 2);
    assert_eq!(fanout_for(2_500), 50);
}
