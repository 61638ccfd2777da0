"""Transport: error translation, the session cookie, TLS, and the Rhodes error codes.

What rhom.server can be made to do is tested against it, over real HTTP on loopback:
login and a restored session, 401, ``Unknown client``, a whole paging run. The other
tests answer through ``httpx.MockTransport``, because they need replies a real server
cannot be made to send: a connection dropped mid-reply, a timeout, an HTML error page
from a proxy, a corrupt gzip body, a ``Set-Cookie`` that changes. Each such test says
what it simulates. The TLS test runs an HTTPS server on loopback with a self-signed
certificate.
"""

from __future__ import annotations

import asyncio
import gzip
import http.server
import shutil
import ssl
import subprocess
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from rhom.exceptions import (
    AuthError,
    BlobError,
    ConfigurationError,
    NetworkError,
    ProtocolError,
    ServerError,
    SyncError,
)
from rhom.server import MemoryAdapter, Settings, create_app
from rhom.server.testing import run_in_thread
from rhom.sync import protocol
from rhom.sync.errors import (
    ErrorCode,
    NotLoggedInError,
    RhoError,
    SyncVersionError,
    UnknownClientError,
    error_code_for,
    rho_error_for,
)
from rhom.sync.protocol import BlobUpload, Page
from rhom.sync.transport import AsyncTransport, Transport

BASE = "http://sync.test:9292/"
SESSION = "rhoconnect_session=BAh7SECRET%3D%3D--5d1c0e9b7a;"
PAGE = b'[{"version":3},{"token":"12"},{"count":1},{"progress_count":0},{"total_count":1},{"insert":{"1":{"name":"Widget"}}}]'  # noqa: E501
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def sent() -> list[httpx.Request]:
    return []


@pytest.fixture
def make(sent: list[httpx.Request]) -> Iterator[Callable[..., Transport]]:
    """Build Transports over a MockTransport; close them after the test."""
    made: list[Transport] = []

    def build(handler: Handler, **kwargs: object) -> Transport:
        def record(request: httpx.Request) -> httpx.Response:
            request.read()
            sent.append(request)
            return handler(request)

        transport = Transport(BASE, transport=httpx.MockTransport(record), **kwargs)  # type: ignore[arg-type]
        made.append(transport)
        return transport

    yield build
    for transport in made:
        transport.close()


def answer(status: int, content: bytes = b"", **headers: str) -> Handler:
    """Reply with ``status``, ``content`` and headers given as ``content_type="..."``."""
    wire = {name.replace("_", "-"): value for name, value in headers.items()}
    return lambda request: httpx.Response(status, content=content, headers=wire)


def fail_with(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def query_call() -> protocol.Call[Page]:
    return protocol.query("Product", client_id="c1", token="1")


# -- no reply ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [httpx.ReadError("connection reset by peer"), httpx.ConnectError("connection refused"),
     httpx.RemoteProtocolError("server disconnected without sending a response")],
)  # fmt: skip
def test_dropped_connection_is_a_network_error(make: Callable[..., Transport], error: Exception) -> None:
    """Mock: the server dies mid-request; rhom.server cannot be made to do that on cue."""
    with pytest.raises(NetworkError) as info:
        make(fail_with(error)).call(query_call())
    assert info.value.__cause__ is error
    assert info.value.source == "Product"
    assert str(info.value).startswith("GET app/v1/Product: no reply from the server")
    assert error_code_for(info.value) == ErrorCode.NETWORK


def test_timeout_is_a_network_error(make: Callable[..., Transport]) -> None:
    """Mock: a server that never answers."""
    with pytest.raises(NetworkError, match=r"timed out after 5\.0 s") as info:
        make(fail_with(httpx.ReadTimeout("timed out")), timeout=5.0).call(query_call())
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


# -- error statuses ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    """rhom.server on 127.0.0.1 with five products, any non-empty login accepted."""
    products = {str(i): {"name": f"Product {i}", "price": f"{i}.99"} for i in range(1, 6)}
    app = create_app([MemoryAdapter("Product", products)], settings=Settings.for_tests())
    with run_in_thread(app) as url:
        yield url


