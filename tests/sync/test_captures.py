"""The wire layer against the 74 exchanges captured from a real RhoConnect 7.8 server.

Each exchange of ``spec/captures/rhoconnect-7.8.json`` that the client takes part in is
replayed: the request our builders produce is compared with the captured request (method,
path, query, headers, body), and the captured reply goes through :class:`Transport` and
the parsers, whose results are checked. The replay is done with ``httpx.MockTransport``
because the real server is not available to the tests; the replies are the captured
ones, byte for byte where the capture keeps bytes. Volatile values (tokens, client ids,
cookies) are placeholders in the file; they are replaced by realistic values first.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from rhom.exceptions import AuthError, ServerError
from rhom.sync import protocol
from rhom.sync.errors import UnknownClientError
from rhom.sync.protocol import BlobUpload, BulkReply, Call, Page, SearchReply
from rhom.sync.transport import Transport

#: Real exchanges with RhoConnect 7.8, kept with the tests (a copy of spec/captures): the
#: replay never skips for a missing file.
CAPTURES = Path(__file__).resolve().parents[1] / "data" / "rhoconnect-7.8.json"

SESSION_PREFIX = "BAh7CEkiD3Nlc3Npb25faWQGOgZFVG86HVJhY2s6OlNlc3Npb246OlNlc3Npb25JZAY6D0Bw%3D%3D--"
_VALUES: dict[str, Callable[[int], str]] = {
    "token": lambda n: str(564913337875000 + 1000 * n),
    "client_id": lambda n: f"{n:032x}",
    "session": lambda n: f"{SESSION_PREFIX}{n:040x}",
    "unix_time": lambda n: str(1795675337 + n),
    "blob_prefix": lambda n: f"{n:08x}",
}


def real(kind: str, n: int) -> str:
    """The realistic value that replaces ``<kind:n>``."""
    return _VALUES[kind](n)


def _substitute(text: str) -> str:
    text = re.sub(r"<(token|client_id|session|unix_time|blob_prefix):(\d+)>",
                  lambda m: real(m.group(1), int(m.group(2))), text)  # fmt: skip
    return text.replace("<http-date>", "Fri, 26 Nov 2027 08:22:17 GMT").replace("<boundary>", "rhomtestboundary")


def _load() -> dict[str, dict[str, Any]]:
    exchanges = json.loads(_substitute(CAPTURES.read_text(encoding="utf-8")))
    return {exchange["id"]: exchange for exchange in exchanges}


EXCHANGES = _load()
# 0.x is the admin set-up of the test server, not client traffic.
CLIENT_IDS = [i for i in EXCHANGES if not i.startswith("0.")]
LAYOUT4 = [i for i in CLIENT_IDS if i.startswith("A.")]
LAYOUT3 = [i for i in CLIENT_IDS if i.startswith("B.")]


def reply_bytes(response: dict[str, Any]) -> bytes:
    body = response["body"]
    if body is None:
        return b""
    if isinstance(body, dict) and body.get("omitted"):
        return bytes.fromhex(body["starts_with_hex"])
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def reply_of(exchange_id: str) -> bytes:
    return reply_bytes(EXCHANGES[exchange_id]["response"])


def session_of(headers: dict[str, str]) -> str | None:
    cookie = headers.get("Cookie")
    return f"{cookie};" if cookie else None


# -- building the call an exchange made ----------------------------------------------------


def _search_call(request: dict[str, Any], client_id: str) -> Call[Any]:
    query = request["query"]
    params = {k[7:-1]: v for k, v in query.items() if k.startswith("search[")}
    sources = request["body"]["sources"]
    tokens = {s["name"]: s["token"] for s in sources if "token" in s}
    return protocol.search([s["name"] for s in sources], client_id=client_id,
                           search_params=params, page_size=int(query["p_size"]),
                           tokens=tokens)  # fmt: skip


def _push_call(request: dict[str, Any], client_id: str, tmp_path: Path) -> Call[Any]:
    body, blobs = request["body"], []
    if isinstance(body, dict) and "multipart" in body:
        parts = {part["name"]: part for part in body["multipart"]}
        body = parts.pop("cud")["content"]
        for name, part in parts.items():
            attrib, object_id = name.split("-", 1)
            path = tmp_path / part["filename"]
            path.write_text(part["content"], encoding="utf-8")
            blobs.append(BlobUpload(attrib, object_id, path))
    if not isinstance(body, dict):  # A.60: deliberately broken JSON, sent as an empty push
        body = {"source_name": "Product"}
    return protocol.push(body["source_name"], client_id=client_id, blobs=blobs,
                         create=body.get("create"), update=body.get("update"),
                         delete=body.get("delete"))  # fmt: skip


def call_for(exchange: dict[str, Any], tmp_path: Path) -> Call[Any] | protocol.WireRequest:
    """Build, with rhom's builders, the request of a layout-4 exchange."""
    request = exchange["request"]
    method, path, body = request["method"], request["path"], request["body"]
    client_id = request["headers"].get("X-RhoConnect-CLIENT-ID", "")
    if path == "/rc/v1/app/login":
        return protocol.login(body["login"], body["password"])
    if path == "/rc/v1/clients":
        return protocol.client_create()
    if m := re.fullmatch(r"/rc/v1/clients/([^/]+)/register", path):
        fields = {k: v for k, v in body.items() if k != "device_port"}
        port = int(body["device_port"] or 0)
        return protocol.client_register(m.group(1), push_port=port, **fields)
    if m := re.fullmatch(r"/rc/v1/clients/([^/]+)/reset", path):
        return protocol.client_reset(m.group(1))
    if m := re.fullmatch(r"/app/v1/(\w+)", path):
        if method == "POST":
            return _push_call(request, client_id, tmp_path)
        query = request["query"]
        return protocol.query(m.group(1), client_id=client_id, page_size=int(query["p_size"]),
                              token=query.get("token"))  # fmt: skip
    if path == "/rc/v1/app/search":
        return _search_call(request, client_id)
    if path == "/rc/v1/app/bulk_data":
        return protocol.bulk_data(body["partition"], body["sources"], client_id=client_id)
    if path.startswith("/data/"):
        suffix = ".rzip" if path.endswith(".rzip") else ""
        return protocol.bulk_file(path.removesuffix(suffix), suffix=suffix)
    raise AssertionError(f"no builder for {method} {path}")


