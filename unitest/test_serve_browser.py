"""The web demo's page in headless Chromium: an image uploaded through the file input is
captioned as the caption command captions it."""

import glob
import os
import shutil
import subprocess
import sys

import pytest
from serve_client import running_server

from tfcaption.web.caption_app import CaptionApp
from tfcaption.web.served_model import ServedModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WAIT_S = 90


def find_program(*names):
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError(f"none of {', '.join(names)} is installed: install Debian's "
                         f"chromium and chromium-driver packages (.ci/run does)")


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = find_program("chromium", "chromium-browser", "google-chrome")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1200,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(
        executable_path=find_program("chromedriver")))
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def base(shipped_captioners):
    models = [ServedModel(name, path, captioner)
              for name, (path, captioner) in shipped_captioners.items()]
    with running_server(CaptionApp(models)) as url:
        yield url
    for model in models:
        model.close()


def cli_caption(model_dir, image):
    res = subprocess.run([sys.executable, "-m", "tfcaption.caption", f"--model={model_dir}",
                          image], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    path, caption = res.stdout.rstrip("\n").split("\t")
    assert path == image
    return caption


def test_uploaded_image_is_captioned_like_the_caption_command(base, browser, shapes_dir,
                                                             shipped_captioners, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    image = sorted(glob.glob(os.path.join(shapes_dir, "images", "test", "*.jpg")))[0]
    want = cli_caption(shipped_captioners["clipcap_shapes"][0], image)
    wait = WebDriverWait(browser, WAIT_S)
    browser.get(base + "/")
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    assert "clipcap_shapes (clipcap)" in browser.find_element(By.ID, "model-list").text
    browser.find_element(By.ID, "file-input").send_keys(image)
    caption = wait.until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, '.caption[data-model="clipcap_shapes"][data-image="0"]')))
    assert caption.text == want
    other = browser.find_element(By.CSS_SELECTOR, '.caption[data-model="wgan_shapes"]')
    assert len(other.text.split()) >= 3  # the second model, side by side
    assert browser.find_element(By.CSS_SELECTOR, ".card .name").text == \
        os.path.basename(image)
    assert browser.find_element(By.ID, "status").text.startswith("Done in ")
    screenshot = tmp_path / "demo.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 1000


def test_example_image_and_beam_setting(base, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, WAIT_S)
    browser.get(base + "/")
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    Select(browser.find_element(By.ID, "decoding")).select_by_value("beam")
    count = browser.find_element(By.ID, "num_captions")
    count.clear()
    count.send_keys("2")
    examples = browser.find_elements(By.CSS_SELECTOR, "#examples img")
    assert len(examples) >= 3
    examples[0].click()
    wait.until(lambda d: len(d.find_elements(
        By.CSS_SELECTOR, '.caption[data-model="clipcap_shapes"]')) == 2)
    assert browser.find_element(By.CSS_SELECTOR, ".card .name").text == \
        examples[0].get_attribute("alt")