def test_logged_in_session_survives_a_restart(server_url: str) -> None:
    with Transport(server_url) as first:
        session = first.login("alice", "pw")
    assert session.startswith("rhoconnect_session=") and session.endswith(";")
    with Transport(server_url, session=session) as restarted:
        client_id = restarted.call(protocol.client_create())
        pages = [restarted.call(protocol.query("Product", client_id=client_id, page_size=2,
                                               token=protocol.next_token(0)))]  # fmt: skip
        while not pages[-1].is_last:
            token = protocol.next_token(pages[-1].token_value)
            pages.append(restarted.call(protocol.query("Product", client_id=client_id,
                                                       page_size=2, token=token)))  # fmt: skip
    assert [page.count for page in pages] == [2, 2, 1, 0]
    assert {oid for page in pages for oid in page.insert} == {"1", "2", "3", "4", "5"}


def test_401_is_an_auth_error(server_url: str) -> None:
    with Transport(server_url, session="rhoconnect_session=forged--0;") as transport:
        with pytest.raises(AuthError, match="HTTP 401") as info:
            transport.call(protocol.client_create())
    assert info.value.__cause__ is None
    assert rho_error_for(info.value).code == ErrorCode.UNAUTHORIZED


def test_unknown_client_id_is_an_unknown_client_error(server_url: str) -> None:
    with Transport(server_url) as transport:
        transport.login("alice", "pw")
        with pytest.raises(UnknownClientError) as info:
            transport.call(protocol.query("Product", client_id="nosuchclient"))
    assert (info.value.status_code, info.value.source) == (500, "Product")
    assert transport.is_logged_in, "the session stays valid (§3.6)"


def test_500_html_page_is_a_server_error(make: Callable[..., Transport]) -> None:
    """Mock: a proxy's HTML error page in front of the sync server."""
    html = b"<html><body><h1>500 Internal Server Error</h1></body></html>"
    with pytest.raises(ServerError) as info:
        make(answer(500, html, content_type="text/html")).call(query_call())
    error = info.value
    assert type(error) is ServerError and error.status_code == 500
    assert error.details == html.decode() and error.source == "Product"
    rho = rho_error_for(error)
    assert (rho.code, rho.message) == (ErrorCode.REMOTE_SERVER, html.decode())


@pytest.mark.parametrize("body", [b"Unknown client", b"unknown CLIENT\n", b"  Unknown Client "])
def test_unknown_client_500_is_recognised(make: Callable[..., Transport], body: bytes) -> None:
    """Mock: spellings other servers might use; rhom.server sends exactly ``Unknown client``."""
    with pytest.raises(UnknownClientError) as info:
        make(answer(500, body)).call(query_call())
    assert info.value.status_code == 500
    rho = rho_error_for(info.value)
    assert rho.code == ErrorCode.REMOTE_SERVER and rho.unknown_client(rho.message)


@pytest.mark.parametrize(("status", "body"), [(404, b"Unknown client"), (500, b"Unknown source"),
                                              (302, b""), (204, b""), (422, b"No API token")])  # fmt: skip
def test_other_statuses_are_server_errors(make: Callable[..., Transport], status: int, body: bytes) -> None:
    """Only 200 and 206 succeed (§1.8); redirects are not followed."""
    with pytest.raises(ServerError) as info:
        make(answer(status, body, location="http://elsewhere.test/")).call(query_call())
    assert type(info.value) is ServerError and info.value.status_code == status


def test_html_instead_of_a_page_is_a_protocol_error(make: Callable[..., Transport]) -> None:
    """Mock: a captive portal answers 200 with HTML."""
    with pytest.raises(ProtocolError, match="Product page: expected JSON, got HTML") as info:
        make(answer(200, b"<!DOCTYPE html><title>Login</title>")).call(query_call())
    assert info.value.source == "Product"
    assert info.value.response == "<!DOCTYPE html><title>Login</title>"


def test_truncated_page_is_a_protocol_error(make: Callable[..., Transport]) -> None:
    """Mock: rhom.server never sends half a JSON page."""
    with pytest.raises(ProtocolError, match="truncated"):
        make(answer(200, PAGE[:40])).call(query_call())


@pytest.mark.parametrize(("encoding", "encode"), [("gzip", gzip.compress), ("deflate", zlib.compress)])
def test_compressed_replies_are_decoded(
    make: Callable[..., Transport], encoding: str, encode: Callable[[bytes], bytes]
) -> None:
    """Mock: the real server never compresses (L.3), but a client MUST accept it (§1.6)."""
    handler = answer(200, encode(PAGE), content_encoding=encoding)
    assert make(handler).call(query_call()).insert["1"]["name"] == "Widget"