# -- comparing the built request with the captured one ------------------------------------


def multipart_parts(request: httpx.Request) -> list[dict[str, Any]]:
    raw = b"Content-Type: " + request.headers["content-type"].encode() + b"\r\n\r\n"
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw + request.content)
    parts = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        parts.append({"name": part.get_param("name", header="content-disposition"),
                      "filename": part.get_filename(),
                      "content_type": part["content-type"], "content": payload})  # fmt: skip
    return parts


def assert_same_body(sent: httpx.Request, captured: dict[str, Any]) -> None:
    body = captured["body"]
    if body is None:
        assert sent.content == b""
        assert "content-type" not in sent.headers
    elif isinstance(body, dict) and "multipart" in body:
        parts = multipart_parts(sent)
        assert parts[-1]["name"] == "cud", "the JSON part comes last, as the C++ client sends it"
        assert parts[-1]["content_type"] is None
        assert json.loads(parts[-1]["content"]) == body["multipart"][0]["content"]
        (file_part,) = parts[:-1]
        captured_file = body["multipart"][1]
        assert file_part["name"] == captured_file["name"]
        assert file_part["filename"] == captured_file["filename"]
        assert file_part["content_type"] == captured_file["content_type"]
        assert file_part["content"] == captured_file["content"].encode()
    else:
        assert sent.headers["content-type"] == "application/json"
        parsed = json.loads(sent.content)
        assert parsed == body
        assert list(parsed) == list(body), "body keys in the order the C++ client writes them"


def assert_same_request(sent: httpx.Request, captured: dict[str, Any]) -> None:
    assert sent.method == captured["method"]
    assert sent.url.path == captured["path"]
    assert dict(parse_qsl(sent.url.query.decode(), keep_blank_values=True)) == captured["query"]
    client_id = captured["headers"].get("X-RhoConnect-CLIENT-ID")
    assert sent.headers.get("x-rhoconnect-client-id") == client_id
    cookie = captured["headers"].get("Cookie")
    assert sent.headers.get("cookie") == (f"{cookie};" if cookie else None)
    if captured["body"] != '{"create":':  # A.60's broken body is not ours to build
        assert_same_body(sent, captured)


