"""The names of the server's keys and locks in its store, built in one place.

Every name is ``kind:owner[:rest]`` (the ``KeyValueStore`` contract, rule 1): ``kind`` says
what it holds, ``owner`` whose it is (a user, a client id, a partition key ``u/<user>``
or ``app``), each part quoted by :func:`q` so that it holds neither ``:`` nor ``/`` nor
a brace. A Redis Cluster keeps the keys of one owner in one hash slot. ``{u}`` a quoted
user name, ``{c}`` a quoted client id, ``{p}`` a partition key, ``{s}`` a quoted source,
``{m}`` a quoted metric name, ``{d}`` and ``{n}`` digests of a database URL and of a
notification (rhom.server.sql)::

    u:{u}                 user record (and its session stamp)
    uc:{u}:{c}            one of the user's client ids
    c:{c}                 client record (user, device fields)
    cx:{c}:{s}:s          client/source state (rhom.server._state.ClientSourceState):
                          cursor, objects held ahead, page token, pending links and errors
    cx:{c}:{s}:p          the unacknowledged page
    cx:{c}:{s}:k          temporary ids already created
    cx:{c}:{s}:k:{t}      one create's link, from the adapter's answer to the push's end
    ls:{c}                when the client last called (stats)
    m:{p}:{s}:s           master state: refresh time, source error, metadata
    b:{p}                 bulk data record
    bf:/data/application/{u}/{u}_{t}.data      a user's bulk data file (its header),
    bf:/data/application/application_{t}.data  the app partition's, and
    bf:{url}#{n}          the file's n-th piece
    blob:{p}:{name}       an uploaded blob        bq:{p}   bytes of blobs the partition holds
    st:{m}:{start}:{process}   one process's bucket of a stats metric
    stn:{m}               a stats metric's name
    ev:{stream}           a live stream's recent events (``{stream}``: a partition key)
    ev:*                  the counter of events published on any stream
    lf:{window}:{kind}:{scope}:{name}   failed logins counted in one window
    sqlw:{d}              the newest change a SQL database's change feed announced
    sqln:{n}              a PostgreSQL notification some process announced already
    {p}:{s}               the change log of a partition's source (Store.log_*)

Locks: ``c:{c}`` (a client's requests, one at a time), ``m:{p}:{s}`` (a source's refresh
and log writes), ``u:{u}`` (a user's record), ``b:{p}`` (a partition's bulk record),
``e:{stream}`` and ``e:*`` (a live stream, the event counter), ``sqlw:{d}`` (a SQL
change feed's position), ``n:{key}`` (a counter of a store without its own ``incr``).
The server takes a client's lock before a source's, and never two of one kind at once:
``State.client_lock``, ``State.master_lock`` and State's other lock methods enforce it.
"""

from __future__ import annotations

import functools
import urllib.parse

__all__ = [
    "blob",
    "blob_quota",
    "blobs",
    "bulk",
    "bulk_file",
    "bulk_files",
    "bulk_lock",
    "bulk_piece",
    "bulk_url",
    "client",
    "client_lock",
    "client_source",
    "client_sources",
    "client_state",
    "counter_lock",
    "created_ids",
    "event_counter",
    "event_counter_lock",
    "events",
    "events_lock",
    "last_seen",
    "link_in_flight",
    "log",
    "login_failures",
    "logs",
    "master",
    "master_lock",
    "masters",
    "partition",
    "q",
    "sql_feed",
    "sql_feed_lock",
    "sql_notice",
    "stat_bucket",
    "stat_buckets",
    "stat_name",
    "stat_names",
    "stored_page",
    "user",
    "user_client",
    "user_clients",
    "user_lock",
    "users",
]


@functools.lru_cache(maxsize=65536)
def q(part: str) -> str:
    """Quote one key part so that ``:`` and ``/`` never appear inside it."""
    return urllib.parse.quote(part, safe="")


def partition(kind: str, user_name: str) -> str:
    """The partition key of a source with ``partition`` ``kind`` for ``user_name``:
    ``app``, or ``u/<quoted user>``."""
    return "app" if kind == "app" else "u/" + q(user_name)


def log(pkey: str, source: str) -> str:
    """The change log of ``source`` in partition ``pkey``."""
    return f"{pkey}:{q(source)}"


def logs(pkey: str) -> str:
    """The prefix of the change logs of partition ``pkey``."""
    return pkey + ":"


def users() -> str:
    """The prefix of the user records."""
    return "u:"


def user(name: str) -> str:
    return users() + q(name)


def user_clients(name: str) -> str:
    """The prefix of the user's client ids."""
    return f"uc:{q(name)}:"


def user_client(name: str, cid: str) -> str:
    return user_clients(name) + q(cid)


