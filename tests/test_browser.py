"""The chat UI in a real Chromium (Debian's, driven by Selenium), against a real `app.py` server.

- `test_seed_question_real_models`: starts `python app.py` with the real models on a temp
  index, asks a seed question, waits for the streamed answer and a cited passage, saves
  artifacts/ui-answer.png and prints time to first token and to the full answer.
- `test_stop_and_remove_confirmation`: fake models, a slow fake generator: Stop ends an answer
  being written and says so; Remove asks first, and a refusal removes nothing.
- `test_untrusted_upload_is_shown_not_run`: a server with the fake models (started through
  `app.launch`), uploads an article holding <script>/<img onerror>/markdown links, asks about
  it, and checks nothing ran and the text is shown as text; clicking a marker shows its passage.

Skipped when /usr/bin/chromium or /usr/bin/chromedriver is missing. No browser is downloaded:
the driver path is passed explicitly, so selenium-manager never runs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = REPO / "artifacts"
SEED_QUESTION = "How many hostages were freed according to state media?"
THINKING = "Searching the articles…"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists() or not CHROMEDRIVER.exists(),
                       reason="needs Debian's Chromium: apt-get install chromium chromium-driver"),
]

FAKE_SERVER = """
import sys
sys.path.insert(0, {repo!r})
from pathlib import Path
import app
from qa.api import Assistant
from qa.testing import ExtractiveGenerator, HashingEmbedder
from qa.store.indexer import index_paths
from qa.settings import SEED_DIR, Settings

index_dir = Path({index_dir!r})
embedder = HashingEmbedder()
index_paths(index_dir, [SEED_DIR], embedder)
assistant = Assistant(embedder=embedder, generator=ExtractiveGenerator(delay={delay}),
                      settings=Settings(index_dir=index_dir, min_relevance=0.05))
