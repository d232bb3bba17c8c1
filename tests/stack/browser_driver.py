"""Drives headless Chromium through one authorization, as a user would (started by ./browser).

Modes (env BROWSER_MODE): `code` (default) opens the URL, follows redirects, signs in if a login
form shows, approves the consent page (denies with BROWSER_CONSENT=deny) and waits for the page
the authorization server redirects to (the loopback callback). `device` opens a verification URL
(with user_code), signs in, submits the code and approves (or denies) the device.
User: BROWSER_USERNAME (alice) and the password in BROWSER_PASSWORD_FILE (else alice's test
password). Only paths and titles are logged: queries carry codes and state."""
import os
import shutil
import sys
import tempfile
import time
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

URL = sys.argv[1]
MODE = os.environ.get("BROWSER_MODE", "code")
APPROVE = os.environ.get("BROWSER_CONSENT", "approve") != "deny"
USERNAME = os.environ.get("BROWSER_USERNAME", "alice")
PASSWORD_FILE = os.environ.get("BROWSER_PASSWORD_FILE")
PASSWORD = open(PASSWORD_FILE).read().strip() if PASSWORD_FILE else "alice-password-1"
TIMEOUT = float(os.environ.get("BROWSER_TIMEOUT_SECONDS", "60"))
START = time.monotonic()


def log(msg: str) -> None:
    print(f"browser[{os.getpid()}] {time.monotonic() - START:6.2f}s {msg}", flush=True)


def where(url: str) -> str:
    u = urlsplit(url)
    return f"{u.scheme}://{u.netloc}{u.path}"


def find(driver, css):
    try:
        return driver.find_element(By.CSS_SELECTOR, css)
    except NoSuchElementException:
        return None


def step(driver, done: set) -> str | None:
    """Acts on the current page once; returns a final outcome or None to keep going."""
    if driver.execute_script("return document.readyState") != "complete":
        return None
    path = urlsplit(driver.current_url).path
    if (password := find(driver, "input[name=password]")) and "login" not in done:
        driver.find_element(By.NAME, "username").send_keys(USERNAME)
        password.send_keys(PASSWORD)
        log(f"sign in as {USERNAME} at {where(driver.current_url)}")
        done.add("login")
        password.submit()
        return None
    if password:
        return "login failed"
    if MODE == "device":
        if (code := find(driver, "input[name=user_code]")) and "code" not in done:
            done.add("code")
            log(f"submit user code at {path}")
            code.submit()
        elif (button := find(driver, f"button[name=action][value={'accept' if APPROVE else 'deny'}]")) \
                and "consent" not in done:
            done.add("consent")
            log(f"{'accept' if APPROVE else 'deny'} device at {path}")
            button.click()
        elif "consent" in done and "/device-grant-status/" in path:
            return "device " + driver.find_element(By.TAG_NAME, "h1").text.strip()
        return None
    form = find(driver, "#authorizationForm")
    if form and "consent" not in done:
        done.add("consent")
        button = "input[name=allow]" if APPROVE else "input[type=submit]:not([name])"
        log(f"{'approve' if APPROVE else 'deny'} consent at {path}")
        form.find_element(By.CSS_SELECTOR, button).click()
        return None
    if "consent" in done and not form:
        return "redirected"  # the authorization server sent us on: the callback page
    if driver.title.startswith("Authorize") and find(driver, "h2"):
        return "authorization error: " + driver.find_element(By.TAG_NAME, "h2").text
    return None


def start_chromium(profile: str):
    """Debian's headless Chromium through chromedriver (nothing downloaded), fresh profile."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", f"--user-data-dir={profile}", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--disable-default-apps", "--password-store=basic"):
        options.add_argument(arg)
    # No session bus for Chromium: it needs none, and would activate the accessibility bus
    # (and, without --password-store=basic, use the Secret Service under test).
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": "disabled:"}
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver", env=env))
    driver.set_page_load_timeout(TIMEOUT)
    return driver


def main() -> int:
    profile = tempfile.mkdtemp(prefix="stack-browser-profile.")
    driver = None
    outcome = "timeout"
    try:
        log(f"open {where(URL)} mode={MODE} consent={'approve' if APPROVE else 'deny'}")
        driver = start_chromium(profile)
        driver.get(URL)
        done: set = set()
        while time.monotonic() - START < TIMEOUT:
            try:
                result = step(driver, done)
            except (StaleElementReferenceException, NoSuchElementException):
                result = None  # the page changed under us: look again
            if result:
                outcome = result
                break
            time.sleep(0.05)
        log(f"done: {outcome}; final path={urlsplit(driver.current_url).path} title={driver.title!r}")
        return 0 if outcome == "redirected" or outcome.startswith("device ") else 1
    except WebDriverException as e:
        log(f"webdriver error: {e.msg if hasattr(e, 'msg') else e}")
        return 1
    finally:
        if driver:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        log(f"quit after {time.monotonic() - START:.2f}s")


if __name__ == "__main__":
    sys.exit(main())
