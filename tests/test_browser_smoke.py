"""The browser tier's own smoke test: Debian's headless Chromium, driven through
chromedriver, fills in and submits a form served over HTTP on 127.0.0.1. When this fails
the console's browser test cannot pass either, and this says why more plainly.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from selenium.webdriver.common.by import By

from tests.browser import chromium

pytestmark = pytest.mark.browser

FORM = b"""<!doctype html>
<title>Order</title>
<form method="post" action="/order">
  <input id="name" name="name">
  <select id="size" name="size"><option>small</option><option>large</option></select>
  <button id="send">Send</button>
</form>
"""


class Shop(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.reply(FORM)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        fields = {key: values[0] for key, values in parse_qs(body).items()}
        text = f"{self.path}: {fields.get('size')} for {fields.get('name')}"
        self.reply(f'<!doctype html><title>Done</title><p id="result">{html.escape(text)}</p>'.encode())

    def reply(self, page: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, format: str, *args: object) -> None:
        pass  # no request log on stderr


@pytest.fixture
def shop() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Shop)  # port 0: a free port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_chromium_submits_a_form(shop: str) -> None:
    with chromium() as driver:
        driver.get(shop + "/")
        assert driver.title == "Order"
        driver.find_element(By.ID, "name").send_keys("Ada <3")
        driver.find_element(By.CSS_SELECTOR, "#size option:nth-child(2)").click()
        driver.find_element(By.ID, "send").click()
        assert driver.find_element(By.ID, "result").text == "/order: large for Ada <3"
        assert driver.current_url == shop + "/order"
