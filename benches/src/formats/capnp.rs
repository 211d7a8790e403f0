//! Cap'n Proto through the `capnp` crate, with code generated from `capnp/world.capnp`.
//!
//! Reads go through the message in place over a memory map, as Cap'n Proto is meant
//! to be used: pointers are bounds-checked as they are followed, nothing is decoded
//! ahead. Cap'n Proto has no map type, so the map is a list of entries sorted by key
//! and a lookup is a binary search over it, in place.

use super::{Format, Op, Prepared, Res, fsync, map, users_only};
use crate::dataset::{self, Data, Kind, World};
use crate::world_capnp::{profile, user, world};
use capnp::message::{Builder, ReaderOptions};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// The largest piece of the asset in one `Data` (a blob holds at most 2^29 bytes).
const ASSET_PIECE: usize = 16 << 20;

/// Cap'n Proto 0.9.2 schema, `capnp` 0.27 crate.
pub struct Capnp;

fn set_user(mut b: user::Builder<'_>, u: &dataset::User) -> Res<()> {
    b.set_id(u.id);
    b.set_name(u.name.as_str());
    b.set_level(u.level);
    b.set_score(u.score);
    b.set_active(u.active);
    {
        let mut friends = b.reborrow().init_friends(u32::try_from(u.friends.len())?);
        for (i, f) in (0u32..).zip(&u.friends) {
            friends.set(i, *f);
        }
    }
    let mut p: profile::Builder<'_> = b.init_profile();
    p.set_country(u.profile.country.as_str());
    p.set_joined(u.profile.joined);
    Ok(())
}

fn get_user(r: user::Reader<'_>) -> Res<dataset::User> {
    let p = r.get_profile()?;
    Ok(dataset::User {
        id: r.get_id(),
        name: r.get_name()?.to_string()?,
        level: r.get_level(),
        score: r.get_score(),
        active: r.get_active(),
        friends: r.get_friends()?.iter().collect(),
        profile: dataset::Profile { country: p.get_country()?.to_string()?, joined: p.get_joined() },
    })
}

fn build(w: &World) -> Res<Builder<capnp::message::HeapAllocator>> {
    let mut message = Builder::new_default();
    let mut root = message.init_root::<world::Builder<'_>>();
    root.set_name(w.name.as_str());
    {
        let mut m = root.reborrow().init_meta();
        m.set_version(w.meta.version);
        m.set_created_by(w.meta.created_by.as_str());
        {
            let mut s = m.reborrow().init_stats();
            s.set_users(w.meta.stats.users);
            s.set_max_level(w.meta.stats.max_level);
            s.set_mean_score(w.meta.stats.mean_score);
        }
        let mut tags = m.init_tags(u32::try_from(w.meta.tags.len())?);
        for (i, t) in (0u32..).zip(&w.meta.tags) {
            tags.set(i, t.as_str());
        }
    }
    {
        let mut users = root.reborrow().init_users(u32::try_from(w.users.len())?);
        for (i, u) in (0u32..).zip(&w.users) {
            set_user(users.reborrow().get(i), u)?;
        }
    }
    {
        let mut entries: Vec<(&String, &dataset::User)> = w.by_name.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut list = root.reborrow().init_by_name(u32::try_from(entries.len())?);
        for (i, (k, v)) in (0u32..).zip(entries) {
            let mut e = list.reborrow().get(i);
            e.set_key(k.as_str());
            set_user(e.init_value(), v)?;
        }
    }
    let pieces = w.asset.chunks(ASSET_PIECE);
    let mut asset = root.init_asset(u32::try_from(pieces.len())?);
    for (i, piece) in (0u32..).zip(pieces) {
        asset.set(i, piece);
    }
    Ok(message)
}

/// Binary search of the sorted entries for `key`, in place.
fn lookup<'a>(
    entries: capnp::struct_list::Reader<'a, crate::world_capnp::entry::Owned>,
    key: &str,
) -> Res<Option<user::Reader<'a>>> {
    let (mut lo, mut hi) = (0u32, entries.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let e = entries.get(mid);
        match e.get_key()?.as_bytes().cmp(key.as_bytes()) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Ok(Some(e.get_value()?)),
        }
    }
    Ok(None)
}

impl Format for Capnp {
    fn name(&self) -> &'static str {
        "Cap'n Proto"
    }

    fn write(&self, d: &Data, _: &Prepared, path: &Path) -> Res<()> {
        let Data::Users(w) = d else { return Err(users_only(self.name())) };
        let message = build(w)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
        capnp::serialize::write_message(&mut out, &message)?;
        out.flush()?;
        drop(out);
        fsync(path)
    }

    fn run(&self, op: Op, path: &Path, probe: &dataset::Probe) -> Res<Option<u64>> {
        if probe.kind != Kind::Users {
            return Err(users_only(self.name()));
        }
        let map = map(path)?;
        let mut bytes: &[u8] = &map;
        // No traversal limit: the file is trusted as much as the other formats' files,
        // and a full load reads every word.
        let options = *ReaderOptions::new().traversal_limit_in_words(None);
        let message = capnp::serialize::read_message_from_flat_slice_no_alloc(&mut bytes, options)?;
        let w = message.get_root::<world::Reader<'_>>()?;
        let answer = match op {
            Op::Metadata => u64::from(w.get_meta()?.get_version()),
            Op::DeepField => u64::from(w.get_meta()?.get_stats()?.get_max_level()),
            Op::MapLookup => lookup(w.get_by_name()?, &probe.key)?.map_or(u64::MAX, |u| u64::from(u.get_level())),
            Op::VectorElement => {
                let users = w.get_users()?;
                let i = u32::try_from(probe.index)?;
                if i < users.len() { u64::from(users.get(i).get_level()) } else { u64::MAX }
            }
            Op::FullLoad => {
                let meta = w.get_meta()?;
                let stats = meta.get_stats()?;
                let mut users = Vec::with_capacity(w.get_users()?.len() as usize);
                for u in w.get_users()? {
                    users.push(get_user(u)?);
                }
                let mut by_name = HashMap::with_capacity(w.get_by_name()?.len() as usize);
                for e in w.get_by_name()? {
                    by_name.insert(e.get_key()?.to_string()?, get_user(e.get_value()?)?);
                }
                let mut asset = Vec::new();
                for piece in w.get_asset()? {
                    asset.extend_from_slice(piece?);
                }
                let all = World {
                    name: w.get_name()?.to_string()?,
                    meta: dataset::Meta {
                        version: meta.get_version(),
                        created_by: meta.get_created_by()?.to_string()?,
                        stats: dataset::Stats {
                            users: stats.get_users(),
                            max_level: stats.get_max_level(),
                            mean_score: stats.get_mean_score(),
                        },
                        tags: meta.get_tags()?.iter().map(|t| Ok(t?.to_string()?)).collect::<Res<_>>()?,
                    },
                    users,
                    by_name,
                    asset,
                };
                let sum = dataset::checksum(&all);
                super::keep(all);
                sum
            }
        };
        super::keep(map);
        Ok(Some(answer))
    }
}