def replay(exchange_id: str, tmp_path: Path) -> tuple[Any, Transport]:
    """Send the exchange's request through rhom and answer it with the captured reply."""
    exchange = EXCHANGES[exchange_id]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        response = exchange["response"]
        headers = [(k, v) for k, v in response["headers"].items()]
        return httpx.Response(response["status"], headers=headers, content=reply_bytes(response))

    transport = Transport("http://127.0.0.1:9292", transport=httpx.MockTransport(handler),
                          session=session_of(exchange["request"]["headers"]))  # fmt: skip
    built = call_for(exchange, tmp_path)
    try:
        if isinstance(built, protocol.WireRequest):
            result: Any = transport.download(built, tmp_path / "bulk.data")
        elif exchange["request"]["path"] == "/rc/v1/app/login":
            body = exchange["request"]["body"]
            result = transport.login(body["login"], body["password"])
        else:
            result = transport.call(built)
    except Exception as exc:
        result = exc
    finally:
        transport.close()
    (sent,) = seen
    assert_same_request(sent, exchange["request"])
    return result, transport


@pytest.mark.parametrize("exchange_id", LAYOUT4)
def test_layout4_exchange_replays(exchange_id: str, tmp_path: Path) -> None:
    result, _ = replay(exchange_id, tmp_path)
    status = EXCHANGES[exchange_id]["response"]["status"]
    if status == 200:
        assert not isinstance(result, Exception), result
    else:
        assert isinstance(result, AuthError if status == 401 else ServerError)
    EXPECTED[exchange_id](result)


# -- what each reply must parse to ---------------------------------------------------------

PRODUCT_4 = {"brand": "Samsung", "name": "Galaxy", "price": "249.99", "quantity": "7", "sku": "1004"}


def _page(result: Any, *, token: int | None, count: int, total: int) -> Page:
    assert isinstance(result, Page)
    assert result.version == 3 and result.progress_count == 0
    assert result.token == ("" if token is None else real("token", token))
    assert result.is_last is (token is None)
    assert (result.count, result.total_count) == (count, total)
    return result


def _empty(token: int | None = None, total: int = 5) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        page = _page(result, token=token, count=0, total=total)
        assert not page.insert and not page.delete and not page.links
        assert not page.has_server_errors and not page.extra

    return check


def _inserts(token: int, ids: set[str], total: int = 5) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        page = _page(result, token=token, count=len(ids), total=total)
        assert set(page.insert) == ids and not page.delete

    return check


def _ok(result: Any) -> None:
    assert result is None


def _links(token: int, links: dict[str, str], total: int) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        page = _page(result, token=token, count=0, total=total)
        assert dict(page.links) == links and not page.insert

    return check


def check_a5(result: Any) -> None:
    assert result == f"rhoconnect_session={real('session', 3)};"


def check_a8(result: Any) -> None:
    page = _page(result, token=1, count=2, total=5)
    assert dict(page.insert["4"]) == PRODUCT_4
    assert page.insert["3"]["name"] == "Fuze"
    assert protocol.next_token(page.token_value) == real("token", 1)


def check_a22(result: Any) -> None:
    page = _page(result, token=8, count=2, total=6)
    assert dict(page.insert) == {"6": {"price": "299.00"}}
    assert dict(page.delete) == {"6": {"price": "349.00"}}


def check_a27(result: Any) -> None:
    page = _page(result, token=9, count=3, total=5)
    assert dict(page.insert) == {"3": {"quantity": "0"}}
    assert set(page.delete) == {"3", "5"} and page.delete["5"]["sku"] == "1005"
    assert dict(page.links) == {"1700000000002": "7"}


def check_a30(result: Any) -> None:
    page = _page(result, token=None, count=0, total=5)
    error = page.create_errors["1700000000003"]
    assert error.message == "Product create failed (Exception from control.json)"
    assert dict(error.attributes) == {"name": "Bad", "brand": "X", "price": "1"}
    assert page.server_errors() == {"create-error": {"1700000000003": {
        "message": error.message, "attributes": {"name": "Bad", "brand": "X", "price": "1"}}}}  # fmt: skip


