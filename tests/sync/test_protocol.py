"""Request builders and reply parsers of rhom.sync.protocol, beyond what the captures show.

Most bad replies here cannot be obtained from a real server on demand (half a page, HTML
from a proxy, a future data format): the parsers are pure, so they are fed the bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rhom.exceptions import ProtocolError, ValidationError
from rhom.sync import protocol
from rhom.sync.errors import SyncVersionError
from rhom.sync.protocol import BlobUpload, BulkReply, Page, Reply

HEADER = [{"version": 3}, {"token": "518266240761923"}, {"count": 2}, {"progress_count": 0},
          {"total_count": 57}]  # fmt: skip


def page_bytes(command: Any, header: list[Any] | None = None) -> bytes:
    return json.dumps([*(HEADER if header is None else header), command]).encode()


def refused(content: bytes | str, **kwargs: Any) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        protocol.parse_page(content, **kwargs)
    return info.value


# -- builders ---------------------------------------------------------------------------------


def test_push_orders_objects_by_id_and_keeps_attribute_order() -> None:
    call = protocol.push("Product", client_id="c1",
                         update={"b": {"z": "1", "a": "2"}, "a": {"price": "3"}},
                         delete={"0977": {"name": "Old", "price": "1.00"}})  # fmt: skip
    body = call.request.json
    assert list(body) == ["source_name", "client_id", "update", "delete"]
    assert list(body["update"]) == ["a", "b"] and list(body["update"]["b"]) == ["z", "a"]
    assert (call.request.method, call.request.path, call.request.client_id) == (
        "POST", "app/v1/Product", "c1")  # fmt: skip
    assert call.source == "Product"


def test_push_changes_body_has_only_source_and_client() -> None:
    assert protocol.push("Product", client_id="c1").request.json == {
        "source_name": "Product", "client_id": "c1"}  # fmt: skip


def test_push_writes_blob_fields_once(tmp_path: Path) -> None:
    blob = BlobUpload("image_uri", "17", tmp_path / "a.jpg")
    call = protocol.push("Photo", client_id="c", create={"17": {"image_uri": "db/a.jpg"}},
                         update={"3": {"thumb": ""}}, blob_fields=["thumb"], blobs=[blob])  # fmt: skip
    assert call.request.json["blob_fields"] == ["image_uri", "thumb"]
    assert call.request.blobs == (blob,) and blob.field_name == "image_uri-17"


@pytest.mark.parametrize("objects", [{"1": {"price": 9.99}}, {"1": {"price": None}}, {1: {}}])
def test_push_refuses_values_that_are_not_strings(objects: Any) -> None:
    with pytest.raises(ValidationError, match="Product update"):
        protocol.push("Product", client_id="c", update=objects)


def test_query_sends_token_and_extra_params() -> None:
    request = protocol.query("My Source", client_id="c", page_size=2, token="1",
                             query_params="&query[city]=Austin").request  # fmt: skip
    assert request.path == "app/v1/My%20Source"
    assert request.query == "p_size=2&version=3&token=1&query[city]=Austin"
    spaced = protocol.query("P", client_id="c", query_params="query[city]=San José&x=%41")
    assert spaced.request.query.endswith("&query[city]=San%20Jos%C3%A9&x=%41")
    mapped = protocol.query("P", client_id="c", query_params={"query[name]": "a b&c"}).request
    assert mapped.query == "p_size=2000&version=3&query[name]=a%20b%26c"
    plain = protocol.query("P", client_id="c", query_params={"brand": "HTC", "kind": "a&b"}).request
    assert plain.query == "p_size=2000&version=3&query[brand]=HTC&query[kind]=a%26b"


@pytest.mark.parametrize("key", ["", "a[b]", "query[x", "]"])
def test_query_params_keys_must_be_plain_names(key: str) -> None:
    with pytest.raises(ValidationError, match="query_params: key"):
        protocol.query("P", client_id="c", query_params={key: "1"})


def test_next_token_sends_the_run_marker_before_the_first_page() -> None:
    assert protocol.next_token(0) == "1"
    assert protocol.next_token(1) == "1"
    assert protocol.next_token(518266240761923) == "518266240761923"


def test_search_request_shape() -> None:
    request = protocol.search(["Product", "Catalog"], client_id="c", page_size=50, offset=0,
                              max_results=20, search_params={"name": "wid", "br and": "A&B"},
                              tokens={"Catalog": "51"}, resend=True).request  # fmt: skip
    assert (request.method, request.path) == ("POST", "rc/v1/app/search")
    assert request.query == (
        "p_size=50&version=3&offset=0&max_results=20&search[name]=wid&search[br%20and]=A%26B&resend=1"
    )
    assert request.json == {"sources": [{"name": "Product"}, {"name": "Catalog", "token": "51"}]}
    assert protocol.search([], client_id="c").request.json is None


def test_register_renames_rhoconnect_and_drops_empty_phone_id() -> None:
    body = protocol.client_register("c 1", device_pin="p", device_type="ANDROID",
                                    device_push_type="rhoconnect").request.json  # fmt: skip
    assert body == {"device_pin": "p", "device_port": "100", "device_type": "ANDROID",
                    "device_push_type": "rhoconnect_push", "device_app_id": "",
                    "device_app_version": ""}  # fmt: skip
    with_phone = protocol.client_register("c", device_pin="p", device_type="X", phone_id="35")
    assert list(with_phone.request.json)[:3] == ["device_pin", "phone_id", "device_port"]


def test_unregister_blanks_every_device_field() -> None:
    request = protocol.client_unregister("abc").request
    assert request.path == "rc/v1/clients/abc/register" and request.client_id is None
    assert request.json == dict.fromkeys(["device_pin", "device_port", "device_type",
                                          "device_push_type", "device_app_id",
                                          "device_app_version"], "")  # fmt: skip


def test_reset_body_names_sources_or_is_empty() -> None:
    assert protocol.client_reset("c").request.json is None
    assert protocol.client_reset("c", ["Product"]).request.json == {"sources": [{"name": "Product"}]}


def test_download_requests() -> None:
    assert protocol.bulk_file("/data/a/b.data").path == "/data/a/b.data.rzip"
    assert protocol.bulk_file("/data/a/b.data", suffix="").path == "/data/a/b.data"
    blob = protocol.blob_file("https://cdn.test/p/1.jpg?extension=jpg", client_id="c")
    assert (blob.path, blob.query) == ("https://cdn.test/p/1.jpg", "extension=jpg&client_id=c")
    assert protocol.blob_file("https://cdn.test/1.jpg", client_id="c").query == "client_id=c"


def test_login_body_is_not_in_the_request_repr() -> None:
    request = protocol.login("alice", "s3cret").request
    assert request.json == {"login": "alice", "password": "s3cret", "remember_me": 1}
    assert "s3cret" not in repr(request)


# -- pages: what is accepted ----------------------------------------------------------------


def test_page_with_every_command_key() -> None:
    """The example of protocol.md §4.3, plus schema-changed and unknown keys."""
    command = {
        "metadata": '{"index":{"title":"Products"}}',
        "links": {"1700000123456": {"l": "1058"}},
        "delete": {"1002": {"price": "19.50"}, "0977": {"name": "Old thing", "price": "1.00"}},
        "insert": {"1002": {"price": "17.25"}},
        "update-error": {"1010-error": {"message": "price must be positive"},
                         "1010": {"price": "-5"}},
        "update-rollback": {"1010": {"name": "Sprocket", "price": "4.00"}},
        "source-error": {"logoff-error": {"message": "logout failed"}},
        "future-key": [1, 2],
    }  # fmt: skip
    page = protocol.parse_page(page_bytes(command), source="Product")
    assert page.metadata == '{"index":{"title":"Products"}}'
    assert dict(page.links) == {"1700000123456": "1058"}
    assert page.update_errors["1010"] == protocol.ObjectError("price must be positive", {"price": "-5"})
    assert dict(page.extra) == {"future-key": [1, 2]}
    assert page.server_errors() == {
        "logoff-error": {"message": "logout failed"},
        "update-error": {"1010": {"message": "price must be positive", "attributes": {"price": "-5"}}},
        "update-rollback": {"1010": {"attributes": {"name": "Sprocket", "price": "4.00"}}},
    }  # fmt: skip
    assert page.token_value == 518266240761923 and not page.is_last


def test_schema_changed_page() -> None:
    header = [{"version": 3}, {"token": "7"}, {"count": 0}, {"progress_count": 0},
              {"total_count": 0}]  # fmt: skip
    page = protocol.parse_page(page_bytes({"schema-changed": "true"}, header))
    assert page.schema_changed and page.token == "7"


def test_header_elements_may_be_omitted_except_version() -> None:
    """The C++ client tries each header key in turn (§4.2); refresh_time is accepted too."""
    page = protocol.parse_page(b'[{"version":3},{"refresh_time":1700000000},{}]')
    assert page == Page(refresh_time=1700000000)
    assert page.is_last and page.total_count is None


def test_only_the_first_source_error_goes_to_server_errors() -> None:
    command = {"source-error": {"login-error": {"message": "a"}, "query-error": {"message": "b"}}}
    page = protocol.parse_page(page_bytes(command))
    assert dict(page.source_errors) == {"login-error": "a", "query-error": "b"}
    assert page.server_errors() == {"login-error": {"message": "a"}}


def test_unknown_header_element_is_kept_in_extra() -> None:
    page = protocol.parse_page(b'[{"version":3},{"shard":"eu"},{"token":""},{}]')
    assert dict(page.extra) == {"shard": "eu"}


def test_page_objects_cannot_be_mutated() -> None:
    page = protocol.parse_page(page_bytes({"insert": {"1": {"a": "b"}}}))
    with pytest.raises(TypeError):
        page.insert["2"] = {}  # type: ignore[index]


# -- pages: what is refused -----------------------------------------------------------------

TRUNCATED = page_bytes({"insert": {"1": {"name": "Widget"}}})[:-12]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (TRUNCATED, "not valid JSON (truncated?)"),
        (b"", "empty body"),
        (b"   \n", "empty body"),
        (b"<html><body>502 Bad Gateway</body></html>", "expected JSON, got HTML"),
        (b"\xff\xfe[", "not UTF-8"),
        (b'{"version":3}', "expected a JSON array"),
        (b"[]", "empty array"),
        (b'[{"version":3},{"token":""},{"count":0}]', "command object is missing"),
        (b'[{"version":3},{"count":0},{"token":""},{}]', "'token' is repeated or out of order"),
        (b'[{"version":3},{"version":3},{}]', "'version' is repeated"),
        (b'[{"version":3},{"token":"","count":0},{}]', "element 1: expected an object with one key"),
        (b'[{"version":3},[],{}]', "element 1: expected an object with one key"),
        (b'[{"version":3},{"token":""},["insert"]]', "command object (last element): expected an object"),
        (b'[{"version":"3"},{}]', "'version': expected a non-negative integer, got '3'"),
        (b'[{"version":3},{"token":518266240761923},{}]', "'token': expected a string"),
        (b'[{"version":3},{"token":"abc"},{}]', "'token': expected \"\" or a 64-bit decimal"),
        (b'[{"version":3},{"token":"99999999999999999999999"},{}]', "64-bit"),
        (b'[{"version":3},{"count":"2"},{}]', "'count': expected a non-negative integer"),
        (b'[{"version":3},{"count":-1},{}]', "'count': expected a non-negative integer"),
        (b'[{"version":3},{"total_count":true},{}]', "'total_count': expected a non-negative"),
        (b'[{"version":3},{"insert":[]}]', "'insert': expected an object"),
        (b'[{"version":3},{"insert":{"1":["a"]}}]', "'insert'['1']: expected an object"),
        (b'[{"version":3},{"insert":{"1":{"price":9.99}}}]', "['price']: expected a string, got 9.99"),
        (b'[{"version":3},{"delete":{"1":{"price":null}}}]', "'delete'['1']['price']: expected a string"),
        (b'[{"version":3},{"links":{"17":"5"}}]', "'links'['17']: expected an object"),
        (b'[{"version":3},{"links":{"17":{"id":"5"}}}]', "'links'['17']['l']: expected a string, got None"),
        (b'[{"version":3},{"metadata":{"a":1}}]', "'metadata': expected a string"),
        (b'[{"version":3},{"schema-changed":"no"}]', "'schema-changed': expected \"true\""),
        (b'[{"version":3},{"source-error":{"query-error":"boom"}}]', "['query-error']: expected an object"),
        (b'[{"version":3},{"create-error":{"1-error":{"message":7}}}]', "['message']: expected a string"),
        (b'[{"version":3},{"update-rollback":{"1":"x"}}]', "'update-rollback'['1']: expected an object"),
        (b'[{"version":3},{"delete-error":{"4":{},"4-error":{"text":"x"}}}]', "['4-error']['message']"),
    ],
)  # fmt: skip
def test_bad_page_is_refused_naming_the_problem(content: bytes, problem: str) -> None:
    error = refused(content, source="Product")
    assert str(error).startswith("Product page: ")
    assert problem in str(error)
    assert error.source == "Product"
    assert error.response == content or error.response == content.decode("utf-8", "replace")


@pytest.mark.parametrize(
    ("content", "version"),
    [(b'[{"version":4},{}]', 4), (b'[{"version":2},{"token":""},{}]', 2), (b'[{"token":""},{}]', None)],
)
def test_other_data_format_version_is_a_version_error(content: bytes, version: int | None) -> None:
    error = refused(content)
    assert isinstance(error, SyncVersionError)
    assert error.version == version
    assert "version" in str(error)


# -- search, bulk, clientcreate, login ------------------------------------------------------

SEARCH_PAGE = [{"version": 3}, {"token": "51"}, {"source": "Customer"}, {"count": 1},
               {"insert": {"2": {"first": "Jane"}}}]  # fmt: skip


def test_search_reply_skips_exhausted_sources_and_reads_the_rest() -> None:
    """Live check L.7: [[], [page]] carries the second source's page (divergence §14 #8)."""
    reply = protocol.parse_search_reply(json.dumps([[], SEARCH_PAGE]),
                                        sources=["Product", "Customer"])  # fmt: skip
    assert reply.pages[0] is None and reply.pages[1] is not None
    assert reply.count == 1 and reply.tokens == {"Customer": "51"}
    assert protocol.parse_search_reply(b"[]").pages == ()