def test_corrupt_compressed_reply_is_a_protocol_error(make: Callable[..., Transport]) -> None:
    """Mock: a gzip body that does not decompress."""
    with pytest.raises(ProtocolError, match="cannot be decoded"):
        make(answer(200, b"not gzip at all", content_encoding="gzip")).call(query_call())


# -- the session cookie -----------------------------------------------------------------------


def login_ok(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/rc/v1/app/login":
        cookie = (
            "rhoconnect_session=BAh7SECRET%3D%3D--5d1c0e9b7a; path=/; expires=Fri, 26 Nov 2027 08:22:17 GMT; HttpOnly"  # noqa: E501
        )
        return httpx.Response(200, headers={"set-cookie": cookie, "content-type": "text/html"})
    # every later reply repeats the cookie, here with a different value to prove it is ignored
    return httpx.Response(200, json={"client": {"client_id": "c1"}},
                          headers={"set-cookie": "rhoconnect_session=OTHER; path=/"})  # fmt: skip


def test_session_survives_a_restart(make: Callable[..., Transport], sent: list[httpx.Request]) -> None:
    """Mock: a server whose Set-Cookie value changes; the real one repeats the same value."""
    first = make(login_ok)
    assert not first.is_logged_in
    persisted = first.login("alice", "s3cret")
    assert persisted == SESSION and first.session == SESSION and first.is_logged_in
    first.call(protocol.client_create())
    restarted = make(login_ok, session=persisted)
    restarted.call(protocol.client_create())
    restarted.call(protocol.client_create())
    assert [r.headers.get("cookie") for r in sent] == [None, SESSION, SESSION, SESSION]


def test_refused_login_keeps_the_session(make: Callable[..., Transport]) -> None:
    """Mock: a 401 with an anonymous Set-Cookie, as the real server sends (A.61)."""
    transport = make(answer(401, b"Unable to authenticate 'alice'",
                            set_cookie="rhoconnect_session=ANON; path=/"), session=SESSION)  # fmt: skip
    with pytest.raises(AuthError, match="Unable to authenticate 'alice'"):
        transport.login("alice", "wrong")
    assert transport.session == SESSION


def test_logout_stops_sending_the_cookie(make: Callable[..., Transport], sent: list[httpx.Request]) -> None:
    transport = make(login_ok, session=SESSION)
    transport.session = None
    transport.call(protocol.client_create())
    assert not transport.is_logged_in and "cookie" not in sent[0].headers


def test_cookie_goes_to_the_sync_server_only(make: Callable[..., Transport], sent: list[httpx.Request]) -> None:
    """Divergence §14 #14: the C++ client sent the session to any blob host."""
    transport = make(answer(200, b"JPEG"), session=SESSION)
    transport.send(protocol.blob_file("http://cdn.test/p/1.jpg?extension=jpg", client_id="c1"))
    transport.send(protocol.blob_file("https://sync.test:9292/p/1.jpg", client_id="c1"))
    transport.send(protocol.bulk_file("/data/application/a/a_1.data"))
    assert str(sent[0].url) == "http://cdn.test/p/1.jpg?extension=jpg&client_id=c1"
    assert [r.headers.get("cookie") for r in sent] == [None, None, SESSION]


def test_session_is_never_shown(make: Callable[..., Transport]) -> None:
    transport = make(answer(500, b"boom"), session=SESSION)
    with pytest.raises(ServerError) as info:
        transport.call(query_call())
    for text in (repr(transport), str(info.value), repr(info.value)):
        assert "SECRET" not in text


# -- requests on the wire ---------------------------------------------------------------------


def test_headers_follow_the_spec(make: Callable[..., Transport], sent: list[httpx.Request]) -> None:
    transport = make(lambda request: httpx.Response(200, content=PAGE))
    transport.call(query_call())
    transport.send(protocol.client_create().request)
    transport.send(protocol.login("alice", "pw").request)
    query, create, login = sent
    assert query.headers["x-rhoconnect-client-id"] == "c1"
    assert query.headers["user-agent"].startswith("rhom")
    assert "x-rhoconnect-client-id" not in create.headers and "content-type" not in create.headers
    assert login.headers["content-type"] == "application/json"
    assert login.content == b'{"login":"alice","password":"pw","remember_me":1}'
    assert "gzip" in query.headers["accept-encoding"]


@pytest.mark.parametrize(
    ("base", "normalised"),
    [("http://h:9292", "http://h:9292/"), ("https://h/sync//", "https://h/sync/"),
     (" http://h/a?x=1 ", "http://h/a/")],
)  # fmt: skip
def test_base_url_ends_with_one_slash(base: str, normalised: str) -> None:
    with Transport(base) as transport:
        assert transport.base_url == normalised


def test_paths_are_built_below_the_base_url(sent: list[httpx.Request]) -> None:
    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, content=PAGE)

    with Transport("http://h.test/sync", transport=httpx.MockTransport(record)) as transport:
        transport.call(query_call())
        transport.send(protocol.bulk_file("/data/x.data"))
    assert [r.url.path for r in sent] == ["/sync/app/v1/Product", "/data/x.data.rzip"]