def check_a32(result: Any) -> None:
    page = _page(result, token=None, count=0, total=5)
    error = page.update_errors["1"]
    assert error.message == "Product update failed (ServerErrorException from control.json)"
    assert dict(error.attributes) == {"price": "0.01"}, "no id in the entry (§5.4)"
    assert page.update_rollback["1"]["price"] == "199.99" and len(page.update_rollback["1"]) == 5
    errors = page.server_errors()
    assert errors["update-rollback"] == {"1": {"attributes": dict(page.update_rollback["1"])}}


def check_a34(result: Any) -> None:
    page = _page(result, token=None, count=0, total=5)
    error = page.delete_errors["4"]
    assert (error.message, dict(error.attributes)) == (
        "Product delete failed (Exception from control.json)", {"name": "Galaxy"})  # fmt: skip


def check_a35(result: Any) -> None:
    page = _page(result, token=None, count=0, total=5)
    message = "Product query failed (Exception from control.json)"
    assert dict(page.source_errors) == {"query-error": message}
    assert page.server_errors() == {"query-error": {"message": message}}


def check_a37(result: Any) -> None:
    page = _page(result, token=10, count=0, total=6)
    assert dict(page.links) == {"1700000000004": "8"}
    error = page.create_errors["1700000000005"]
    assert error.message == "forced create error for Product (rc_fail=1)"
    assert dict(error.attributes) == {"name": "Fails", "rc_fail": "1"}


def _search(source: str, token: int, oid: str, name_key: str, name: str) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        assert isinstance(result, SearchReply) and len(result.pages) == 1
        page = result.pages[0]
        assert page is not None and page.source == source
        assert (page.token, page.count, page.total_count) == (real("token", token), 1, None)
        assert page.insert[oid][name_key] == name
        assert result.count == 1 and result.tokens == {source: real("token", token)}

    return check


def check_a45(result: Any) -> None:
    assert result == SearchReply((None,))
    assert result.count == 0 and result.tokens == {}


def check_a51(result: Any) -> None:
    assert result == BulkReply("url", f"/data/application/bulkuser/bulkuser_{real('unix_time', 1)}.data")
    assert result.is_ready and not result.is_error
    assert protocol.bulk_file(result.url).path.endswith(".data.rzip")


def _equals(expected: Any) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        assert result == expected

    return check


def check_a56(result: Any) -> None:
    page = _page(result, token=15, count=7, total=7)
    assert set(page.insert) == {"1", "3", "4", "6", "7", "8", "9"}
    assert page.insert["9"]["image_uri"] == f"{real('blob_prefix', 1)}-photo.txt"


def _error(kind: type[Exception], status: int, body: str) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        assert type(result) is kind
        assert body in str(result)
        if isinstance(result, ServerError):
            assert (result.status_code, result.details) == (status, body)

    return check


def check_a59(result: Any) -> None:
    page = _page(result, token=None, count=0, total=0)
    assert dict(page.source_errors) == {
        "query-error": "Please set uri in your settings or through console"}  # fmt: skip