def client(cid: str) -> str:
    return "c:" + q(cid)


def last_seen(cid: str) -> str:
    return "ls:" + q(cid)


def client_sources(cid: str) -> str:
    """The prefix of every key of the client's sources."""
    return f"cx:{q(cid)}:"


def client_source(cid: str, source: str) -> str:
    """The prefix of the keys of one client's source."""
    return f"{client_sources(cid)}{q(source)}:"


def client_state(cid: str, source: str) -> str:
    return client_source(cid, source) + "s"


def stored_page(cid: str, source: str) -> str:
    return client_source(cid, source) + "p"


def created_ids(cid: str, source: str) -> str:
    return client_source(cid, source) + "k"


def link_in_flight(cid: str, source: str, temporary_id: str) -> str:
    return f"{created_ids(cid, source)}:{q(temporary_id)}"


def master(log_name: str) -> str:
    return f"m:{log_name}:s"


def masters(pkey: str) -> str:
    """The prefix of the master states of partition ``pkey``."""
    return f"m:{pkey}:"


def bulk(pkey: str) -> str:
    return "b:" + pkey


def bulk_url(name: str | None, built: int) -> str:
    """The URL of a bulk data file built at ``built`` (epoch seconds): the user
    ``name``'s, or the app partition's (``None``). Its key (:func:`bulk_file`) holds it."""
    if name is None:
        return f"/data/application/application_{built}.data"
    user = q(name)
    return f"/data/application/{user}/{user}_{built}.data"


def bulk_file(url: str) -> str:
    """The bulk data file served at ``url``: its header (size, number of pieces), or the
    whole file as an earlier version stored it."""
    return "bf:" + url


def bulk_piece(url: str, n: int) -> str:
    """The ``n``-th piece of the bulk data file served at ``url``."""
    return f"{bulk_file(url)}#{n}"


def bulk_files(name: str) -> str:
    """The prefix of the user's bulk data files."""
    return bulk_file(f"/data/application/{q(name)}/")


def blobs(pkey: str) -> str:
    """The prefix of the partition's uploaded blobs."""
    return f"blob:{pkey}:"


def blob(pkey: str, name: str) -> str:
    """A blob saved by ``SourceAdapter.save_blob`` for partition ``pkey``."""
    return blobs(pkey) + name


def blob_quota(pkey: str) -> str:
    """The counter of bytes the partition's blobs hold (what ``blob_quota`` limits)."""
    return "bq:" + pkey


def stat_names() -> str:
    """The prefix of the stats metric names."""
    return "stn:"


def stat_name(metric: str) -> str:
    return stat_names() + q(metric)


def stat_buckets(metric: str) -> str:
    """The prefix of a metric's buckets, ``<start>:<process>`` after it."""
    return f"st:{q(metric)}:"


def stat_bucket(metric: str, start: int, process: str) -> str:
    """One process's bucket of ``metric`` starting at ``start`` (epoch seconds, 12
    digits so that the keys sort by time)."""
    return f"{stat_buckets(metric)}{start:012d}:{process}"


def events(stream: str) -> str:
    """The recent events of the live stream ``stream`` (a partition key)."""
    return "ev:" + stream


def event_counter() -> str:
    """The number of events published on any stream (other processes watch it)."""
    return "ev:*"


def login_failures(window: int, kind: str, scope: str, name: str) -> str:
    """The failed logins counted in time window ``window`` by counter ``kind``
    (``pair``, ``addr``, ``acct``) for ``scope`` (``app``, ``admin``) and ``name``."""
    return f"lf:{window}:{kind}:{scope}:{name}"


def sql_feed(digest: str) -> str:
    """The newest change of the SQL database ``digest`` names that a server process
    announced to live clients (rhom.server.sql: SQLite, MariaDB)."""
    return "sqlw:" + digest


def sql_notice(digest: str) -> str:
    """A PostgreSQL change notification (its digest) a server process announced."""
    return "sqln:" + digest


def client_lock(cid: str) -> str:
    return "c:" + q(cid)


def master_lock(log_name: str) -> str:
    return "m:" + log_name


def user_lock(name: str) -> str:
    return "u:" + q(name)


def bulk_lock(pkey: str) -> str:
    """The lock of partition ``pkey``'s bulk record (one build at a time)."""
    return bulk(pkey)


def events_lock(stream: str) -> str:
    """The lock of the live stream ``stream``'s events."""
    return "e:" + stream


def event_counter_lock() -> str:
    return "e:*"


def counter_lock(key: str) -> str:
    """The lock under which a store without its own ``incr`` adds to ``key``."""
    return "n:" + key


def sql_feed_lock(digest: str) -> str:
    """The lock of :func:`sql_feed` (one process moves it at a time)."""
    return sql_feed(digest)