@pytest.mark.parametrize("base", ["sync.example.com", "ftp://h/", "http://", ""])
def test_bad_base_url_is_a_configuration_error(base: str) -> None:
    with pytest.raises(ConfigurationError, match="sync server URL"):
        Transport(base)


def test_unreadable_blob_is_a_blob_error(make: Callable[..., Transport], tmp_path: Path,
                                          sent: list[httpx.Request]) -> None:  # fmt: skip
    blob = BlobUpload("image_uri", "17", tmp_path / "missing.jpg")
    call = protocol.push("Photo", client_id="c", create={"17": {"image_uri": "x"}}, blobs=[blob])
    with pytest.raises(BlobError, match="image_uri-17: cannot read"):
        make(answer(200)).call(call)
    assert sent == []


def test_injected_client_is_left_open() -> None:
    client = httpx.Client(transport=httpx.MockTransport(answer(200, PAGE)))
    with Transport(BASE, client=client) as transport:
        transport.call(query_call())
    assert not client.is_closed
    client.close()


# -- downloads --------------------------------------------------------------------------------


def test_download_writes_the_file(make: Callable[..., Transport], tmp_path: Path) -> None:
    dest = tmp_path / "bulk.rzip"
    size = make(answer(200, b"PK\x03\x04zipdata")).download(protocol.bulk_file("/d/a.data"), dest)
    assert size == 11 and dest.read_bytes() == b"PK\x03\x04zipdata"


def test_failed_download_leaves_no_file(make: Callable[..., Transport], tmp_path: Path) -> None:
    """Mock: the connection drops after the first bytes of the file."""

    class Dropping(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield b"SQLite format 3\0"
            raise httpx.ReadError("connection reset")

    dest = tmp_path / "bulk.data"
    transport = make(lambda request: httpx.Response(200, stream=Dropping()))
    with pytest.raises(NetworkError):
        transport.download(protocol.bulk_file("/d/a.data", suffix=""), dest)
    assert not dest.exists()
    with pytest.raises(ServerError, match="HTTP 404: Not Found"):
        make(answer(404, b"Not Found")).download(protocol.bulk_file("/d/a.data"), dest)
    assert not dest.exists()


def test_blob_urls_from_the_server_are_made_safe(make: Callable[..., Transport], sent: list[httpx.Request]) -> None:
    """Mock: a backend that puts raw text into a blob URL."""
    transport = make(answer(200, b"JPEG"))
    transport.send(protocol.blob_file("http://cdn.test/p.jpg?name=café x", client_id="c1"))
    assert sent[0].url.query == b"name=caf%C3%A9%20x&client_id=c1"
    with pytest.raises(ProtocolError, match="bad URL"):
        transport.send(protocol.blob_file("http://[::1/p.jpg", client_id="c1"))


def test_async_download(tmp_path: Path) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(".rzip"):
            return httpx.Response(200, content=b"PK\x03\x04")
        return httpx.Response(404, content=b"Not Found")

    async def run() -> None:
        async with AsyncTransport(BASE, transport=httpx.MockTransport(handler)) as transport:
            assert await transport.download(protocol.bulk_file("/d/a.data"), tmp_path / "a") == 4
            with pytest.raises(ServerError):
                await transport.download(protocol.bulk_file("/d/a.data", suffix=""), tmp_path / "b")

    asyncio.run(run())
    assert (tmp_path / "a").read_bytes() == b"PK\x03\x04" and not (tmp_path / "b").exists()


# -- TLS --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def https_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real HTTPS server on loopback whose certificate is self-signed."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)  # fmt: skip

    class LoginHandler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Set-Cookie", "rhoconnect_session=TLS; path=/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), LoginHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