EXPECTED: dict[str, Callable[[Any], None]] = {
    "A.4": _error(AuthError, 401, "Unable to authenticate ''"),
    "A.5": check_a5, "A.6": _equals(real("client_id", 1)), "A.7": _ok,
    "A.8": check_a8, "A.9": check_a8,
    "A.10": _inserts(2, {"1", "2"}), "A.11": _inserts(3, {"5"}), "A.12": _empty(),
    "A.13": _inserts(4, {"1", "2", "3"}, total=3), "A.14": _empty(total=3),
    "A.15": _equals(real("client_id", 2)),
    "A.16": _inserts(5, {"3", "4"}), "A.17": _inserts(6, {"1", "2"}),
    "A.18": _ok, "A.19": _links(7, {"1700000000001": "6"}, 6), "A.20": _empty(total=6),
    "A.21": _ok, "A.22": check_a22, "A.23": _empty(total=6),
    "A.24": _ok, "A.25": _empty(), "A.26": _ok, "A.27": check_a27, "A.28": _empty(),
    "A.29": _ok, "A.30": check_a30, "A.31": _ok, "A.32": check_a32,
    "A.33": _ok, "A.34": check_a34, "A.35": check_a35,
    "A.36": _ok, "A.37": check_a37, "A.38": _empty(total=6),
    "A.39": _ok, "A.40": _links(11, {"1700000000006": "9"}, 7), "A.41": _empty(total=7),
    "A.42": _equals(f"rhoconnect_session={real('session', 4)};"),
    "A.43": _equals(real("client_id", 3)),
    "A.44": _search("Product", 12, "1", "name", "iPhone"), "A.45": check_a45,
    "A.46": _search("Customer", 13, "2", "first", "Jane"),
    "A.47": _inserts(14, {"3", "4"}, total=7),
    "A.48": _equals(f"rhoconnect_session={real('session', 5)};"),
    "A.49": _equals(real("client_id", 4)),
    "A.50": _equals(BulkReply("wait")), "A.51": check_a51,
    "A.52": _equals(16), "A.53": _equals(16),  # the capture keeps the first 16 bytes
    "A.54": _empty(total=7), "A.55": _ok, "A.56": check_a56,
    "A.57": _error(AuthError, 401, "Not authenticated"),
    "A.58": _error(UnknownClientError, 500, "Unknown client"), "A.59": check_a59,
    "A.60": _error(ServerError, 500, "Server error while processing client data"),
    "A.61": _error(AuthError, 401, "Unable to authenticate 'pyuser'"),
}  # fmt: skip


def test_every_layout4_exchange_has_an_expectation() -> None:
    assert set(EXPECTED) == set(LAYOUT4)


def test_refused_login_keeps_the_stored_session(tmp_path: Path) -> None:
    """A.61 carries a Set-Cookie for an anonymous session: it must not replace ours (§1.5)."""
    result, transport = replay("A.61", tmp_path)
    assert isinstance(result, AuthError)
    assert transport.session == session_of(EXCHANGES["A.61"]["request"]["headers"])


def test_downloaded_bulk_files_keep_their_signature(tmp_path: Path) -> None:
    for exchange_id, signature in (("A.52", b"SQLite format 3\0"), ("A.53", b"PK\x03\x04")):
        replay(exchange_id, tmp_path)
        assert (tmp_path / "bulk.data").read_bytes().startswith(signature)


# -- layout 3: rhom builds only layout-4 requests, but the replies are the same shapes -----


def _layout3_replies() -> Iterator[tuple[str, bytes]]:
    for exchange_id in LAYOUT3:
        yield exchange_id, reply_of(exchange_id)


def test_layout3_replies_parse() -> None:
    pages = {i: protocol.parse_page(reply_of(i), source="Product") for i in
             ("B.65", "B.66", "B.67", "B.68", "B.70", "B.71")}  # fmt: skip
    assert [p.count for p in pages.values()] == [3, 3, 1, 0, 0, 0]
    assert [p.token for p in pages.values()][:3] == [real("token", n) for n in (16, 17, 18)]
    assert pages["B.68"].is_last and pages["B.71"].is_last and not pages["B.70"].is_last
    assert dict(pages["B.70"].links) == {"1700000000009": "10"}
    assert pages["B.66"].insert["9"]["image_uri"].endswith("-photo.txt")
    search = protocol.parse_search_reply(reply_of("B.72"), sources=["Customer"])
    assert search.pages[0] is not None and search.pages[0].insert["1"]["first"] == "John"
    assert protocol.parse_bulk_data_reply(reply_of("B.73")) == BulkReply("wait")
    assert protocol.parse_client_create_reply(reply_of("B.63")) == real("client_id", 5)
    set_cookie = EXCHANGES["B.62"]["response"]["headers"]["Set-Cookie"]
    assert protocol.session_from_set_cookie([set_cookie]) == f"rhoconnect_session={real('session', 7)};"


def test_layout3_control_replies_are_empty() -> None:
    """Register, push and reset answer 200 with no body; nothing else to parse."""
    control = [i for i, content in _layout3_replies() if not content]
    assert control == ["B.62", "B.64", "B.69", "B.74"]
