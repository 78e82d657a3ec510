"""A headless Chromium driven by Selenium (Debian's `chromium` and `chromium-driver`; nothing is downloaded).

`browser()` skips the calling test when either is missing, unless THINKSCALE_REQUIRE_BROWSER=1 (CI sets
it after installing them), where a missing browser fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVER = ("chromedriver",)


def _find(names) -> str | None:
    return next((path for name in names if (path := shutil.which(name))), None)


def browser(width: int = 1400, height: int = 1000):
    """A headless Chromium WebDriver (the caller quits it)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        webdriver = None
    binary, driver = _find(CHROMIUM), _find(DRIVER)
    if webdriver is None or binary is None or driver is None:
        why = "needs selenium and a local chromium + chromedriver (apt-get install chromium chromium-driver)"
        if os.environ.get("THINKSCALE_REQUIRE_BROWSER") == "1":
            pytest.fail(why)
        pytest.skip(why)
    opts = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--allow-file-access-from-files"):  # fmt: skip
        opts.add_argument(arg)
    opts.binary_location = binary
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=opts)
