"""Fixtures for the real-browser tests: a real `taskly serve` on a fresh SQLite store with the
built web app, two users of workspace `Default` (the owner `e2e` and the member `bob`), a
board per test, and a headless Chromium (Debian's /usr/bin/chromium via npm playwright-core).

The server and the users are shared by the whole package (see `server`). A browser is launched
per test: starting Chromium takes about half a second here, so sharing it would save little
and cost isolation (each test's contexts are new profiles anyway).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import pytest

pytest.register_assert_rewrite("tests.web._browser", "tests.web._board")

from tests.e2e._harness import StoreSpec, TasklyServer  # noqa: E402

from ._board import WEB_DIST, Session  # noqa: E402
from ._browser import ARTIFACTS, Browser, require_browser  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here needs node (playwright-core) and Chromium."""
    for item in items:
        if "tests/web/" in item.nodeid:
            item.add_marker(pytest.mark.node)


FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember whether a test's call failed, for the browser fixture's teardown."""
    report = yield
    if report.when == "call" and report.failed:
        item.stash[FAILED] = True
    return report


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TasklyServer]:
    """One `taskly serve` for every browser test, on a fresh SQLite store (the owner `e2e` is
    made before it starts); each test gets its own board. Stopped with SIGINT at the end,
    which must exit 0. Starting a server and making users with the CLI costs several seconds
    on this 2-core box, so they are shared; browsers (profiles) and boards are not."""
    require_browser()
    if not (WEB_DIST / "index.html").exists():
        pytest.fail(f"{WEB_DIST}/index.html is missing: build the web app (`npm run build`) first")
    # test-artifacts/web holds the screenshots of this run only.
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    server = TasklyServer(StoreSpec("sqlite", tmp_path_factory.mktemp("web") / "taskly-data"))
    server.start()
    try:
        yield server
    finally:
        code = server.stop() if server.running else 0
        print(f"taskly serve:\n{server.output(200)}")
        if code != 0:
            pytest.fail(f"`taskly serve` exited {code} after SIGINT\n{server.output()}")


@pytest.fixture
def session(server: TasklyServer, request: pytest.FixtureRequest) -> Session:
    """The server, a new board named after the test, and the users `e2e` (owner) and `bob`
    (member) with their personal access tokens."""
    session = Session(server)
    session.setup(request.node.name[:100])
    return session


@pytest.fixture
async def browser(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Browser]:
    """A headless Chromium; screenshots go under the test's tmp dir and test-artifacts/web."""
    browser = Browser(tmp_path / "screenshots")
    await browser.start()
    try:
        yield browser
    finally:
        if request.node.stash.get(FAILED, False):
            shots = await browser.screenshot_all(f"FAILED-{request.node.name}")
            print("screenshots of the pages at the failure:", *map(str, shots), sep="\n  ")
        log = browser.page_log(last=40)
        if log:
            print(f"browser console errors and page errors:\n{log}")
        await browser.close()