app.launch(assistant=assistant, port={port})
"""

EVIL = ("Evil Corp announced record profits of 900 million dollars in the quarter. "
        "<script>window.pwned = 'script'</script> <img src=x onerror=\"window.pwned = 'img'\"> "
        "[click me](javascript:window.pwned='link') <b>bold tag</b>\n\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the app exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the app did not answer at {url} within {timeout:.0f}s:\n{log.read_text()[-3000:]}")


def wait_for_log(log: Path, text: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            pytest.fail(f"the app exited:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    pytest.fail(f"{text!r} not logged within {timeout:.0f}s:\n{log.read_text()[-3000:]}")


@contextmanager
def start(cmd: list[str], env: dict[str, str], log: Path, port: int,
          timeout: float) -> Iterator[subprocess.Popen]:
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", proc, log, timeout)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def server_env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", "QA_INDEX_DIR": str(tmp_path / "index")}
    env.pop("QA_HOST", None)
    return env


@pytest.fixture
def driver():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="qa-chromium-")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1400,1000", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    browser.set_page_load_timeout(60)
    yield browser
    browser.quit()


def bot_text(driver) -> str:
    return driver.execute_script(
        "const m = document.querySelectorAll('#chat [data-testid=\"bot\"]');"
        "return m.length ? m[m.length - 1].innerText : '';") or ""


def ask(driver, question: str, timeout: float) -> tuple[float, float]:
    """Type and send a question; (seconds to the first draft text, seconds to the cited answer)."""
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.CSS_SELECTOR, "#question textarea")
    box.clear()
    box.send_keys(question)
    before = len(driver.find_elements(By.CSS_SELECTOR, '#chat [data-testid="bot"]'))
    started = time.perf_counter()
    driver.find_element(By.CSS_SELECTOR, "#ask").click()
    first = done = None
    while time.perf_counter() - started < timeout:
        bots = len(driver.find_elements(By.CSS_SELECTOR, '#chat [data-testid="bot"]'))
        text = bot_text(driver).strip()
        if first is None and bots > before and text and THINKING not in text:
            first = time.perf_counter() - started
        if driver.find_elements(By.CSS_SELECTOR, "#passages .cite-card") and bots > before \
                and "▍" not in text and THINKING not in text:
            done = time.perf_counter() - started
            break
        time.sleep(0.05)
    assert done is not None, f"no answer within {timeout}s; chat shows {bot_text(driver)!r}"
    return first if first is not None else done, done


def wait_page(driver, url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#question textarea"))


def click_first_marker(driver) -> None:
    """Clicking [1] in the answer flashes passage 1 in the panel; the page does not navigate."""
    from selenium.webdriver.common.by import By

    url, handles = driver.current_url, list(driver.window_handles)
    marker = driver.find_element(By.CSS_SELECTOR, '#chat a.cite-ref[href="#cite-1"]')
    marker.click()
    time.sleep(0.3)
    card = driver.find_element(By.ID, "cite-1")
    assert "flash" in card.get_attribute("class")
    assert driver.current_url == url and driver.window_handles == handles


@pytest.mark.slow
def test_seed_question_real_models(driver, tmp_path):
    port = free_port()
    log = tmp_path / "app.log"
    cmd = [sys.executable, "app.py", "--port", str(port)]
    with start(cmd, server_env(tmp_path), log, port, timeout=600) as proc:
        wait_for_log(log, "models and index ready", proc, timeout=600)  # the warm-up thread
        wait_page(driver, f"http://127.0.0.1:{port}/")
        first, total = ask(driver, SEED_QUESTION, timeout=300)
        from selenium.webdriver.common.by import By

        answer = bot_text(driver)
        passages = driver.find_element(By.ID, "passages")
        cards = passages.find_elements(By.CSS_SELECTOR, ".cite-card")
        assert cards and cards[0].find_elements(By.TAG_NAME, "mark")
        assert "cite-1" in [c.get_attribute("id") for c in cards]
        assert "<a" not in answer and "&lt;" not in answer and "[1]" in answer
        server_timings = driver.find_element(By.ID, "timings").text
        assert "Last answer: retrieve" in server_timings
        time.sleep(0.5)
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "ui-answer.png"))
        click_first_marker(driver)
        print(f"\nbrowser: first token {first:.2f}s, full answer {total:.2f}s\n{server_timings}\n{answer}")
        (ARTIFACTS / "ui-timings.txt").write_text(
            f"question: {SEED_QUESTION}\nfirst token (browser): {first:.2f} s\n"
            f"full answer (browser): {total:.2f} s\nserver side: {server_timings}\nanswer: {answer}\n")
        assert total < 120
        again = ask(driver, "How many hostages were killed when Algerian forces stormed the gas plant?",
                    timeout=300)
        later = driver.find_element(By.ID, "timings").text
        print(f"second question: first token {again[0]:.2f}s, full answer {again[1]:.2f}s\n{later}")
        with open(ARTIFACTS / "ui-timings.txt", "a") as fh:
            fh.write(f"second question: first token {again[0]:.2f} s, full answer {again[1]:.2f} s; "
                     f"server side: {later}\nanswer: {bot_text(driver)}\n")


def test_untrusted_upload_is_shown_not_run(driver, tmp_path):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    port = free_port()
    script = tmp_path / "serve_fake.py"
    script.write_text(FAKE_SERVER.format(repo=str(REPO), index_dir=str(tmp_path / "index"), port=port,
                                         delay=0.0))
    evil = tmp_path / "evil_article.txt"
    evil.write_text(EVIL * 3, encoding="utf-8")
    with start([sys.executable, str(script)], server_env(tmp_path), tmp_path / "app.log", port,
               timeout=120):
        wait_page(driver, f"http://127.0.0.1:{port}/")
        driver.find_element(By.CSS_SELECTOR, "#articles-panel .label-wrap").click()
        WebDriverWait(driver, 30).until(
            lambda d: "2 articles indexed" in d.find_element(By.ID, "articles").text)
        driver.find_element(By.CSS_SELECTOR, "#upload input[type=file]").send_keys(str(evil))
        WebDriverWait(driver, 30).until(lambda d: "evil_article" in d.find_element(By.ID, "upload").text)
        driver.find_element(By.ID, "add").click()
        WebDriverWait(driver, 60).until(
            lambda d: "3 articles indexed" in d.find_element(By.ID, "articles").text)
        ask(driver, "What profits did Evil Corp announce in the quarter?", timeout=60)
        passages = driver.find_element(By.ID, "passages")
        assert "<script>window.pwned = 'script'</script>" in passages.text  # shown as text
        assert "[click me](javascript:window.pwned='link')" in passages.text
        assert not passages.find_elements(By.CSS_SELECTOR, "script, img, b")
        assert not driver.find_elements(By.CSS_SELECTOR, "#chat img, #chat script")
        for link in driver.find_elements(By.CSS_SELECTOR, "#chat a, #passages a"):
            assert not (link.get_attribute("href") or "").startswith("javascript")
        assert driver.execute_script("return window.pwned === undefined")
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # noqa: B018
        click_first_marker(driver)
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "ui-untrusted.png"))
        driver.execute_script("document.getElementById('articles').scrollIntoView()")
        driver.save_screenshot(str(ARTIFACTS / "ui-articles.png"))


def test_stop_and_remove_confirmation(driver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    port = free_port()
    script = tmp_path / "serve_slow.py"
    script.write_text(FAKE_SERVER.format(repo=str(REPO), index_dir=str(tmp_path / "index"), port=port,
                                         delay=0.4))
    with start([sys.executable, str(script)], server_env(tmp_path), tmp_path / "app.log", port,
               timeout=120):
        wait_page(driver, f"http://127.0.0.1:{port}/")
        box = driver.find_element(By.CSS_SELECTOR, "#question textarea")
        box.send_keys("How many hostages have been freed according to the state media?")
        driver.find_element(By.ID, "ask").click()
        WebDriverWait(driver, 30).until(lambda d: "▍" in bot_text(d))
        driver.find_element(By.ID, "stop").click()
        WebDriverWait(driver, 10).until(lambda d: "Stopped" in bot_text(d))
        time.sleep(2)  # the cancelled answer must not come back
        assert "Stopped" in bot_text(driver) and "[1]" not in bot_text(driver)
        assert not driver.find_elements(By.CSS_SELECTOR, "#passages .cite-card")

        driver.find_element(By.CSS_SELECTOR, "#articles-panel .label-wrap").click()
        WebDriverWait(driver, 30).until(
            lambda d: "2 articles indexed" in d.find_element(By.ID, "articles").text)

        def choose_first_article() -> None:
            choice = driver.find_element(By.CSS_SELECTOR, "#remove-choice input")
            choice.click()
            option = '#remove-choice li[data-testid="dropdown-option"]'
            WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, option))
            driver.find_elements(By.CSS_SELECTOR, option)[0].click()
            WebDriverWait(driver, 10).until(lambda d: choice.get_attribute("value"))

        choose_first_article()
        label = driver.find_element(By.CSS_SELECTOR, "#remove-choice input").get_attribute("value")
        assert " …" in label  # untitled seed articles are named by their opening words
        driver.execute_script("window.confirm = () => false;")
        driver.find_element(By.ID, "remove").click()
        WebDriverWait(driver, 30).until(
            lambda d: "Nothing was removed" in d.find_element(By.ID, "index-status").text)
        assert "2 articles indexed" in driver.find_element(By.ID, "articles").text
        driver.execute_script("window.confirm = () => true;")
        driver.find_element(By.ID, "remove").click()
        WebDriverWait(driver, 30).until(
            lambda d: "1 article indexed" in d.find_element(By.ID, "articles").text)
        assert "Removed" in driver.find_element(By.ID, "index-status").text
