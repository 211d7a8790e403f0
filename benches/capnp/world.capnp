# The comparison dataset in Cap'n Proto. `capnp compile -orust:../src world.capnp`
# (Debian's capnproto 0.9.2 with capnpc-rust 0.27) generated ../src/world_capnp.rs,
# which is committed so that building the benchmarks needs no external tool.
@0xa3501936b999b888;

struct Profile {
  country @0 :Text;
  joined @1 :UInt64;
}

struct User {
  id @0 :UInt64;
  name @1 :Text;
  level @2 :UInt32;
  score @3 :Float64;
  active @4 :Bool;
  friends @5 :List(UInt64);
  profile @6 :Profile;
}

struct Stats {
  users @0 :UInt64;
  maxLevel @1 :UInt32;
  meanScore @2 :Float64;
}

struct Meta {
  version @0 :UInt32;
  createdBy @1 :Text;
  stats @2 :Stats;
  tags @3 :List(Text);
}

# Cap'n Proto has no map type: the map is a list of entries sorted by key, looked up
# by binary search in place.
struct Entry {
  key @0 :Text;
  value @1 :User;
}

struct World {
  name @0 :Text;
  meta @1 :Meta;
  users @2 :List(User);
  byName @3 :List(Entry);
  # A Data blob holds at most 2^29 bytes: the asset is stored in 16 MiB pieces.
  asset @4 :List(Data);
}
