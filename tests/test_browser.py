"""The lecture notebooks as a student sees them: JupyterLab 4 in headless Chromium, via Playwright.

nbval proves that every cell runs in a kernel; this module proves that the notebooks run from
JupyterLab's own "Run All Cells" and that the widgets render and respond in a browser. One
JupyterLab server and one browser serve all four notebooks; each notebook is one test:

* the notebook is copied, without outputs, into a tmp folder (JupyterLab's autosave never touches
  the repository) and opened at ``/lab/tree/<name>.ipynb?reset``;
* Run -> Run All Cells from the menu bar; done when the kernel is idle and every code cell has an
  execution count (no ``[*]`` prompt left), read from the notebook model in the page;
* the notebook is saved and read back with nbformat: no ``error`` output, counts 1, 2, 3, ...;
* no traceback rendered in the page; notebook 03 shows the live dashboard and the rung books,
  notebook 04 the explorer, whose eta slider is moved with the keyboard and must redraw it.

Screenshots go to ``test-output/browser/``: ``<notebook>.png`` (the whole notebook) and the two
in the README, ``rung_books.png`` (03's live dashboard) and ``explorer.png`` (04, after the move).

Chromium: ``$ASHA_LESSON_CHROMIUM``, else ``/usr/bin/chromium``, else ``chromium`` on the PATH
(``make browser`` installs Debian's). Playwright's own browser download is never used.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from asha_lesson import rung_levels

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
OUTPUT = REPO / "test-output" / "browser"

RUN_TIMEOUT = 240.0  # seconds for one notebook's Run All in quick mode
REDRAW_TIMEOUT = 10.0  # seconds for the explorer to redraw after a slider moves
VIEWPORT = {"width": 1400, "height": 1000}
MAX_SHOT_HEIGHT = 16000  # px; Chromium will not capture much taller pages
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

# JupyterLab settings for a quiet, deterministic page: every cell attached to the DOM (the
# default windowing leaves off-screen cells out, and with them their prompts and widgets), no
# blank screen below the last cell, no news or update toasts over the notebook.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none", "scrollPastEnd": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
}


# -- finding the browser -------------------------------------------------------------------------

def _chromium() -> tuple[str | None, str]:
    """(path, why not) of the Chromium to drive."""
    configured = os.environ.get("ASHA_LESSON_CHROMIUM")
    if configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return configured, ""
        return None, f"ASHA_LESSON_CHROMIUM={configured!r} is not an executable file"
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate, ""
    return None, ("no Chromium: neither $ASHA_LESSON_CHROMIUM, /usr/bin/chromium nor "
                  "'chromium' on the PATH (install it with `make browser`)")


@pytest.fixture(scope="module")
def chromium_path() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as error:
        pytest.skip(f"browser tests need the playwright package ({error})")
    path, why = _chromium()
    if path is None:
        pytest.skip(f"browser tests skipped: {why}")
    return path


# -- the JupyterLab server -----------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _process_start(pid: int) -> str | None:
    """The start time of ``pid`` (field 22 of /proc/<pid>/stat), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _descendants(root: int) -> list[tuple[int, str]]:
    """(pid, start time) of every process below ``root``. The kernels are among them: they are
    the server's children but sit in sessions of their own, so killing the server's process
    group alone would leave them running."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            start = _process_start(pid)
            if start is not None:
                found.append((pid, start))
                todo.append(pid)
    return found


def _kill(pid: int, start: str) -> None:
    if _process_start(pid) == start:  # still the same process
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Lab:
    """A JupyterLab server on a tmp folder, for the browser to open notebooks from."""

    def __init__(self, root: Path, log_path: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        settings = root / ".lab" / "settings"
        for name, values in LAB_SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser",
            f"--port={self.port}", "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}",
            f"--LabApp.workspaces_dir={root / '.lab' / 'workspaces'}",
            f"--LabApp.user_settings_dir={settings}",
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: the notebook model
            "--ServerApp.terminals_enabled=False",
        ]
        if os.geteuid() == 0:
            command.append("--allow-root")
        env = dict(os.environ, ASHA_LESSON_QUICK="1",
                   ASHA_LESSON_HOME=str(root / "experiments"),
                   JUPYTER_CONFIG_DIR=str(root / ".jupyter"),  # no user config
                   JUPYTER_RUNTIME_DIR=str(root / ".jupyter" / "runtime"),
                   IPYTHONDIR=str(root / ".ipython"))  # no user startup files
        env.pop("MPLBACKEND", None)  # conftest sets Agg for the tests; notebooks plot inline
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(command, cwd=root, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}token={self.token}"

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.process.returncode}:\n"
                                   f"{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url("/api/status"), timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"JupyterLab did not answer in {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Shut the server down with its kernels; kill whatever is left, by pid."""
        pid = self.process.pid
        leftovers = _descendants(pid)
        if self.process.poll() is None:
            request = urllib.request.Request(self.url("/api/shutdown"), method="POST")
            try:
                urllib.request.urlopen(request, timeout=10).close()
                self.process.wait(timeout=20)
            except (urllib.error.URLError, OSError, subprocess.TimeoutExpired):
                pass
        if self.process.poll() is None:
            try:
                os.killpg(pid, signal.SIGTERM)
                self.process.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        if self.process.poll() is None:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)
        for child, start in leftovers:  # kernels, in sessions of their own
            _kill(child, start)
        self._log.close()


