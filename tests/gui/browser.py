"""Driving the page in headless Chromium (Debian's chromium and chromium-driver, through selenium):
finding the browser, and small helpers the browser tests share. Screenshots go to
``$DLAE_GUI_SCREENSHOTS`` (default ``build/gui-screenshots`` in the checkout, which git ignores)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from conftest import wait_until

SCREENSHOTS = Path(os.environ.get("DLAE_GUI_SCREENSHOTS", Path(__file__).resolve().parents[2] / "build" / "gui-screenshots"))


def find_browser() -> tuple[str | None, str | None, str | None]:
    """(chromium binary, chromedriver, why the tests must be skipped or None)."""
    import importlib.util

    if importlib.util.find_spec("selenium") is None:
        return None, None, "selenium is not installed (pip install -e '.[gui,test]')"
    binary = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    driver = shutil.which("chromedriver")
    if binary is None or driver is None:
        return binary, driver, "chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
    return binary, driver, None


def start_chromium(binary: str, driver_path: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1600,1000", "--disable-extensions"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(driver_path), options=options)


class Page:
    """The page in a browser, with waits that end when the page's check has come back."""

    def __init__(self, driver, url: str):
        self.driver, self.url = driver, url

    def open(self) -> None:
        self.driver.get(self.url)
        self.wait(lambda: self.js("return window.dlae && window.dlae.state.check !== null"), what="the page")

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def wait(self, predicate, timeout: float = 20, what: str = "the page"):
        return wait_until(predicate, timeout, what, interval=0.05)

    def css(self, selector: str):
        return self.driver.find_element("css selector", selector)

    def all(self, selector: str):
        return self.driver.find_elements("css selector", selector)

    def settled(self) -> None:
        """Wait until the check started by the last edit has come back and been drawn."""
        self.wait(lambda: self.css("#check-state").text not in ("", "checking…"), what="the check")

    def tab(self, name: str) -> None:
        self.css(f'#tabs button[data-tab="{name}"]').click()

    def type_into(self, selector: str, text: str) -> None:
        """Replace a field's text and leave it (the change event the page listens to)."""
        from selenium.webdriver.common.keys import Keys

        field = self.css(selector)
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(Keys.DELETE)
        field.send_keys(text, Keys.TAB)
        self.settled()

    def choose(self, selector: str, text: str) -> None:
        from selenium.webdriver.support.ui import Select

        Select(self.css(selector)).select_by_visible_text(text)
        self.settled()

    def select_layer(self, index: int) -> None:
        self.css(f'#layer-list li[data-index="{index}"]').click()
        self.wait(lambda: "selected" in self.css(f'#layer-list li[data-index="{index}"]').get_attribute("class"),
                  what=f"layer {index} selected")

    def add_layer(self, type_name: str) -> None:
        from selenium.webdriver.support.ui import Select

        Select(self.css("#new-layer-type")).select_by_visible_text(type_name)
        self.css("#add-layer").click()
        self.settled()

    def layers(self) -> list[str]:
        return self.js("return window.dlae.state.config.layers[window.dlae.state.list]")

    def save_as(self, path: Path) -> None:
        self.css("#save-as-button").click()
        self.wait(lambda: self.css("#picker-path").is_displayed(), what="the save dialog")
        self.css("#picker-path").send_keys(str(path))
        self.css("#picker-ok").click()
        self.wait(lambda: self.css("#config-path").text == str(path), what=f"saved as {path}")

    def open_file(self, path: Path) -> None:
        """Open ``path`` through the Open dialog (its path field)."""
        self.css("#open-button").click()
        self.wait(lambda: self.css("#picker-path").is_displayed(), what="the open dialog")
        self.css("#picker-path").send_keys(str(path))
        self.css("#picker-ok").click()
        self.wait(lambda: self.css("#config-path").text == str(path), what=f"{path} opened")
        self.settled()

    def edit_latency_ms(self, selector: str, values: list[str]) -> list[float]:
        """Milliseconds from each edit of a layer parameter field to the redrawn inspect table."""
        times = []
        for value in values:
            before = self.js("return window.dlaeChecks")
            self.type_into(selector, value)
            self.wait(lambda: self.js("return window.dlaeChecks") != before, what="the inspect update")
            times.append(self.js("return window.dlaeLastInspectMs"))
        return times

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path
