"""Pushed creates, updates and deletes, their links and errors (protocol.md §5)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from rhom.server import MemoryAdapter, SourceAdapter, Upload

from .conftest import PRODUCTS, RhoClient, Serve


def test_create_brings_link_on_next_page(logged_in: RhoClient, products: MemoryAdapter) -> None:
    logged_in.sync("Product")
    attrs = {"name": "Nexus", "brand": "Google", "price": "349.00"}
    reply = logged_in.push("Product", {"create": {"1700000000001": attrs}})
    assert (reply.status_code, reply.text) == (200, ""), "protocol.md §5.1 (captures A.18)"
    assert reply.headers["content-type"] == "text/html;charset=utf-8", "protocol.md §1.3"
    page = logged_in.page("Product")
    assert page["commands"] == {"links": {"1700000000001": {"l": "6"}}}, "protocol.md §5.4"
    assert page["count"] == 0 and page["token"], "protocol.md §4.2: links-only page has a token"
    assert page["total_count"] == 6, "protocol.md §5.4 (captures A.19)"
    assert products.data["6"] == attrs, "protocol.md §5.4: adapter create saw the attributes"
    done = logged_in.page("Product", token=page["token"])
    assert done["commands"] == {} and done["token"] == "", "protocol.md §4.4 (captures A.20)"


def test_update_reaches_pusher_through_next_refresh(logged_in: RhoClient) -> None:
    logged_in.sync("Product")
    logged_in.push("Product", {"update": {"3": {"price": "1.00"}}})
    page = logged_in.page("Product")
    assert page["commands"] == {
        "insert": {"3": {"price": "1.00"}},
        "delete": {"3": {"price": "299.99"}},
    }, "protocol.md §5.4 (captures A.22)"


def test_delete_is_not_echoed_even_when_partial(logged_in: RhoClient) -> None:
    logged_in.sync("Product")
    logged_in.push("Product", {"delete": {"5": {"name": "Lumia"}, "2": PRODUCTS["2"]}})
    page = logged_in.page("Product")
    assert page["commands"] == {}, "protocol.md §5.4: rhom.server removes deletes by id"
    assert page["total_count"] == 3, "protocol.md §5.4 (captures A.25)"


def test_create_update_delete_in_one_push(logged_in: RhoClient, products: MemoryAdapter) -> None:
    logged_in.sync("Product")
    logged_in.push(
        "Product",
        {
            "create": {"t1": {"name": "Pixel"}},
            "update": {"3": {"quantity": "0"}},
            "delete": {"4": PRODUCTS["4"]},
        },
    )
    assert [c for c in products.calls if c in ("create", "update", "delete")] == [
        "create",
        "update",
        "delete",
    ], "protocol.md §5.1: create, then update, then delete"
    page = logged_in.page("Product")
    assert page["commands"]["links"] == {"t1": {"l": "6"}}, "protocol.md §5.4 (A.27)"
    assert page["commands"]["insert"] == {"3": {"quantity": "0"}}, "protocol.md §5.4 (A.27)"
    assert page["count"] == 2, "protocol.md §4.2: links are not counted"


def test_create_error_is_delivered_once_without_token(logged_in: RhoClient, products: MemoryAdapter) -> None:
    logged_in.sync("Product")
    products.fail("create", "Product create failed")
    logged_in.push("Product", {"create": {"t3": {"name": "Bad", "price": "1"}}})
    page = logged_in.page("Product")
    assert page["commands"] == {
        "create-error": {
            "t3": {"name": "Bad", "price": "1"},
            "t3-error": {"message": "Product create failed"},
        }
    }, "protocol.md §5.8 (captures A.30)"
    assert page["token"] == "", "protocol.md §4.4 step 3: error-only pages carry no token"
    assert logged_in.page("Product")["commands"] == {}, "protocol.md §5.8: delivered once"


def test_update_error_comes_with_rollback_and_no_id(logged_in: RhoClient, products: MemoryAdapter) -> None:
    logged_in.sync("Product")
    products.fail("update", "Product update failed")
    logged_in.push("Product", {"update": {"1": {"price": "0.01"}}})
    commands = logged_in.page("Product")["commands"]
    assert commands["update-error"] == {
        "1": {"price": "0.01"},
        "1-error": {"message": "Product update failed"},
    }, "protocol.md §5.4: pushed attributes, no id (captures A.32)"
    assert commands["update-rollback"] == {"1": PRODUCTS["1"]}, "protocol.md §5.4 (A.32)"


def test_delete_error(logged_in: RhoClient, products: MemoryAdapter) -> None:
    logged_in.sync("Product")
    products.fail("delete", "record locked")
    logged_in.push("Product", {"delete": {"4": {"name": "Galaxy"}}})
    commands = logged_in.page("Product")["commands"]
    assert commands == {"delete-error": {"4": {"name": "Galaxy"}, "4-error": {"message": "record locked"}}}, (
        "protocol.md §5.8 (captures A.34)"
    )


def test_error_next_to_link_is_resent_until_acknowledged(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    class Picky(MemoryAdapter):
        def create(self, attrs: dict[str, str]) -> str | None:  # type: ignore[override]
            if attrs.get("rc_fail"):
                raise ValueError("forced create error")
            return super().create(attrs)

    with serve([Picky("Product")]) as url:
        client = rho(url)
        client.login()
        client.create_client()
        client.push("Product", {"create": {"a": {"n": "1"}, "b": {"n": "2", "rc_fail": "1"}}})
        page = client.page("Product")
        assert page["commands"]["links"] == {"a": {"l": "1"}}, "protocol.md §5.4 (A.37)"
        assert "create-error" in page["commands"] and page["token"], "protocol.md §5.8 (A.37)"
        again = client.page("Product", token="999")
        assert again == page, "protocol.md §5.8 (live check L.10): errors come back on resend"
        done = client.page("Product", token=page["token"])
        assert done["commands"] == {}, "protocol.md §5.8 (A.38): gone after acknowledgement"


def test_create_returning_nothing_deletes_temp_object(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    class Sink(MemoryAdapter):
        def create(self, attrs: dict[str, str]) -> str | None:  # type: ignore[override]
            return None

    with serve([Sink("Sink")]) as url:
        client = rho(url)
        client.login()
        client.create_client()
        client.push("Sink", {"create": {"tmp": {"n": "1"}}})
        page = client.page("Sink")
        assert page["commands"] == {"delete": {"tmp": {"n": "1"}}}, "protocol.md §5.4 create"


def test_adapter_without_cud_reports_errors_not_crashes(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    class ReadOnly(SourceAdapter):
        def query(self, params: object) -> dict[str, dict[str, str]]:
            return {"1": {"a": "1"}}

    with serve([ReadOnly()]) as url:
        client = rho(url)
        client.login()
        client.create_client()
        reply = client.push("ReadOnly", {"update": {"1": {"a": "2"}}})
        assert reply.status_code == 200, "protocol.md §5.1: 200 whatever the adapter did"
        commands = client.page("ReadOnly")["commands"]
        assert "1-error" in commands["update-error"], "protocol.md §5.8"


def test_blob_push_multipart_and_download(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    photos = MemoryAdapter("Photo", blob_fields=("image_uri",))
    with serve([photos]) as url:
        client = rho(url)
        client.login()
        client.create_client()
        cud = (
            '{"source_name":"Photo","create":{"t1":{"title":"Beach","image_uri":"db/x.jpg"}},'
            '"blob_fields":["image_uri"]}'
        )
        files = {"image_uri-t1": ("x.jpg", b"JPEGDATA", "application/octet-stream")}
        reply = client.http.post("/app/v1/Photo", data={"cud": cud}, files=files, headers=client.headers)
        assert reply.status_code == 200, "protocol.md §5.3: cud part last, as the C++ client"
        stored = photos.data["1"]["image_uri"]
        assert stored.endswith("-x.jpg") and len(stored.split("-")[0]) == 32, "128 random bits: unguessable"
        page = client.page("Photo")
        assert page["commands"]["links"] == {"t1": {"l": "1"}}, "protocol.md §5.3 (A.40)"
        blob_url = page["commands"]["insert"]["1"]["image_uri-rhoblob"]
        assert blob_url.startswith(url), "protocol.md §8.1: the -rhoblob suffix carries a URL"
        download = client.http.get(blob_url, params={"client_id": client.client_id})
        assert (download.status_code, download.content) == (200, b"JPEGDATA"), "protocol.md §8.2"
        other = rho(url)
        other.login("bob")
        other.create_client()
        stolen = other.http.get(blob_url, params={"client_id": other.client_id})
        assert stolen.status_code == 404, "a user partition's file is its user's alone"


def test_app_partition_blobs_are_shared(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    shared = MemoryAdapter("Photo", blob_fields=("image_uri",), partition="app")
    with serve([shared]) as url:
        alice, bob = rho(url), rho(url)
        for client, name in ((alice, "alice"), (bob, "bob")):
            client.login(name)
            client.create_client()
        cud = '{"source_name":"Photo","create":{"t1":{"title":"Map"}},"blob_fields":["image_uri"]}'
        files = {"image_uri-t1": ("map.png", b"PNGDATA", "application/octet-stream")}
        assert (
            alice.http.post("/app/v1/Photo", data={"cud": cud}, files=files, headers=alice.headers).status_code == 200
        )
        blob_url = bob.page("Photo")["commands"]["insert"]["1"]["image_uri-rhoblob"]
        assert bob.http.get(blob_url, params={"client_id": bob.client_id}).content == b"PNGDATA"


def test_cud_part_first_is_accepted(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    photos = MemoryAdapter("Photo")
    with serve([photos]) as url:
        client = rho(url)
        client.login()
        client.create_client()
        boundary = "----rhom7f3a"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="cud"\r\n\r\n'
            '{"create":{"t1":{"image_uri":"p.txt"}},"blob_fields":["image_uri"]}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="image_uri-t1"; '
            'filename="p.txt"\r\nContent-Type: application/octet-stream\r\n\r\n'
            f"hello\r\n--{boundary}--\r\n"
        ).encode()
        headers = {**client.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}
        reply = client.http.post("/app/v1/Photo", content=body, headers=headers)
        assert reply.status_code == 200, "protocol.md §5.3 (captures A.39): cud part first"
        assert photos.data["1"]["image_uri"].endswith("-p.txt"), "protocol.md §5.3: store_blob"


class NamingPhotos(MemoryAdapter):
    """Records the uploaded file's name and size on the object, as RhoConnect adapters do."""

    def store_blob(self, obj: dict[str, str], field: str, upload: Upload) -> str:
        obj["filename"] = upload.filename
        obj["size"] = str(len(upload.data))
        return super().store_blob(obj, field, upload)


