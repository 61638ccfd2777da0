"""The names of the server's keys and locks in its store, built in one place.

Every name is ``kind:owner[:rest]`` (the ``KeyValueStore`` contract, rule 1): ``kind`` says
what it holds, ``owner`` whose it is (a user, a client id, a partition key ``u/<user>``
or ``app``), each part quoted by :func:`q` so that it holds neither ``:`` nor ``/`` nor
a brace. A Redis Cluster keeps the keys of one owner in one hash slot. ``{u}`` a quoted
user name, ``{c}`` a quoted client id, ``{p}`` a partition key, ``{s}`` a quoted source::

    u:{u}                 user record (and its session stamp)
    uc:{u}:{c}            one of the user's client ids
    c:{c}                 client record (user, device fields)
    cx:{c}:{s}:s          client/source state: cursor, objects held ahead, page token,
                          pending links and errors
    cx:{c}:{s}:p          the unacknowledged page
    cx:{c}:{s}:k          temporary ids already created
    cx:{c}:{s}:k:{t}      one create's link, from the adapter's answer to the push's end
    ls:{c}                when the client last called (stats)
    m:{p}:{s}:s           master state: refresh time, source error, metadata
    b:{p}                 bulk data record
    bf:/data/application/{u}/...   bulk data files
    blob:{p}:{name}       an uploaded blob        bq:{p}   bytes of blobs the partition holds
    {p}:{s}               the change log of a partition's source (Store.log_*)

(Still built where they are used: ``bf:`` in rhom.server.bulk, ``blob:`` and ``bq:`` in
rhom.server.adapters, the stats keys ``st:`` and ``stn:`` in rhom.server.stats, the live
events ``ev:`` in rhom.server.live.)

Locks: ``c:{c}`` (a client's requests, one at a time), ``m:{p}:{s}`` (a source's refresh
and log writes), ``u:{u}`` (a user's record). The server takes a client's lock before a
source's, and never two of one kind at once: ``State.client_lock`` and
``State.master_lock`` enforce it.
"""

from __future__ import annotations

import functools
import urllib.parse

__all__ = [
    "blob_quota",
    "blobs",
    "bulk",
    "bulk_files",
    "client",
    "client_lock",
    "client_source",
    "client_sources",
    "client_state",
    "created_ids",
    "last_seen",
    "link_in_flight",
    "log",
    "logs",
    "master",
    "master_lock",
    "masters",
    "partition",
    "q",
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


def bulk_files(name: str) -> str:
    """The prefix of the user's bulk data files."""
    return f"bf:/data/application/{q(name)}/"


def blobs(pkey: str) -> str:
    """The prefix of the partition's uploaded blobs."""
    return f"blob:{pkey}:"


def blob_quota(pkey: str) -> str:
    return "bq:" + pkey


def client_lock(cid: str) -> str:
    return "c:" + q(cid)


def master_lock(log_name: str) -> str:
    return "m:" + log_name


def user_lock(name: str) -> str:
    return "u:" + q(name)
