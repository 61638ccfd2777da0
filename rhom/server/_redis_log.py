"""The change log on Redis, shared by RedisStore and RedisClusterStore: Lua scripts and
the ``log_*`` methods over four primitives each store supplies.

A change log ``L`` is a handful of Redis keys sharing the hash tag ``{L}`` (so a Redis
Cluster keeps them in one hash slot, on one node, and its scripts can touch them
together)::

    lg:{L}:z   ZSET  entry seq by seq: the log order
    lg:{L}:e   HASH  seq -> "prev|oid" of each entry
    lg:{L}:v   HASH  seq -> canonical JSON (absent: the entry is a deletion)
    lg:{L}:c   HASH  oid -> "seq|digest" of the object's latest entry (digest empty: deleted)
    lg:{L}:r   ZSET  "seq|replacing seq" of replaced entries, by the time they were replaced
    lg:{L}:g   ZSET  seq of deletions still latest, by the time of the deletion
    lg:{L}:m   HASH  last, count, floor; node and gaps (see _SETTLE)
    lg:{L}:u   HASH  first seq -> run: JSON [[oid, digest, value], ...] of consecutive entries
    lg:{L}:w   ZSET  "first|last" of each run, by its first seq

A write of many objects all new to the log is kept as runs (rhom.server._runs) instead
of three fields and a set member per object; the object heads in ``c`` are written either
way. A run never holds a replaced entry: the write that replaces one of its objects first
turns the run into entries, so compaction needs no change.

Writes, reads and compactions run as Lua scripts, so each is atomic and sequence numbers
are taken in the same step that writes them: a reader never sees a number before its
entry, nor an entry without its value.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson

from rhom.server import _runs
from rhom.server.store import ChangeLog, LogChange, LogEntry, LogInfo, iter_chunks

__all__ = ["RedisLog"]

_LOG_KEYS = ("z", "e", "v", "c", "r", "g", "m", "u", "w")

# Turns the run holding entry ARGV-given `seq` into entries (z, e, v) before that entry is
# replaced. Shared by the scripts below; needs z, e, v, u, w and `span` in scope.
_UNRUN = """
local function unrun(seq)
  local hit = redis.call('ZREVRANGEBYSCORE', w, seq, '(' .. (seq - span), 'LIMIT', 0, 1)
  if #hit == 0 then return end
  local first, stop = string.match(hit[1], '^(%d+)|(%d+)$')
  first, stop = tonumber(first), tonumber(stop)
  if stop < seq then return end
  local members = cjson.decode(redis.call('HGET', u, first))
  local zs, es, vs = {}, {}, {}
  for k, item in ipairs(members) do
    local n = first + k - 1
    zs[#zs + 1] = n; zs[#zs + 1] = n
    es[#es + 1] = n; es[#es + 1] = '0|' .. item[1]
    vs[#vs + 1] = n; vs[#vs + 1] = item[3]
  end
  redis.call('ZADD', z, unpack(zs))
  redis.call('HSET', e, unpack(es))
  redis.call('HSET', v, unpack(vs))
  redis.call('HDEL', u, first)
  redis.call('ZREM', w, hit[1])
end
"""

# Rule 1 of the ChangeLog contract: never hand a number out twice. The log's hash `m`
# notes the replication id of the node that last wrote it (INFO replication's
# master_replid). Another id means that another node answers now: a replica that took
# over from a master that died, or a server restarted from its files. Either may lack the
# writes acknowledged just before (replication and the append-only file are
# asynchronous), whose numbers clients may have seen. So the log skips GAP numbers and
# notes the gap ("lo-hi;" in `gaps`): a read after a cursor inside it answers a floor
# above that cursor, and the client that saw the lost entries starts over, while the
# others, whose cursors lie below the gap, go on. Reads settle too (a client may page
# before anyone writes), but note no node for a log nobody wrote yet.
_GAP = 100_000_000
_SETTLE = f"""
local function settle(m, writing)
  local got = redis.call('HMGET', m, 'last', 'node', 'gaps')
  local info = redis.call('INFO', 'replication')
  local node = string.match(info, 'master_replid:(%w+)')
  if node == nil or got[2] == node then return end
  local last = tonumber(got[1] or '0')
  if got[2] and last > 0 then
    local gap = (last + 1) .. '-' .. (last + {_GAP}) .. ';'
    redis.call('HSET', m, 'last', last + {_GAP}, 'node', node, 'gaps', (got[3] or '') .. gap)
  elseif writing or last > 0 then
    redis.call('HSET', m, 'node', node)
  end
end
"""

# KEYS: the nine log keys; ARGV: now, a JSON array of [oid, digest, value or ""] (one
# argument: thousands of them cost more to send than the work), RUN_SPAN_MAX. Reads every
# object's latest entry with one HMGET and writes each key with one variadic command at
# the end: per-object commands would dominate the script's time.
_WRITE = (
    """
local z, e, v, c, r, g, m = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local u, w = KEYS[8], KEYS[9]
local now, span = ARGV[1], tonumber(ARGV[3])
"""
    + _UNRUN
    + _SETTLE
    + """
settle(m, true)
local last = tonumber(redis.call('HGET', m, 'last') or '0')
local count = tonumber(redis.call('HGET', m, 'count') or '0')
local items = cjson.decode(ARGV[2])
local oids = {}
for k, item in ipairs(items) do oids[k] = item[1] end
local heads = redis.call('HMGET', c, unpack(oids))
local latest = {}
for k, oid in ipairs(oids) do
  if heads[k] and latest[oid] == nil then latest[oid] = heads[k] end
end
local out, zadd, eset, vset, cset, radd, gadd, grem = {}, {}, {}, {}, {}, {}, {}, {}
for k, oid in ipairs(oids) do
  local dg, val = items[k][2], items[k][3]
  local prev, cdg = 0, ''
  local cur = latest[oid]
  if cur then
    local a, b = string.match(cur, '^(%d+)|(.*)$')
    prev, cdg = tonumber(a), b
  end
  local live = cdg ~= ''
  if (val == '' and not live) or (val ~= '' and cdg == dg) then
    out[#out + 1] = prev
  else
    last = last + 1
    zadd[#zadd + 1] = last; zadd[#zadd + 1] = last
    eset[#eset + 1] = last; eset[#eset + 1] = prev .. '|' .. oid
    if prev > 0 then
      unrun(prev)
      radd[#radd + 1] = now; radd[#radd + 1] = prev .. '|' .. last
      if not live then grem[#grem + 1] = prev end
    end
    if val == '' then
      gadd[#gadd + 1] = now; gadd[#gadd + 1] = last
      latest[oid] = last .. '|'
      count = count - 1
    else
      vset[#vset + 1] = last; vset[#vset + 1] = val
      latest[oid] = last .. '|' .. dg
      if not live then count = count + 1 end
    end
    cset[#cset + 1] = oid; cset[#cset + 1] = latest[oid]
    out[#out + 1] = last
  end
end
if #zadd > 0 then
  redis.call('ZADD', z, unpack(zadd))
  redis.call('HSET', e, unpack(eset))
  redis.call('HSET', c, unpack(cset))
  if #vset > 0 then redis.call('HSET', v, unpack(vset)) end
  if #radd > 0 then redis.call('ZADD', r, unpack(radd)) end
  if #gadd > 0 then redis.call('ZADD', g, unpack(gadd)) end
  if #grem > 0 then redis.call('ZREM', g, unpack(grem)) end
  redis.call('HSET', m, 'last', last, 'count', count)
end
return cjson.encode(out)
"""
)

# KEYS: the nine log keys; ARGV: now, a JSON array of [oid, digest] (objects new to the
# log, in order), a JSON array of run sizes, then one run per size (JSON [[oid, digest,
# value], ...]). Writes nothing and returns false when one of the objects is known to the
# log, even deleted; else returns the first number given.
_WRITE_RUNS = (
    _SETTLE
    + """
local c, m, u, w = KEYS[4], KEYS[7], KEYS[8], KEYS[9]
settle(m, true)
local heads = cjson.decode(ARGV[2])
local sizes = cjson.decode(ARGV[3])
local last = tonumber(redis.call('HGET', m, 'last') or '0')
local count = tonumber(redis.call('HGET', m, 'count') or '0')
if last > 0 then  -- a log never written knows no object
  local oids = {}
  for k, item in ipairs(heads) do oids[k] = item[1] end
  local known = redis.call('HMGET', c, unpack(oids))
  for k = 1, #oids do
    if known[k] then return false end
  end
end
local cset = {}
for k, item in ipairs(heads) do
  cset[#cset + 1] = item[1]; cset[#cset + 1] = (last + k) .. '|' .. item[2]
end
redis.call('HSET', c, unpack(cset))
local at = last + 1
for i, n in ipairs(sizes) do
  redis.call('HSET', u, at, ARGV[3 + i])
  redis.call('ZADD', w, at, at .. '|' .. (at + n - 1))
  at = at + n
end
redis.call('HSET', m, 'last', last + #heads, 'count', count + #heads)
return last + 1
"""
)

# KEYS: z, e, v, w, u, m; ARGV: after, limit, RUN_SPAN_MAX. Returns the log's counters
# (last, count, floor: above `after` when `after` lies in a gap), one JSON array of seq,
# "prev|oid", value (false when deleted), flattened, of the first `limit` entries after
# `after`; then the first number and the JSON of each run that may hold some of the
# first `limit` numbers after `after`.
_READ = (
    _SETTLE
    + """
local after, limit, span = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
settle(KEYS[6], false)
local seqs = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. after, '+inf', 'LIMIT', 0, limit)
local counters = redis.call('HMGET', KEYS[6], 'last', 'count', 'floor', 'gaps')
local floor = tonumber(counters[3] or '0')
for lo, hi in string.gmatch(counters[4] or '', '(%d+)-(%d+);') do
  if after >= tonumber(lo) and after <= tonumber(hi) then floor = math.max(floor, tonumber(hi)) end
end
local reply = {counters[1] or '0', counters[2] or '0', floor, '[]'}
if #seqs > 0 then
  local heads = redis.call('HMGET', KEYS[2], unpack(seqs))
  local values = redis.call('HMGET', KEYS[3], unpack(seqs))
  local out = {}
  for k, seq in ipairs(seqs) do
    out[#out + 1] = tonumber(seq)
    out[#out + 1] = heads[k]
    out[#out + 1] = values[k]
  end
  reply[4] = cjson.encode(out)
end
local bound = '+inf'
if #seqs == limit then bound = seqs[#seqs] end
local have, offset = 0, 0
while have < limit do
  local batch = redis.call('ZRANGEBYSCORE', KEYS[4], '(' .. (after - span), bound, 'LIMIT', offset, 16)
  if #batch == 0 then break end
  for _, member in ipairs(batch) do
    local first, stop = string.match(member, '^(%d+)|(%d+)$')
    first, stop = tonumber(first), tonumber(stop)
    if stop > after and have < limit then
      reply[#reply + 1] = first
      reply[#reply + 1] = redis.call('HGET', KEYS[5], first)
      have = have + stop - math.max(first, after + 1) + 1
    end
  end
  offset = offset + #batch
end
return reply
"""
)

# KEYS: e, v, w, u; ARGV: RUN_SPAN_MAX, then sequence numbers. Returns the heads and the
# values of those numbers (false where no entry), then the first number and the JSON of
# each run holding one of the others.
_ENTRIES = """
local span = tonumber(ARGV[1])
local seqs = {}
for k = 2, #ARGV do seqs[k - 1] = ARGV[k] end
local heads = redis.call('HMGET', KEYS[1], unpack(seqs))
local values = redis.call('HMGET', KEYS[2], unpack(seqs))
local reply, seen = {heads, values}, {}
for k, seq in ipairs(seqs) do
  if not heads[k] then
    local n = tonumber(seq)
    local hit = redis.call('ZREVRANGEBYSCORE', KEYS[3], n, '(' .. (n - span), 'LIMIT', 0, 1)
    if #hit > 0 then
      local first, stop = string.match(hit[1], '^(%d+)|(%d+)$')
      if tonumber(stop) >= n and not seen[first] then
        seen[first] = true
        reply[#reply + 1] = tonumber(first)
        reply[#reply + 1] = redis.call('HGET', KEYS[4], first)
      end
    end
  end
end
return reply
"""

# KEYS: the seven log keys; ARGV: before. Returns the new floor.
_COMPACT = (
    _SETTLE
    + """
local z, e, v, c, r, g, m = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
settle(m, false)
local floor = tonumber(redis.call('HGET', m, 'floor') or '0')
local function drop(seq)
  redis.call('ZREM', z, seq)
  redis.call('HDEL', e, seq)
  redis.call('HDEL', v, seq)
end
for _, pair in ipairs(redis.call('ZRANGEBYSCORE', r, '-inf', ARGV[1])) do
  local seq, by = string.match(pair, '^(%d+)|(%d+)$')
  drop(seq)
  if tonumber(by) > floor then floor = tonumber(by) end
  redis.call('ZREM', r, pair)
end
for _, seq in ipairs(redis.call('ZRANGEBYSCORE', g, '-inf', ARGV[1])) do
  local head = redis.call('HGET', e, seq)
  redis.call('HDEL', c, string.match(head, '^%d+|(.*)$'))
  drop(seq)
  if tonumber(seq) > floor then floor = tonumber(seq) end
  redis.call('ZREM', g, seq)
end
redis.call('HSET', m, 'floor', floor)
local gaps = redis.call('HGET', m, 'gaps')
if gaps then  -- a gap below the floor concerns no client that is not stale anyway
  local kept = ''
  for lo, hi in string.gmatch(gaps, '(%d+)-(%d+);') do
    if tonumber(hi) >= floor then kept = kept .. lo .. '-' .. hi .. ';' end
  end
  redis.call('HSET', m, 'gaps', kept)
end
return floor
"""
)


class RedisLog(ChangeLog):
    """The ``log_*`` methods of a Redis store, over the primitives its subclass supplies:
    :meth:`_eval` (a script on the node of its keys), :meth:`_hmget`, :meth:`_hscan` and
    :meth:`_delete_logs`. Every key of one log shares the hash tag ``{log}``."""

    prefix: str

    @abc.abstractmethod
    def _eval(self, source: str, keys: list[str], args: list[Any], *, write: bool) -> Any:
        """Run the Lua script ``source`` with ``keys`` (all in one hash slot, on its master)
        and ``args``; ``write``: a change the caller relies on (a store that waits for
        replicas waits for this one)."""

    @abc.abstractmethod
    def _hmget(self, key: str, fields: list[str]) -> list[Any]:
        """``HMGET key fields...``."""

    @abc.abstractmethod
    def _hscan(self, key: str) -> Iterator[tuple[Any, Any]]:
        """Every field and value of the hash ``key``, a batch at a time."""

    @abc.abstractmethod
    def _delete_logs(self, pattern: str) -> None:
        """Delete every key that matches the glob ``pattern``, on every node."""

    def _log_keys(self, log: str) -> list[str]:
        base = f"{self.prefix}lg:{{{log}}}:"
        return [base + kind for kind in _LOG_KEYS]

    def log_write(self, log: str, changes: Sequence[LogChange], now: float) -> list[int]:
        if not changes:
            return []
        keys = self._log_keys(log)
        seqs: list[int] = []
        for chunk in iter_chunks(list(changes), 1000):  # Lua's unpack() takes ~8000 values
            first = self._write_runs(keys, chunk, now) if _runs.new_objects_only(chunk) else None
            if first is not None:
                seqs.extend(range(first, first + len(chunk)))
                continue
            items = [
                (oid, "" if value is None else digest, "" if value is None else value) for oid, digest, value in chunk
            ]
            packed = orjson.dumps(items)
            result = self._eval(_WRITE, keys, [repr(now), packed, _runs.RUN_SPAN_MAX], write=True)
            seqs.extend(orjson.loads(result))
        return seqs

    def _write_runs(self, keys: list[str], chunk: list[LogChange], now: float) -> int | None:
        """Write objects new to the log as runs; ``None`` when one is known to it after all."""
        parts = list(iter_chunks(chunk, _runs.RUN_SIZE))
        heads = orjson.dumps([(oid, digest) for oid, digest, _ in chunk])
        sizes = orjson.dumps([len(part) for part in parts])
        runs = [orjson.dumps(part) for part in parts]  # [oid, digest, value] each, as stored
        first = self._eval(_WRITE_RUNS, keys, [repr(now), heads, sizes, *runs], write=True)
        return None if first is None else int(first)

    def log_read(self, log: str, after: int, limit: int) -> list[LogEntry]:
        return self.log_scan(log, after, limit)[1]

    def log_scan(self, log: str, after: int, limit: int) -> tuple[LogInfo, list[LogEntry]]:
        if limit <= 0:
            return self.log_info(log), []
        z, e, v, _, _, _, m, u, w = self._log_keys(log)
        info = LogInfo()
        entries: list[LogEntry] = []
        while len(entries) < limit:  # Lua's unpack() takes ~8000 values: 2000 entries a call
            want = min(limit - len(entries), 2000)
            # it may note a gap (_SETTLE), which needs no WAIT: the next read notes it again
            reply = self._eval(_READ, [z, e, v, w, u, m], [after, want, _runs.RUN_SPAN_MAX], write=False)
            if not entries:  # the counters of the first read, the moment of the first entries
                info = LogInfo(int(reply[0]), int(reply[1]), int(reply[2]))
            flat = orjson.loads(reply[3])
            got = [_entry(flat[i], flat[i + 1], flat[i + 2] or None) for i in range(0, len(flat), 3)]
            if len(reply) > 4:
                for first, members in _run_members(reply[4:]):
                    skip = max(0, after + 1 - first)
                    got += [
                        LogEntry(first + skip + k, oid, value, 0)
                        for k, (oid, _, value) in enumerate(members[skip : skip + want])
                    ]
                got = sorted(got, key=lambda entry: entry.seq)[:want]
            entries += got
            if len(got) < want:
                break
            after = entries[-1].seq
        return info, entries

    def log_entries(self, log: str, seqs: Iterable[int]) -> dict[int, LogEntry]:
        _, e, v, *_, u, w = self._log_keys(log)
        found: dict[int, LogEntry] = {}
        for chunk in iter_chunks(list(seqs), 1000):
            reply = self._eval(_ENTRIES, [e, v, w, u], [_runs.RUN_SPAN_MAX, *chunk], write=False)
            for seq, head, value in zip(chunk, reply[0], reply[1], strict=True):
                if head is not None:
                    found[seq] = _entry(seq, head, value)
            wanted = set(chunk)
            for first, members in _run_members(reply[2:]):
                for k, (oid, _, value) in enumerate(members):
                    if first + k in wanted:
                        found[first + k] = LogEntry(first + k, oid, value, 0)
        return found

    def log_current(self, log: str, oids: Iterable[str]) -> dict[str, LogEntry]:
        latest = {oid: int(head.split("|", 1)[0]) for oid, head in self._heads(log, oids).items()}
        entries = self.log_entries(log, latest.values())
        return {oid: entries[seq] for oid, seq in latest.items() if seq in entries}

    def _heads(self, log: str, oids: Iterable[str]) -> dict[str, str]:
        c = self._log_keys(log)[3]
        found: dict[str, str] = {}
        for chunk in iter_chunks(list(oids), 1000):
            for oid, head in zip(chunk, self._hmget(c, chunk), strict=True):
                if head is not None:
                    found[oid] = _text(head)
        return found

    def log_digests(self, log: str, oids: Iterable[str]) -> dict[str, str]:
        heads = self._heads(log, oids)
        return {oid: digest for oid, head in heads.items() if (digest := head.split("|", 1)[1])}

    def log_ids(self, log: str) -> Iterator[str]:
        c = self._log_keys(log)[3]
        for oid, head in self._hscan(c):
            if not _text(head).endswith("|"):  # deleted objects have no digest
                yield _text(oid)

    def log_info(self, log: str) -> LogInfo:
        last, count, floor = self._hmget(self._log_keys(log)[6], ["last", "count", "floor"])
        return LogInfo(int(last or 0), int(count or 0), int(floor or 0))

    def log_compact(self, log: str, before: float) -> int:
        return int(self._eval(_COMPACT, self._log_keys(log), [repr(before)], write=True))

    def log_drop(self, prefix: str) -> None:
        self._delete_logs(glob_escape(f"{self.prefix}lg:{{{prefix}") + "*")


def _run_members(flat: list[Any]) -> Iterator[tuple[int, list[Any]]]:
    """The (first number, members) of the runs a script returned as first, JSON, ..."""
    for k in range(0, len(flat), 2):
        yield int(flat[k]), orjson.loads(flat[k + 1])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry(seq: Any, head: Any, value: Any) -> LogEntry:
    prev, oid = _text(head).split("|", 1)
    return LogEntry(int(seq), oid, None if value is None else _text(value), int(prev))


def glob_escape(text: str) -> str:
    """``text`` as a literal in a Redis glob pattern (``SCAN MATCH``)."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