def test_store_blob_changes_reach_the_record(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    photos = NamingPhotos("Photo", {"1": {"title": "Old", "image_uri": "x"}})
    with serve([photos]) as url:
        client = rho(url)
        client.login()
        client.create_client()
        client.sync("Photo")
        cud = '{"create":{"t1":{"title":"Map"}},"update":{"1":{"title":"New"}},"blob_fields":["image_uri"]}'
        files = {
            "image_uri-t1": ("map.png", b"PNGDATA", "application/octet-stream"),
            "image_uri-1": ("new.jpg", b"JPG", "image/jpeg"),
        }
        reply = client.http.post("/app/v1/Photo", data={"cud": cud}, files=files, headers=client.headers)
        assert reply.status_code == 200
        created = next(o for oid, o in photos.data.items() if oid != "1")
        assert (created["title"], created["filename"], created["size"]) == ("Map", "map.png", "7")
        assert created["image_uri"].endswith("-map.png")
        assert (photos.data["1"]["title"], photos.data["1"]["filename"]) == ("New", "new.jpg")
        inserted = client.page("Photo")["commands"]["insert"]
        assert inserted["1"]["filename"] == "new.jpg", "what store_blob set reaches the clients"


def test_single_object_put_and_delete(logged_in: RhoClient, products: MemoryAdapter) -> None:
    logged_in.sync("Product")
    put = logged_in.http.put("/app/v1/Product/1", json={"update": {"price": "5"}}, headers=logged_in.headers)
    assert (put.status_code, put.text) == (200, ""), "protocol.md §5.5 (live check L.16)"
    assert products.data["1"]["price"] == "5", "protocol.md §5.5"
    delete = logged_in.http.delete("/app/v1/Product/2", headers=logged_in.headers)
    assert (delete.status_code, delete.text) == (200, ""), "protocol.md §5.5"
    assert "2" not in products.data, "protocol.md §5.5"
    page = logged_in.page("Product")
    assert "2" not in page["commands"].get("delete", {}), "protocol.md §5.5: no echo (L.16)"


def test_empty_push_is_accepted(logged_in: RhoClient, products: MemoryAdapter) -> None:
    reply = logged_in.push("Product", {})
    assert (reply.status_code, reply.text) == (200, ""), "protocol.md §15 q13: empty push"


def test_malformed_push_changes_nothing(logged_in: RhoClient, products: MemoryAdapter) -> None:
    bad_bodies: list[bytes] = [
        b'{"create":',
        b'["not", "an", "object"]',
        b'{"create": {"t1": "not an object"}}',
        b'{"create": {"t1": {"a:b": "colon in name"}}, "update": {"1": {"price": "0"}}}',
    ]
    for body in bad_bodies:
        reply = logged_in.http.post(
            "/app/v1/Product",
            content=body,
            headers={**logged_in.headers, "Content-Type": "application/json"},
        )
        assert reply.status_code == 500, f"protocol.md §1.3: {body!r}"
        assert reply.text == "Server error while processing client data", "protocol.md §1.8"
    assert products.data == PRODUCTS, "protocol.md §1.3: nothing half-applied"
    assert logged_in.sync("Product") == PRODUCTS, "the server keeps serving"


def test_oversized_body_is_refused(
    serve: Serve, products: MemoryAdapter, rho: Callable[[str], RhoClient], settings: object
) -> None:
    import dataclasses

    small = dataclasses.replace(settings, max_body_size=1000)  # type: ignore[type-var]
    with serve([products], settings=small) as url:
        client = rho(url)
        client.login()
        client.create_client()
        big = {"create": {"t1": {"blob": "x" * 5000}}}
        reply = client.push("Product", big)
        assert reply.status_code == 413, "rhom.server: bodies over max_body_size"
        assert products.data == PRODUCTS, "nothing stored"
        assert client.sync("Product") == PRODUCTS, "the server keeps serving"
        chunked = client.http.post(
            "/app/v1/Product",
            content=iter([b'{"create":{"t1":{"a":"', b"x" * 5000, b'"}}}']),
            headers={**client.headers, "Content-Type": "application/json"},
        )
        assert chunked.status_code == 413, "rhom.server: chunked bodies are counted too"


def test_push_to_unknown_source(logged_in: RhoClient) -> None:
    reply = logged_in.push("Nosuch", {"create": {"t": {"a": "1"}}})
    assert (reply.status_code, reply.text) == (500, "Unknown source"), "protocol.md §1.8"


def test_json_with_charset_is_json(logged_in: RhoClient, products: MemoryAdapter) -> None:
    reply = logged_in.http.post(
        "/app/v1/Product",
        content=b'{"create":{"t1":{"name":"x"}}}',
        headers={**logged_in.headers, "Content-Type": "application/json; charset=UTF-8"},
    )
    assert reply.status_code == 200 and "6" in products.data, "protocol.md §1.3 (L.4)"


def test_client_id_from_body_without_header(logged_in: RhoClient) -> None:
    reply = logged_in.http.post("/app/v1/Product", json={"client_id": logged_in.client_id, "create": {"t": {"a": "1"}}})
    assert reply.status_code == 200, "protocol.md §1.4: client_id parameter fallback (B.69)"


def test_push_as_form_field_cud(logged_in: RhoClient, products: MemoryAdapter) -> None:
    reply = logged_in.http.post(
        "/app/v1/Product",
        data={"cud": '{"create":{"t1":{"name":"Form"}}}'},
        headers=logged_in.headers,
    )
    assert reply.status_code == 200 and products.data["6"] == {"name": "Form"}, "protocol.md §5.1"


def test_update_of_an_object_the_backend_lost_is_an_update_error(logged_in: RhoClient, products: MemoryAdapter) -> None:
    logged_in.sync("Product")
    del products.data["1"]
    logged_in.push("Product", {"update": {"1": {"price": "2"}}})
    commands = logged_in.page("Product")["commands"]
    assert "1-error" in commands["update-error"], "protocol.md §5.8: update of a missing object"
    assert "1" not in products.data, "no partial record is made"


def test_a_refused_update_with_a_file_is_reported_as_the_client_pushed_it(
    serve: Serve, rho: Callable[[str], RhoClient]
) -> None:
    """The refused update's file is not kept, so the update-error names the client's own
    value: answered with a retry, the client sends its file again, not a name of a stored
    file that is gone."""
    photos = MemoryAdapter("Photo", {"1": {"title": "Beach"}}, blob_fields=("image_uri",))

    def refuse(attrs: Mapping[str, str]) -> None:
        raise ValueError("no new photos today")

    photos.update = refuse  # type: ignore[method-assign]
    with serve([photos]) as url:
        client = rho(url)
        client.login()
        client.create_client()
        client.sync("Photo")
        cud = '{"source_name":"Photo","update":{"1":{"image_uri":"db/y.jpg"}},"blob_fields":["image_uri"]}'
        files = {"image_uri-1": ("y.jpg", b"JPEGDATA", "application/octet-stream")}
        assert (
            client.http.post("/app/v1/Photo", data={"cud": cud}, files=files, headers=client.headers).status_code == 200
        )
        errors = client.page("Photo")["commands"]["update-error"]
        assert errors["1"] == {"image_uri": "db/y.jpg"}
        assert errors["1-error"] == {"message": "no new photos today"}