def test_tls_certificates_are_verified_by_default(https_url: str) -> None:
    """rhoconnect-client ssl_spec: a self-signed server gives a network error (code 1)."""
    with Transport(https_url) as transport:
        assert transport.ssl_verify_peer
        with pytest.raises(NetworkError) as info:
            transport.login("alice", "pw")
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert not transport.is_logged_in


def test_tls_verification_can_be_turned_off(https_url: str) -> None:
    with Transport(https_url, ssl_verify_peer=False) as transport:
        assert transport.login("alice", "pw") == "rhoconnect_session=TLS;"


# -- async ------------------------------------------------------------------------------------


def test_async_transport_speaks_the_same_protocol() -> None:
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/rc/v1/app/login":
            return httpx.Response(200, headers={"set-cookie": "rhoconnect_session=A; path=/"})
        if request.url.path == "/app/v1/Product":
            return httpx.Response(200, content=PAGE)
        return httpx.Response(500, content=b"Unknown client")

    async def run() -> None:
        async with AsyncTransport(BASE, transport=httpx.MockTransport(handler)) as transport:
            assert await transport.login("alice", "pw") == "rhoconnect_session=A;"
            page = await transport.call(query_call())
            assert page.token == "12"
            with pytest.raises(UnknownClientError):
                await transport.call(protocol.bulk_data("user", ["Product"], client_id="c1"))

    asyncio.run(run())
    assert seen[1].headers["cookie"] == "rhoconnect_session=A;"


def test_async_dropped_connection_is_a_network_error() -> None:
    """Mock: the connection drops."""
    error = httpx.ReadError("reset")

    async def handler(request: httpx.Request) -> httpx.Response:
        raise error

    async def run() -> None:
        async with AsyncTransport(BASE, transport=httpx.MockTransport(handler)) as transport:
            with pytest.raises(NetworkError) as info:
                await transport.call(query_call())
            assert info.value.__cause__ is error

    asyncio.run(run())


# -- Rhodes error codes -----------------------------------------------------------------------


def test_error_codes_have_the_rhodes_numbers() -> None:
    assert [(code.name, code.value) for code in ErrorCode][:3] == [
        ("NONE", 0), ("NETWORK", 1), ("REMOTE_SERVER", 2)]  # fmt: skip
    numbers = {code.name: int(code) for code in ErrorCode}
    assert numbers["UNAUTHORIZED"] == 9 and numbers["SYNC_VERSION"] == 11
    assert numbers["GEOLOCATION"] == 12 and len(numbers) == 13


def test_rho_error_messages() -> None:
    assert RhoError(0).message == ""
    assert RhoError(ErrorCode.NETWORK).message == "Could not establish network connection"
    assert RhoError(2, "Unknown client").message == "Unknown client"
    unknown = RhoError(99)
    assert (unknown.code, unknown.message) == (99, "Unknown error")
    assert isinstance(RhoError(9).code, ErrorCode)


def test_unknown_client_needs_code_2() -> None:
    assert RhoError(2).unknown_client("UNKNOWN client ")
    assert not RhoError(2).unknown_client("Unknown source")
    assert not RhoError(2).unknown_client(None)
    assert not RhoError(9).unknown_client("Unknown client")


@pytest.mark.parametrize(
    ("exc", "code"),
    [(NetworkError("x"), ErrorCode.NETWORK), (AuthError("x"), ErrorCode.UNAUTHORIZED),
     (NotLoggedInError("x"), ErrorCode.CLIENT_IS_NOT_LOGGED_IN),
     (ProtocolError("x"), ErrorCode.UNEXPECTED_SERVER_RESPONSE),
     (SyncVersionError("x", version=4), ErrorCode.SYNC_VERSION),
     (ServerError("x", status_code=404), ErrorCode.REMOTE_SERVER),
     (UnknownClientError("x", status_code=500), ErrorCode.REMOTE_SERVER),
     (ConfigurationError("x"), ErrorCode.RUNTIME), (SyncError("x"), ErrorCode.RUNTIME),
     (ValueError("x"), ErrorCode.RUNTIME), (RhoError(10), ErrorCode.CANCEL_BY_USER),
     (RhoError(99), ErrorCode.RUNTIME)],
)  # fmt: skip
def test_exceptions_map_to_rhodes_codes(exc: BaseException, code: ErrorCode) -> None:
    assert error_code_for(exc) == code
    assert rho_error_for(exc).code == (code if not isinstance(exc, RhoError) else exc.code)
