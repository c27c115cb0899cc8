"""Drives the web console in headless Chromium (Debian's chromium and
chromium-driver, through Selenium), the way users reach it: behind an
authenticating proxy that adds each user's bearer token, as oauth2-proxy
would. Run by tests/e2e/console.rs; exits non-zero on the first failed check.

usage:
  console.py flow --upstream URL --admin-token T --user-token T --user EMAIL
                  --resource-role ARN --target-role ARN --signin URL --screenshots DIR
  console.py load --upstream URL --user-token T --resource NAME
"""

import argparse
import http.client
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate"}


def identity_proxy(upstream: str, token: str) -> str:
    """A local front that adds `Authorization: Bearer token` to every request
    (dropping any the browser sent) and forwards it with its Host unchanged."""
    target = urlparse(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in HOP_BY_HOP and k.lower() != "authorization"}
            headers["Authorization"] = f"Bearer {token}"
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            connection.close()

        do_GET = do_POST = do_DELETE = do_HEAD = forward

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("PAM_AWS_CHROMIUM", "/usr/bin/chromium")
    for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,900", "--no-first-run", "--disable-extensions"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    service = Service(executable_path=os.environ.get("PAM_AWS_CHROMEDRIVER", "/usr/bin/chromedriver"))
    return webdriver.Chrome(options=options, service=service)