@pytest.fixture(scope="module")
def lab(chromium_path, tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    for source in NOTEBOOKS:  # without outputs: a cell has a count only once it ran here
        notebook = nbformat.read(source, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(notebook, root / source.name)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    server = Lab(root, OUTPUT / "jupyterlab.log")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


# -- the browser ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser_context(chromium_path, lab):
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = None
    try:
        # A non-persistent launch: Playwright gives Chromium a fresh temporary profile.
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True,
                                             args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=VIEWPORT)
        yield context
    finally:
        if browser is not None:
            browser.close()
        playwright.stop()


# -- talking to JupyterLab in the page -----------------------------------------------------------

# The notebook panel of a file, from window.jupyterapp (exposed by the server flag above).
_PANEL = """
const findPanel = (path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return null;
  for (const w of Array.from(app.shell.widgets('main'))) {
    if (w.context && w.context.path === path && w.content && w.content.model) return w;
  }
  return null;
};
"""

_KERNEL_READY = _PANEL + """
async (path) => {
  const panel = findPanel(path);
  if (!panel) return 'no notebook panel';
  await panel.context.ready;
  await panel.sessionContext.ready;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return kernel ? kernel.status : 'no kernel';
}
"""

# Where Run All stands: the kernel's status, the code cells still without a count or showing
# [*], and any error output, all from the notebook model (plus the prompts in the DOM).
_RUN_STATE = _PANEL + """
(path) => {
  const panel = findPanel(path);
  if (!panel) return {status: 'no notebook panel', pending: [], errors: [], code: 0};
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const state = {status: kernel ? kernel.status : 'no kernel', pending: [], errors: [], code: 0};
  const cells = panel.content.model.cells;
  const widgets = panel.content.widgets;
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== 'code') continue;
    state.code += 1;
    const prompt = widgets[i] && widgets[i].node.querySelector('.jp-InputPrompt');
    const star = prompt ? prompt.textContent.includes('*') : false;
    if (cell.executionCount === null || cell.executionCount === undefined || star) {
      state.pending.push(i);
    }
    for (const output of cell.outputs.toJSON()) {
      if (output.output_type === 'error') {
        state.errors.push({cell: i, ename: output.ename, evalue: output.evalue,
                           traceback: (output.traceback || []).join('\\n')});
      }
    }
  }
  return state;
}
"""

_SAVE = _PANEL + """
async (path) => {
  const panel = findPanel(path);
  await panel.context.save();
  return panel.context.model.dirty;
}
"""

_SHUTDOWN_KERNEL = _PANEL + """
async (path) => {
  const panel = findPanel(path);
  if (panel && panel.sessionContext.session) await panel.sessionContext.shutdown();
}
"""

# Scroll the notebook to its top; answer how much taller than its window its content is.
_TO_TOP = """
() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return 0;
  let extra = 0;
  for (const el of panel.querySelectorAll('.jp-WindowedPanel-outer, .jp-Notebook')) {
    el.scrollTop = 0;
    extra = Math.max(extra, el.scrollHeight - el.clientHeight);
  }
  return extra;
}
"""

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def _open_notebook(page, lab: Lab, name: str) -> None:
    page.goto(lab.url(f"/lab/tree/{name}?reset"), wait_until="domcontentloaded",
              timeout=90_000)
    page.wait_for_function(_PANEL + "(path) => findPanel(path) !== null", arg=name,
                           timeout=90_000)
    deadline = time.monotonic() + 90
    status = page.evaluate(_KERNEL_READY, name)
    while status != "idle" and time.monotonic() < deadline:
        time.sleep(0.5)
        status = page.evaluate(_KERNEL_READY, name)
    assert status == "idle", f"{name}: the kernel never became idle (status {status!r})"
    # The whole width for the notebook: close the file browser and the right sidebar.
    page.evaluate("() => { window.jupyterapp.shell.collapseLeft();"
                  " window.jupyterapp.shell.collapseRight(); }")


def _run_all_cells(page, name: str) -> dict:
    """Run -> Run All Cells, as a student would; wait until every code cell has run."""
    page.locator("#jp-menu-panel .lm-MenuBar-item", has_text=re.compile(r"^\s*Run\s*$")).click()
    label = page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$"))
    page.locator(".lm-Menu-item", has=label).click()
    deadline = time.monotonic() + RUN_TIMEOUT
    settled = 0  # polls in a row that found the run complete
    while True:
        state = page.evaluate(_RUN_STATE, name)
        if state["errors"]:
            first = state["errors"][0]
            raise AssertionError(
                f"{name}: cell {first['cell']} raised {first['ename']}: {first['evalue']}\n"
                f"{_strip_ansi(first['traceback'])}")
        if state["status"] in ("dead", "restarting", "autorestarting", "no kernel"):
            raise AssertionError(f"{name}: the kernel went {state['status']!r} during Run All")
        done = state["status"] == "idle" and not state["pending"] and state["code"] > 0
        settled = settled + 1 if done else 0
        if settled >= 2:  # idle twice, a second apart: not the gap between two cells
            return state
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{name}: Run All not finished after {RUN_TIMEOUT:.0f} s: code cells "
                f"{state['pending']} have not run (kernel {state['status']!r})")
        time.sleep(1.0)


