"""The web console in a real browser: headless Chromium (Debian's package, installed by
scripts/test.sh) against a real rhom.server on 127.0.0.1, with a live client connected.

It logs in, lists the users, opens a client's document and searches it, pings the user
from the console and watches the live client's sync show up in the stats. With
``RHOM_SCREENSHOTS=docs/images/console`` it saves the screenshots docs/console.md shows.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from tests.browser import chromium, screenshot

from .conftest import World, values
from .test_live import eventually, live_client

pytestmark = pytest.mark.browser


def syncs_of(driver: WebDriver, url: str, source: str) -> int:
    driver.get(url + "/console/stats")
    return int(driver.find_element(By.CSS_SELECTOR, f'#source-stats tr[data-source="{source}"] td.syncs').text)


def test_console_in_chromium(make_world: Callable[..., World]) -> None:
    world = make_world("fixed", True)
    world.server.stop()
    world.server.start(console=True, stats_resolution=10)
    url = world.server.url
    world.products.replace({str(n): {"name": f"Phone {n}", "price": f"{n}9.99"} for n in range(1, 8)})
    live_client(world)
    assert len(values(world.Product)) == 7
    with chromium() as driver:
        driver.get(url + "/console/users/alice")
        assert "/console/login" in driver.current_url, "not logged in: the login page"
        driver.find_element(By.ID, "password").send_keys("wrong")
        driver.find_element(By.CSS_SELECTOR, "#login button").click()
        assert "Wrong API token or password" in driver.find_element(By.CSS_SELECTOR, ".error").text
        screenshot(driver, "login")
        driver.find_element(By.ID, "password").send_keys("test-api-token")
        driver.find_element(By.CSS_SELECTOR, "#login button").click()
        # the login page's own address ends in next=/console/users/alice: compare paths
        WebDriverWait(driver, 10).until(lambda d: urlsplit(d.current_url).path == "/console/users/alice")
        assert driver.find_element(By.CSS_SELECTOR, "h1").text == "alice", "back where the login was asked"

        driver.get(url + "/console/")
        users = driver.find_elements(By.CSS_SELECTOR, "#users tr[data-user]")
        assert [u.get_attribute("data-user") for u in users] == ["alice"]
        screenshot(driver, "users")
        users[0].find_element(By.CSS_SELECTOR, "a.user").click()
        clients = driver.find_elements(By.CSS_SELECTOR, "#clients tr[data-client]")
        assert len(clients) == 1 and clients[0].find_element(By.CSS_SELECTOR, ".last-sync").text != "never"
        screenshot(driver, "user")

        driver.find_element(By.CSS_SELECTOR, '#user-sources tr[data-source="Product"] a.source').click()
        shown = {
            r.get_attribute("data-object") for r in driver.find_elements(By.CSS_SELECTOR, "#objects tr[data-object]")
        }
        assert shown == set(values(world.Product)), "the document holds what the client holds"
        search = driver.find_element(By.CSS_SELECTOR, "#search input[name=q]")
        search.send_keys("phone 3")
        search.submit()
        WebDriverWait(driver, 10).until(lambda d: "q=phone" in d.current_url)  # the results page, not the old one
        found = [
            r.get_attribute("data-object") for r in driver.find_elements(By.CSS_SELECTOR, "#objects tr[data-object]")
        ]
        assert found == ["3"], "the search narrows the document"
        screenshot(driver, "source")

        before = syncs_of(driver, url, "Product")
        world.products.replace({**world.products.query(None), "99": {"name": "Pinged in"}})
        driver.get(url + "/console/users/alice")
        driver.find_element(By.ID, "message").send_keys("new stock")
        driver.find_element(By.ID, "ping-sources").send_keys("Product")
        driver.find_element(By.CSS_SELECTOR, "#ping button").click()
        assert driver.find_element(By.CSS_SELECTOR, ".flash").text == "Ping sent."
        eventually(lambda: "99" in values(world.Product), "the pinged live client synced")
        eventually(lambda: syncs_of(driver, url, "Product") > before, "the sync shows in the stats")
        assert driver.find_elements(By.CSS_SELECTOR, "svg.chart#syncs polyline.series"), "a line on the chart"
        screenshot(driver, "stats")

        driver.get(url + "/console/system")
        reset = driver.find_element(By.CSS_SELECTOR, "#system-reset button")
        reset.click()  # the confirmation box is required: the browser refuses to submit
        assert driver.current_url.endswith("/console/system")
        screenshot(driver, "system")
        driver.find_element(By.CSS_SELECTOR, "#system-reset input[name=confirm]").click()
        driver.find_element(By.CSS_SELECTOR, "#system-reset button").click()
        assert "System reset" in driver.find_element(By.CSS_SELECTOR, ".flash").text
        assert not driver.find_elements(By.CSS_SELECTOR, "#users tr[data-user]")