def test_search_error_form() -> None:
    content = (b'[[{"version":3},{"source":"Customer"},{"search-error":{"search-error":'
               b'{"message":"Search error - invalid token"}}}]]')  # fmt: skip
    (page,) = protocol.parse_search_reply(content, sources=["Customer"]).pages
    assert page is not None and page.token == "" and page.has_server_errors
    assert page.server_errors() == {"search-error": {"message": "Search error - invalid token"}}


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ({"sources": []}, "expected a JSON array"),
        ([[{"version": 3}, {"count": 0}, {}]], "'source' None is not one of the sources"),
        ([[*SEARCH_PAGE[:2], {"source": "Other"}, *SEARCH_PAGE[3:]]], "'source' 'Other'"),
        ([{"version": 3}], "element 0: expected a JSON array"),
        ([[{"version": 3}, {"source": "Customer"}, {"count": "1"}, {}]], "'count': expected"),
    ],
)
def test_bad_search_reply_is_refused(doc: Any, problem: str) -> None:
    with pytest.raises(ProtocolError, match="search reply") as info:
        protocol.parse_search_reply(json.dumps(doc), sources=["Customer"])
    assert problem in str(info.value)


def test_bulk_replies() -> None:
    assert protocol.parse_bulk_data_reply(b'{"result":"nop"}') == BulkReply("nop")
    failed = protocol.parse_bulk_data_reply(b'{"result":"url","url":""}')
    assert failed.is_error and not failed.is_ready


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"result":"done"}', "'result': expected wait, url or nop, got 'done'"),
        (b'{"result":"url"}', "'url': expected a string, got None"),
        (b'["wait"]', "body: expected an object"),
        (b'{"result":', "not valid JSON"),
    ],
)
def test_bad_bulk_reply_is_refused(content: bytes, problem: str) -> None:
    with pytest.raises(ProtocolError, match="bulk_data reply") as info:
        protocol.parse_bulk_data_reply(content)
    assert problem in str(info.value)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty body"),
        (b"{}", "'client': expected an object, got None"),
        (b'{"client":{}}', "'client'['client_id']: expected a string, got None"),
        (b'{"client":{"client_id":" "}}', "'client'['client_id'] is empty"),
        (b"<!DOCTYPE html><html>", "got HTML"),
    ],
)
def test_missing_client_id_is_refused(content: bytes, problem: str) -> None:
    """The C++ client went on with an empty id; rhom must not (§3.2 quirk)."""
    with pytest.raises(ProtocolError, match="clientcreate reply") as info:
        protocol.parse_client_create_reply(content)
    assert problem in str(info.value)


def test_session_keeps_every_cookie_pair_without_attributes() -> None:
    reply = Reply(200, (("Set-Cookie", "a=1; path=/"), ("Content-Type", "text/html"),
                        ("set-cookie", "rhoconnect_session=BAh7%3D--5d1c; path=/; HttpOnly")))  # fmt: skip
    assert protocol.session_from_reply(reply) == "a=1;rhoconnect_session=BAh7%3D--5d1c;"


def test_login_reply_without_cookie_is_refused() -> None:
    with pytest.raises(ProtocolError, match="without a session cookie"):
        protocol.session_from_reply(Reply(200, (("Set-Cookie", "; path=/"),)))
