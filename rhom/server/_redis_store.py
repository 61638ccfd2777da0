"""The shared store: Redis, for several server processes behind a load balancer.

A change log ``L`` is a handful of Redis keys sharing the hash tag ``{L}`` (so a Redis
Cluster keeps them on one node and its scripts can touch them together)::

    lg:{L}:z   ZSET  entry seq by seq: the log order
    lg:{L}:e   HASH  seq -> "prev|oid" of each entry
    lg:{L}:v   HASH  seq -> canonical JSON (absent: the entry is a deletion)
    lg:{L}:c   HASH  oid -> "seq|digest" of the object's latest entry (digest empty: deleted)
    lg:{L}:r   ZSET  "seq|replacing seq" of replaced entries, by the time they were replaced
    lg:{L}:g   ZSET  seq of deletions still latest, by the time of the deletion
    lg:{L}:m   HASH  last, count, floor
    lg:{L}:u   HASH  first seq -> run: JSON [[oid, digest, value], ...] of consecutive entries
    lg:{L}:w   ZSET  "first|last" of each run, by its first seq

A write of many objects all new to the log is kept as runs (one field per RUN_SIZE
objects) instead of three fields and a set member per object; the object heads in ``c``
are written either way. A run never holds a replaced entry: the write that replaces one
of its objects first turns the run into entries, so compaction needs no change.

Writes, reads and compactions run as Lua scripts, so each is atomic and sequence numbers
are taken in the same step that writes them: a reader never sees a number before its
entry, nor an entry without its value.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import orjson
import redis

from rhom.server._slots import waiting
from rhom.server.store import LogChange, LogEntry, LogInfo, Store, iter_chunks, new_objects_only

_LOG_KEYS = ("z", "e", "v", "c", "r", "g", "m", "u", "w")

#: A write of at least this many objects, all new to the log, is kept as runs of at most
#: RUN_SIZE objects (one hash field each).
RUN_MIN = 32
RUN_SIZE = 200
#: No run ever holds more objects: scripts seek runs by it (never lower it).
RUN_SPAN_MAX = 1000

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
    + """
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
_WRITE_RUNS = """
local c, m, u, w = KEYS[4], KEYS[7], KEYS[8], KEYS[9]
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

# KEYS: z, e, v, w, u, m; ARGV: after, limit, RUN_SPAN_MAX. Returns the log's counters
# (last, count, floor), one JSON array of seq, "prev|oid", value (false when deleted),
# flattened, of the first `limit` entries after `after`; then the first number and the
# JSON of each run that may hold some of the first `limit` numbers after `after`.
_READ = """
local after, limit, span = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local seqs = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. after, '+inf', 'LIMIT', 0, limit)
local counters = redis.call('HMGET', KEYS[6], 'last', 'count', 'floor')
local reply = {counters[1] or '0', counters[2] or '0', counters[3] or '0', '[]'}
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
_COMPACT = """
local z, e, v, c, r, g, m = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
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
return floor
"""

__all__ = ["RedisStore"]

_LOCK_TIMEOUT = 60.0  # a crashed holder frees the lock after this many seconds