def check(condition, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def wait(driver, condition, what: str, seconds: float = 20):
    try:
        return WebDriverWait(driver, seconds).until(condition)
    except TimeoutException:
        notice = driver.find_elements(By.ID, "notice")
        shown = notice[0].text if notice else ""
        raise AssertionError(f"timed out waiting for {what}; the page says: {shown!r}") from None


def by_text(tag: str, text: str):
    return (By.XPATH, f"//{tag}[normalize-space()={json.dumps(text)}]")


def click(driver, tag: str, text: str) -> None:
    wait(driver, EC.element_to_be_clickable(by_text(tag, text)), f"{tag} {text!r}").click()


def fill(driver, label: str, value: str) -> None:
    """Types into the input whose <label> text is exactly `label`."""
    labels = [node for node in driver.find_elements(*by_text("label", label)) if node.is_displayed()]
    check(labels, f"no visible label {label!r}")
    field = driver.find_element(By.ID, labels[0].get_attribute("for"))
    field.clear()
    field.send_keys(value)


def notice_text(driver) -> str:
    notice = driver.find_element(By.ID, "notice")
    return notice.text if notice.is_displayed() else ""


def requested_urls(driver) -> list:
    """Every (URL, URL of the document that asked) the browser requested,
    from Chromium's performance log."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            params = message["params"]
            urls.append((params["request"]["url"], params.get("documentURL", "")))
    return urls


def origin(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}"


def shot(driver, directory: str, name: str) -> None:
    if directory:
        os.makedirs(directory, exist_ok=True)
        driver.save_screenshot(os.path.join(directory, f"{name}.png"))


def flow(args) -> None:
    admin_base = identity_proxy(args.upstream, args.admin_token)
    user_base = identity_proxy(args.upstream, args.user_token)
    xss = '<img src=x onerror="document.title=\'pwned\'"><b>bold</b>'
    driver = browser()
    try:
        # --- the administrator adds a resource and an account ---
        driver.get(admin_base + "/")
        wait(driver, EC.presence_of_element_located(by_text("h1", "Resources")), "the Resources page")
        check("(administrator)" in driver.find_element(By.ID, "who").text, "the admin is named")
        click(driver, "button", "Add resource")
        fill(driver, "Name", "web-prod")
        fill(driver, "Role ARN", "not-an-arn")
        click(driver, "button", "Create resource")
        wait(driver, lambda d: "role_arn" in notice_text(d) or "role-arn" in notice_text(d), "the bad ARN's error")
        print("a bad ARN is refused with:", notice_text(driver).splitlines()[0])
        check(not driver.find_elements(*by_text("a", "web-prod")), "nothing was created")
        fill(driver, "Role ARN", args.resource_role)
        click(driver, "button", "Create resource")
        wait(driver, EC.presence_of_element_located(by_text("a", "web-prod")), "the new resource in the list")
        shot(driver, args.screenshots, "resources")

        click(driver, "a", "web-prod")
        click(driver, "button", "Add account")
        fill(driver, "Name", "admin")
        fill(driver, "Description", xss)
        fill(driver, "Role ARN", args.target_role)
        fill(driver, "Session duration", "30m")
        fill(driver, "Region", "eu-west-1")
        fill(driver, "Allow", f"{args.user}, group:ops")
        click(driver, "button", "Create account")
        cell = wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, "td.detail")), "the new account")
        check(cell.text == xss, f"the description is shown as text: {cell.text!r}")
        check(not driver.find_elements(By.CSS_SELECTOR, "td.detail img, td.detail b"), "no markup was made")
        check(driver.title != "pwned", "no script ran")
        print("the XSS payload stays text")
        shot(driver, args.screenshots, "accounts")

        # --- a user who may use the account opens the AWS console ---
        driver.get(user_base + "/")
        wait(driver, EC.presence_of_element_located(by_text("a", "web-prod")), "the user's resources")
        check(not driver.find_elements(*by_text("button", "Add resource")), "a user sees no Add resource")
        audit_link = driver.find_element(*by_text("a", "Audit"))
        check(not audit_link.is_displayed(), "a user sees no Audit link")
        click(driver, "a", "web-prod")
        wait(driver, EC.presence_of_element_located(by_text("button", "Access")), "the Access button")
        check(not driver.find_elements(*by_text("button", "Add account")), "a user sees no Add account")
        console_tab = driver.current_window_handle
        click(driver, "button", "Access")
        wait(driver, lambda d: len(d.window_handles) == 2, "a new tab")
        new_tab = [h for h in driver.window_handles if h != console_tab][0]
        driver.switch_to.window(new_tab)
        wait(driver, lambda d: d.current_url.startswith(args.signin) and "Action=login" in d.current_url,
             "the new tab on the sign-in URL")
        login_url = driver.current_url
        print("the new tab opened", login_url.split("?")[0], "with Action=login")
        driver.close()
        driver.switch_to.window(console_tab)
        wait(driver, lambda d: "opened in a new tab" in notice_text(d), "the grant's notice")
        # A browser that blocks the new tab gets the URL to open or copy instead.
        driver.execute_script("window.open = () => null;")
        click(driver, "button", "Access")
        offered = wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, "#notice input[readonly]")),
                       "the sign-in URL offered instead of a tab")
        check(offered.get_attribute("value").startswith(args.signin), "the offered URL is the sign-in URL")
        check(driver.find_elements(*by_text("button", "Copy")), "a Copy button")
        link = driver.find_element(By.CSS_SELECTOR, "#notice a[target=_blank]")
        check(link.get_attribute("rel") == "noopener noreferrer", "the link opens without opener or referrer")
        check(len(driver.window_handles) == 1, "no tab was opened")
        print("a blocked pop-up gets the URL to open or copy")
        click(driver, "a", "Sessions")
        wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, "td.status-active")), "the user's session")

        # --- at phone width the page still fits ---
        driver.set_window_size(390, 844)
        click(driver, "a", "Resources")
        wait(driver, EC.presence_of_element_located(by_text("a", "web-prod")), "the narrow page")
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        check(overflow <= 1, f"the page scrolls sideways at phone width by {overflow}px")
        driver.set_window_size(1280, 900)

        # --- the administrator revokes it and reads the audit ---
        driver.get(admin_base + "/#/sessions")
        row = wait(driver, EC.presence_of_element_located(
            (By.XPATH, f"//tr[td[1][normalize-space()={json.dumps(args.user)}] and td[contains(@class,'status-active')]]")),
            "the user's active session")
        session_id = row.get_attribute("data-session")
        row.find_element(*by_text("button", "Revoke")).click()
        wait(driver, EC.alert_is_present(), "the confirm dialog")
        driver.switch_to.alert.accept()
        wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, f"tr[data-session='{session_id}'] td.status-revoked")
             .text == "revoked", "the row to show revoked")
        print("the session shows revoked")
        shot(driver, args.screenshots, "sessions")

        click(driver, "a", "Audit")
        wait(driver, EC.presence_of_element_located(
            (By.XPATH, f"//tr[td[2]='access.grant' and td[3]={json.dumps(args.user)}]")), "the grant in the audit")
        wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, "#audit-chart svg rect.grant")), "the chart")
        chart_title = driver.find_element(By.CSS_SELECTOR, "#audit-chart svg > title").get_attribute("textContent")
        grants = int(chart_title.split(": ")[1].split(" grants")[0])
        check(grants >= 1, f"the chart counts the grant: {chart_title}")
        print("the audit shows the grant; chart:", chart_title)
        shot(driver, args.screenshots, "audit")

        # --- nothing was fetched from anywhere else ---
        ours = {origin(admin_base), origin(user_base)}
        urls = requested_urls(driver)
        from_console = [(url, page) for url, page in urls if origin(page) in ours]
        foreign = [url for url, _ in from_console if origin(url) not in ours]
        check(from_console and not foreign, f"the console asked other origins for: {foreign}")
        elsewhere = [url for url, _ in urls if origin(url) not in ours | {origin(args.signin)}]
        check(not elsewhere, f"requests to unexpected origins: {elsewhere}")
        print(f"{len(from_console)} requests from the console, none to another origin")
    finally:
        driver.quit()


def load(args) -> None:
    base = identity_proxy(args.upstream, args.user_token)
    driver = browser()
    try:
        driver.get(base + "/")
        wait(driver, EC.presence_of_element_located(by_text("a", args.resource)), "the catalog's resource")
        print("the console loads and lists", args.resource)
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    run = sub.add_parser("flow")
    for name in ["upstream", "admin-token", "user-token", "user", "resource-role", "target-role", "signin"]:
        run.add_argument(f"--{name}", required=True)
    run.add_argument("--screenshots", default="")
    only_load = sub.add_parser("load")
    for name in ["upstream", "user-token", "resource"]:
        only_load.add_argument(f"--{name}", required=True)
    args = parser.parse_args()
    started = time.monotonic()
    (flow if args.mode == "flow" else load)(args)
    print(f"ok ({time.monotonic() - started:.1f} s)")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
