"""Paste-back helper for end-to-end tests: `paste_back.py AUTHORIZATION_URL`.

Drives headless Chromium (the same way as browser_driver.py) through the authorization
page: signs in as alice, approves, and prints on stdout the URL the browser lands on — the
redirect to a loopback port where nothing listens. That page fails to load, but its URL
(with `code` and `state`) is what a user copies from the address bar. Exit 1 when no
such URL was reached. Progress goes to stderr (paths only, never queries).
"""
import shutil
import sys
import tempfile
import time
from urllib.parse import urlsplit

import browser_driver as bd
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException


def log(msg: str) -> None:
    print(f"paste_back {time.monotonic() - bd.START:6.2f}s {msg}", file=sys.stderr, flush=True)


bd.log = log


def landed(url: str) -> bool:
    """The redirect URI was reached: a loopback URL carrying a code or an error."""
    u = urlsplit(url)
    return u.hostname in ("127.0.0.1", "localhost", "::1") and ("code=" in u.query or "error=" in u.query)


def main() -> int:
    profile = tempfile.mkdtemp(prefix="stack-paste-back-profile.")
    driver = None
    try:
        driver = bd.start_chromium(profile)
        log(f"open {bd.where(bd.URL)}")
        driver.get(bd.URL)
        done: set = set()
        while time.monotonic() - bd.START < bd.TIMEOUT:
            if landed(driver.current_url):
                log(f"landed on {bd.where(driver.current_url)}")
                print(driver.current_url, flush=True)
                return 0
            try:
                result = bd.step(driver, done)
            except (StaleElementReferenceException, NoSuchElementException):
                result = None
            if result and result != "redirected":
                log(f"stopped: {result}")
                return 1
            time.sleep(0.05)
        log(f"timeout at {bd.where(driver.current_url)}")
        return 1
    except WebDriverException as e:
        log(f"webdriver error: {e.msg if hasattr(e, 'msg') else e}")
        return 1
    finally:
        if driver:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