def _check_saved(page, lab: Lab, name: str) -> None:
    """Save from the page, read the file back: every code cell ran, in order, without error."""
    dirty = page.evaluate(_SAVE, name)
    assert dirty is False, f"{name}: still marked unsaved after saving"
    notebook = nbformat.read(lab.root / name, as_version=4)
    code = [(i, cell) for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    errors = [f"cell {i}: {output.get('ename')}: {output.get('evalue')}"
              for i, cell in code for output in cell.outputs if output.output_type == "error"]
    assert not errors, f"{name}: error outputs in the saved notebook: {errors}"
    counts = [cell.execution_count for _, cell in code]
    assert counts == list(range(1, len(code) + 1)), (
        f"{name}: execution counts {counts}, expected 1..{len(code)} (every code cell, once, "
        "in order)")


def _check_page_outputs(page, name: str) -> None:
    """Nothing in the rendered outputs a student should not see: a traceback (the notebooks log
    INFO lines to stderr, so stderr alone is fine) or a widget that failed to render."""
    stderr = page.locator(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    tracebacks = [text for text in stderr.all_inner_texts() if "Traceback" in text]
    assert not tracebacks, f"{name}: a traceback is shown in the page:\n{tracebacks[0][:2000]}"
    outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
    broken = [text for text in outputs if "Error displaying widget" in text]
    assert not broken, f"{name}: a widget failed to render: {broken[0][:500]}"


def _full_height(page):
    """Context manager: the viewport as tall as the notebook, for whole-notebook screenshots
    (JupyterLab scrolls inside the page, so a plain full-page shot shows one screen only)."""
    class _Tall:
        def __enter__(self):
            extra = page.evaluate(_TO_TOP)
            height = min(MAX_SHOT_HEIGHT, VIEWPORT["height"] + int(extra))
            page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
            page.wait_for_timeout(500)  # relayout, images included
            page.evaluate(_TO_TOP)
            return self

        def __exit__(self, *exc):
            page.set_viewport_size(VIEWPORT)
            return False
    return _Tall()


def _screenshot_notebook(page, stem: str) -> None:
    page.keyboard.press("Escape")  # command mode: no blinking cursor in the shot
    with _full_height(page):
        page.screenshot(path=OUTPUT / f"{stem}.png")


# -- the widget checks ---------------------------------------------------------------------------

def _check_rung_books(page, name: str) -> None:
    """03: the live dashboard drew the run to its end, with the rung books in it."""
    dashboard = page.locator(".asha-dashboard")
    assert dashboard.count() == 1, f"{name}: {dashboard.count()} live dashboards, expected 1"
    dashboard.scroll_into_view_if_needed()
    status = dashboard.locator(".asha-status")
    assert "ended" in status.inner_text(), (
        f"{name}: the dashboard does not show the run as ended: {status.inner_text()!r}")
    books = dashboard.locator(".asha-rung-books")
    assert books.is_visible(), f"{name}: the dashboard's rung books are not visible"
    columns = books.locator(".asha-rb-col")
    assert columns.count() >= 1, f"{name}: the rung books have no rung column"
    levels = [int(text.split()[-1])
              for text in books.locator(".asha-rb-colhead .lvl").all_inner_texts()]
    assert levels == rung_levels(2, 10, 2), f"{name}: rung columns {levels}"
    for image in dashboard.locator("img").all():
        width = image.evaluate("img => img.naturalWidth")
        assert width > 0, f"{name}: a dashboard figure is empty"
    all_books = page.locator(".asha-rung-books")
    for i in range(all_books.count()):  # the two replays too
        assert all_books.nth(i).locator(".asha-rb-col").count() >= 1, (
            f"{name}: rung-books widget {i} has no rung column")
    books.scroll_into_view_if_needed()
    books.screenshot(path=OUTPUT / "rung_books.png")


def _readout(slider) -> int:
    return int(slider.locator(".widget-readout").inner_text().strip())


def _shown_levels(explorer) -> list[int]:
    texts = explorer.locator(".asha-rung-books .asha-rb-colhead .lvl").all_inner_texts()
    return [int(text.split()[-1]) for text in texts]


def _check_explorer(page, name: str) -> None:
    """04: the explorer with its sliders; moving eta re-runs the comparison and redraws."""
    explorer = page.locator(".asha-explorer")
    assert explorer.count() == 1, f"{name}: {explorer.count()} explorers, expected 1"
    explorer.scroll_into_view_if_needed()
    assert explorer.is_visible(), f"{name}: the explorer is not visible"
    sliders = {css: explorer.locator(f".asha-explorer-{css}")
               for css in ("eta", "rmin", "rmax", "workers", "straggler", "seed")}
    for css, slider in sliders.items():
        assert slider.is_visible(), f"{name}: the explorer's {css} slider is not visible"
    eta, r_min, r_max = (_readout(sliders[css]) for css in ("eta", "rmin", "rmax"))
    assert _shown_levels(explorer) == rung_levels(r_min, r_max, eta), (
        f"{name}: the books show rungs {_shown_levels(explorer)} for eta={eta}")
    readout = explorer.locator(".asha-explorer-readout")
    books = explorer.locator(".asha-rung-books")
    before = (readout.inner_text(), books.inner_html())

    # noUiSlider (ipywidgets 8): an arrow key on the focused handle moves one step and fires
    # "change", which continuous_update=False sliders send to the kernel.
    handle = sliders["eta"].locator(".noUi-handle")
    low = int(float(handle.get_attribute("aria-valuemin")))
    key, new_eta = ("ArrowLeft", eta - 1) if eta > low else ("ArrowRight", eta + 1)
    handle.focus()
    handle.press(key)
    deadline = time.monotonic() + REDRAW_TIMEOUT
    while (readout.inner_text(), books.inner_html()) == before or \
            _shown_levels(explorer) != rung_levels(r_min, r_max, new_eta):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{name}: {key} on the eta slider (eta {eta} -> {new_eta}, slider shows "
                f"{_readout(sliders['eta'])}) did not redraw the explorer in "
                f"{REDRAW_TIMEOUT:.0f} s; books show rungs {_shown_levels(explorer)}")
        time.sleep(0.25)
    assert _readout(sliders["eta"]) == new_eta
    assert readout.inner_text() != before[0], f"{name}: the readout did not change"
    assert f"η = {new_eta}" in books.inner_text(), f"{name}: the books' title kept the old eta"
    handle.blur()  # the moved handle looks like the others in the screenshot
    page.mouse.move(0, 0)  # no hover highlight either
    with _full_height(page):
        explorer.screenshot(path=OUTPUT / "explorer.png")


WIDGET_CHECKS = {"03_asha.ipynb": _check_rung_books, "04_asha_at_scale.ipynb": _check_explorer}


def test_widget_checks_name_real_notebooks():
    missing = set(WIDGET_CHECKS) - {path.name for path in NOTEBOOKS}
    assert not missing, f"browser widget checks for notebooks that do not exist: {missing}"


# -- the test ------------------------------------------------------------------------------------

@pytest.mark.browser
@pytest.mark.parametrize("name", [path.name for path in NOTEBOOKS])
def test_notebook_runs_in_jupyterlab(name, lab, browser_context):
    page = browser_context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    started = time.monotonic()
    try:
        _open_notebook(page, lab, name)
        _run_all_cells(page, name)
        run_seconds = time.monotonic() - started
        _check_saved(page, lab, name)
        _check_page_outputs(page, name)
        check = WIDGET_CHECKS.get(name)
        if check is not None:
            check(page, name)
        print(f"{name}: opened and ran in {run_seconds:.0f} s, "
              f"checked in {time.monotonic() - started - run_seconds:.0f} s")
        assert not page_errors, f"{name}: JavaScript errors in the page: {page_errors[:3]}"
    finally:
        try:  # the shot also when something failed: it shows what the student would see
            _screenshot_notebook(page, Path(name).stem)
        except Exception as error:  # noqa: BLE001 (a failed shot must not hide the failure)
            print(f"{name}: no screenshot: {error}")
        try:
            page.evaluate(_SHUTDOWN_KERNEL, name)  # frees the CPU for the next notebook
        except Exception as error:  # noqa: BLE001
            print(f"{name}: kernel not shut down from the page ({error}); the server will")
        page.close()
