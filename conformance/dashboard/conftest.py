"""Fixtures of the dashboard's browser test.

One headless Chromium session (Debian's chromium through Debian's chromedriver) walks the
dashboard step by step; each step is a test. When a step fails, its screenshot, the page's
HTML and the browser console are saved under $DASHBOARD_ARTIFACTS as `<step>.png/.html/.log`,
and the steps after it are skipped (they build on it).
"""

import json
import os
import pathlib
import urllib.error
import urllib.request
import uuid

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = pathlib.Path(os.environ.get("DASHBOARD_ARTIFACTS", pathlib.Path(__file__).parent / "artifacts"))


@pytest.fixture(scope="session")
def server_url():
    url = os.environ.get("RIVIA_URL")
    if not url:
        pytest.fail("RIVIA_URL is not set: run conformance/dashboard/run.sh")
    return url.rstrip("/") + "/"


class Api:
    """A second client: plain HTTP against the same server, with an account key."""

    def __init__(self, base):
        self.base = base
        self.key = None

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path.lstrip("/"), data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.key:
            req.add_header("X-API-KEY", self.key)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, (json.loads(raw) if raw else None)


@pytest.fixture(scope="session")
def api(server_url):
    return Api(server_url)


@pytest.fixture(scope="session")
def admin(api):
    """An admin account registered through the API; the browser signs in with it."""
    email = "dash-%s@example.com" % uuid.uuid4().hex[:10]
    password = "correct horse battery staple"
    status, body = api.call("POST", "v1.1/account/register/", {"email": email, "password": password})
    assert status == 201, body
    api.key = body["account_key"]
    return {"email": email, "password": password, "key": body["account_key"]}


@pytest.fixture(scope="session")
def names():
    """Names unique to this run (the PostgreSQL database may be shared between runs)."""
    suffix = uuid.uuid4().hex[:6]
    return {"instance": "dash-%s" % suffix, "class": "books", "channel": "feed"}


@pytest.fixture(scope="session")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,800", "--lang=en-US", "--force-prefers-reduced-motion"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    # The viewport, not the window around it, is what the steps mean by 1280×800.
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    outer = driver.get_window_size()
    driver.set_window_size(outer["width"] + 1280 - inner[0], outer["height"] + 800 - inner[1])
    yield driver
    driver.quit()


def _save_artifacts(item, driver):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = ARTIFACTS / item.name
    try:
        driver.save_screenshot(str(stem.with_suffix(".png")))
        stem.with_suffix(".html").write_text(driver.page_source, encoding="utf-8")
        logs = driver.get_log("browser")
        stem.with_suffix(".log").write_text(
            "\n".join("%s %s" % (e.get("level"), e.get("message")) for e in logs), encoding="utf-8")
    except Exception as e:  # the browser itself may be what failed
        stem.with_suffix(".log").write_text("could not capture the browser: %r" % e, encoding="utf-8")
    return stem


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        item.session.dashboard_failed_step = item.name
        driver = item.funcargs.get("browser")
        if driver is not None:
            stem = _save_artifacts(item, driver)
            report.sections.append(("dashboard artifacts", "screenshot: %s.png" % stem))


def pytest_runtest_setup(item):
    failed = getattr(item.session, "dashboard_failed_step", None)
    if failed:
        pytest.skip("an earlier step failed (%s); this one builds on it" % failed)