class RedisStore(Store):
    """Server state in Redis strings under ``prefix``; locks are Redis locks.

    :param url: a redis-py URL (``redis://127.0.0.1:6379/0``).
    :param prefix: prepended to every key, so several apps can share one Redis.
    """

    def __init__(self, url: str, *, prefix: str = "rhom:") -> None:
        self.url = url
        self.prefix = prefix
        self._client: redis.Redis | None = None
        self._guard = threading.Lock()
        self._scripts: dict[str, Any] = {}

    def _redis(self) -> redis.Redis:
        with self._guard:
            if self._client is None:
                self._client = redis.Redis.from_url(
                    self.url, health_check_interval=30, connection_class=_yielding(self.url)
                )
            return self._client

    def get(self, key: str) -> bytes | None:
        value = self._redis().get(self.prefix + key)
        return None if value is None else _as_bytes(value)

    def get_many(self, keys: Iterable[str]) -> list[bytes | None]:
        wanted = [self.prefix + key for key in keys]
        if not wanted:
            return []
        return [None if v is None else _as_bytes(v) for v in self._redis().mget(wanted)]

    def set_many(self, items: Mapping[str, bytes | None]) -> None:
        if not items:
            return
        with self._redis().pipeline(transaction=True) as pipe:
            upserts = {self.prefix + k: v for k, v in items.items() if v is not None}
            deletes = [self.prefix + k for k, v in items.items() if v is None]
            if upserts:
                pipe.mset(upserts)
            if deletes:
                pipe.delete(*deletes)
            pipe.execute()

    def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        name = self.prefix + key
        with self._redis().pipeline(transaction=True) as pipe:
            if ttl is not None:  # the window starts with the first increment
                pipe.set(name, 0, ex=max(1, math.ceil(ttl)), nx=True)
            pipe.incrby(name, amount)
            return int(pipe.execute()[-1])

    def _scan(self, prefix: str) -> Iterator[str]:
        pattern = _glob_escape(self.prefix + prefix) + "*"
        cut = len(self.prefix)
        for key in self._redis().scan_iter(match=pattern, count=1000):
            yield key.decode()[cut:]

    def keys(self, prefix: str) -> list[str]:
        return sorted(self._scan(prefix))

    def delete_prefix(self, prefix: str) -> int:
        found = [self.prefix + key for key in self._scan(prefix)]
        deleted = 0
        for chunk in iter_chunks(found, 500):
            deleted += int(self._redis().delete(*chunk))
        return deleted

    def lock(self, name: str) -> AbstractContextManager[None]:
        return self._held(name)

    @contextmanager
    def _held(self, name: str) -> Iterator[None]:
        lock = self._redis().lock(
            self.prefix + "lock:" + name,
            timeout=_LOCK_TIMEOUT,
            sleep=0.005,
            blocking_timeout=_LOCK_TIMEOUT,
        )
        if not lock.acquire(blocking=False):
            with waiting():  # another request holds it: let others run meanwhile
                acquired = lock.acquire()
            if not acquired:
                raise TimeoutError("rhom.server: lock wait exceeded 60 s")
        try:
            yield
        finally:
            try:
                lock.release()
            except redis.exceptions.LockError:  # expired while held: nothing left to free
                pass

    # -- change logs ------------------------------------------------------------------
    def _script(self, source: str) -> Any:
        """A registered Lua script (EVALSHA; loaded again if Redis lost it)."""
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self._redis().register_script(source)
        return script

    def _log_keys(self, log: str) -> list[str]:
        base = f"{self.prefix}lg:{{{log}}}:"
        return [base + kind for kind in _LOG_KEYS]

    def log_write(self, log: str, changes: Sequence[LogChange], now: float) -> list[int]:
        if not changes:
            return []
        keys = self._log_keys(log)
        seqs: list[int] = []
        for chunk in iter_chunks(list(changes), 1000):  # Lua's unpack() takes ~8000 values
            first = self._write_runs(keys, chunk, now) if new_objects_only(chunk, RUN_MIN) else None
            if first is not None:
                seqs.extend(range(first, first + len(chunk)))
                continue
            items = [
                (oid, "" if value is None else digest, "" if value is None else value) for oid, digest, value in chunk
            ]
            packed = orjson.dumps(items)
            result = self._script(_WRITE)(keys=keys, args=[repr(now), packed, RUN_SPAN_MAX])
            seqs.extend(orjson.loads(result))
        return seqs

    def _write_runs(self, keys: list[str], chunk: list[LogChange], now: float) -> int | None:
        """Write objects new to the log as runs; ``None`` when one is known to it after all."""
        parts = list(iter_chunks(chunk, RUN_SIZE))
        heads = orjson.dumps([(oid, digest) for oid, digest, _ in chunk])
        sizes = orjson.dumps([len(part) for part in parts])
        runs = [orjson.dumps(part) for part in parts]  # [oid, digest, value] each, as stored
        first = self._script(_WRITE_RUNS)(keys=keys, args=[repr(now), heads, sizes, *runs])
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
            reply = self._script(_READ)(keys=[z, e, v, w, u, m], args=[after, want, RUN_SPAN_MAX])
            if not entries:  # the counters of the first read, the moment of the first entries
                info = LogInfo(int(reply[0]), int(reply[1]), int(reply[2]))
            flat = orjson.loads(reply[3])
            got = [_entry(flat[i], flat[i + 1], flat[i + 2] or None) for i in range(0, len(flat), 3)]
            if len(reply) > 4:
                for first, members in _runs(reply[4:]):
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
            reply = self._script(_ENTRIES)(keys=[e, v, w, u], args=[RUN_SPAN_MAX, *chunk])
            for seq, head, value in zip(chunk, reply[0], reply[1], strict=True):
                if head is not None:
                    found[seq] = _entry(seq, head, value)
            wanted = set(chunk)
            for first, members in _runs(reply[2:]):
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
            for oid, head in zip(chunk, self._redis().hmget(c, chunk), strict=True):
                if head is not None:
                    found[oid] = _text(head)
        return found

    def log_digests(self, log: str, oids: Iterable[str]) -> dict[str, str]:
        heads = self._heads(log, oids)
        return {oid: digest for oid, head in heads.items() if (digest := head.split("|", 1)[1])}

    def log_ids(self, log: str) -> Iterator[str]:
        c = self._log_keys(log)[3]
        for oid, head in self._redis().hscan_iter(c, count=1000):
            if not _text(head).endswith("|"):  # deleted objects have no digest
                yield _text(oid)

    def log_info(self, log: str) -> LogInfo:
        last, count, floor = self._redis().hmget(self._log_keys(log)[6], ["last", "count", "floor"])
        return LogInfo(int(last or 0), int(count or 0), int(floor or 0))

    def log_compact(self, log: str, before: float) -> int:
        return int(self._script(_COMPACT)(keys=self._log_keys(log), args=[repr(before)]))

    def log_drop(self, prefix: str) -> None:
        pattern = _glob_escape(f"{self.prefix}lg:{{{prefix}") + "*"
        found = list(self._redis().scan_iter(match=pattern, count=1000))
        for chunk in iter_chunks(found, 500):
            self._redis().delete(*chunk)

    def flush(self) -> None:
        self.delete_prefix("")

    def close(self) -> None:
        with self._guard:
            self._scripts.clear()
            if self._client is not None:
                self._client.close()
                self._client.connection_pool.disconnect()
                self._client = None


def _runs(flat: list[Any]) -> Iterator[tuple[int, list[Any]]]:
    """The (first number, members) of the runs a script returned as first, JSON, ..."""
    for k in range(0, len(flat), 2):
        yield int(flat[k]), orjson.loads(flat[k + 1])


class _Yielding:
    """A connection that gives the request's CPU slot up while it waits for Redis's
    answer (rhom.server._slots): another request runs meanwhile."""

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        with waiting():
            return super().read_response(*args, **kwargs)  # type: ignore[misc]


def _yielding(url: str) -> type[redis.connection.AbstractConnection]:
    """The connection class ``url`` calls for, made :class:`_Yielding`."""
    scheme = url.split(":", 1)[0]
    base = {"rediss": redis.SSLConnection, "unix": redis.UnixDomainSocketConnection}.get(scheme, redis.Connection)
    return _YIELDING.setdefault(base, type("Yielding" + base.__name__, (_Yielding, base), {}))


_YIELDING: dict[type, type] = {}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry(seq: Any, head: Any, value: Any) -> LogEntry:
    prev, oid = _text(head).split("|", 1)
    return LogEntry(int(seq), oid, None if value is None else _text(value), int(prev))


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
