"""Evidence files in the browser (static/js/evidence.js): one or many files, picked or dropped,
each sent in a request of its own with a progress bar, its SHA-256 once saved or why it was not,
the evidence list redrawn without a reload; downloads are attachments that never render. Without
JavaScript the plain form still takes several files at once.

Uploads are throttled (DevTools network emulation) so a bar can be seen part way. Screenshots
land in tests/e2e/screenshots/evidence-*.png.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts.models import User
from incidents import services
from incidents.models import Evidence, Incident

from .conftest import SCREENSHOTS

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"
# The page polls every 4 s: a change shows within one interval plus a request.
WITHIN_A_POLL = 6_000
# A throttled upload of a few MB takes a few seconds.
UPLOADED = 20_000
UPLOAD_BYTES_PER_SECOND = 1_500_000

# A 3 MB binary (every byte value, not compressible into one run) and a page that would run a
# script if the browser ever rendered it.
MEMDUMP = bytes(range(256)) * (3 * 1024 * 1024 // 256)
LANDING = b"<!doctype html><title>Your mailbox is full</title><script>alert(1)</script>\n"

# Counts the uploads in flight (POSTs to .../evidence/), and the most at once.
COUNT_UPLOADS = """
(() => {
  window.__uploads = { now: 0, most: 0, sent: 0 };
  const open = XMLHttpRequest.prototype.open;
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (method, url) {
    this.__isUpload = method === "POST" && /\\/evidence\\/$/.test(url);
    return open.apply(this, arguments);
  };
  XMLHttpRequest.prototype.send = function () {
    if (this.__isUpload) {
      const counts = window.__uploads;
      counts.sent++;
      counts.most = Math.max(counts.most, ++counts.now);
      // On DONE, which comes before the load/error/abort events that start the next upload.
      let open = true;
      this.addEventListener("readystatechange", () => {
        if (this.readyState === 4 && open) { open = false; counts.now--; }
      });
    }
    return send.apply(this, arguments);
  };
})();
"""


# The incident page's poll, without its 4 s timer: only a ``live:poll`` event (what the uploader
# sends when its files are in) makes it ask for changes.
POLL_ON_REQUEST_ONLY = """
() => {
  const poll = document.getElementById("live-poll");
  const quiet = poll.cloneNode(false);
  quiet.setAttribute("hx-trigger", "live:poll");
  poll.replaceWith(quiet);
  htmx.process(quiet);
}
"""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"evidence-{name}.png"), full_page=True)


def sign_in(page, user: User) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def throttle_uploads(page) -> None:
    """Slow every request body down (DevTools' network emulation), so progress can be watched."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": UPLOAD_BYTES_PER_SECOND},
    )


def upload_row(page, name: str):
    return page.locator(".upload-list li.upload", has=page.locator(".upload-name", has_text=re.compile(f"^{name}$")))


def expect_saved(page, name: str, data: bytes) -> None:
    row = upload_row(page, name)
    expect(row.locator(".upload-state")).to_have_text("Saved", timeout=UPLOADED)
    expect(row.locator(".upload-result")).to_have_text(f"SHA-256 {sha256(data)[:12]}…")
    expect(row.get_by_role("progressbar", name=f"Upload of {name}")).to_have_attribute("value", "100")


def open_upload_form(page) -> None:
    page.locator("#evidence-panel summary", has_text="Upload files").click()


@pytest.fixture
def member(lead: User, responder: User, incident: Incident) -> User:
    services.member_add(incident=incident, user=responder, actor=lead)
    return responder


def test_a_responder_uploads_two_files_with_a_bar_each_then_downloads_them(
    page, member: User, incident: Incident
) -> None:
    page.add_init_script(COUNT_UPLOADS)
    posts: list[dict[str, str]] = []
    page.on("request", lambda r: posts.append(r.headers) if r.method == "POST" and "/evidence/" in r.url else None)
    sign_in(page, member)
    page.goto(incident.get_absolute_url())
    page.evaluate("window.__samePage = true")
    page.evaluate(POLL_ON_REQUEST_ONLY)
    expect(page.locator("#evidence-list .evidence-item")).to_have_count(0)
    throttle_uploads(page)

    open_upload_form(page)
    zone = page.get_by_role("region", name="Files to upload: drop them here or choose them")
    zone.get_by_label("Files", exact=True).set_input_files(
        [
            {"name": "memdump.bin", "mimeType": "application/octet-stream", "buffer": MEMDUMP},
            {"name": "landing-page.html", "mimeType": "text/html", "buffer": LANDING},
        ]
    )
    expect(zone.locator(".dropzone-chosen")).to_have_text(
        "2 files chosen: memdump.bin (3.0\u00a0MB), landing-page.html (76 bytes)"
    )
    page.locator("form.evidence-upload").get_by_label("Source system").fill("WS-FIN-07")
    page.get_by_role("button", name="Upload", exact=True).click()

    # One row per file, each with its own bar; the large one is seen part way.
    expect(page.locator(".upload-list li.upload")).to_have_count(2)
    big_bar = page.get_by_role("progressbar", name="Upload of memdump.bin")
    expect(page.get_by_role("progressbar", name="Upload of landing-page.html")).to_be_visible()
    page.wait_for_function(
        "() => { const bar = document.querySelector('progress[aria-label=\"Upload of memdump.bin\"]');"
        " return bar && bar.value > 0 && bar.value < 99; }",
        timeout=UPLOADED,
    )
    expect(upload_row(page, "memdump.bin").locator(".upload-state")).to_have_text(re.compile(r"^\d{1,2}%$"))
    expect(upload_row(page, "memdump.bin").locator(".upload-size")).to_have_text("3.0\u00a0MB")
    shot(page, "01-uploading")

    expect_saved(page, "landing-page.html", LANDING)
    expect_saved(page, "memdump.bin", MEMDUMP)
    expect(big_bar).to_have_attribute("value", "100")
    expect(page.get_by_role("status").filter(has_text="files saved")).to_have_text("2 files saved.")
    # Two requests, one file each, as JSON (not the htmx form post), the token in each.
    assert len(posts) == 2
    assert all(h["accept"] == "application/json" and "hx-request" not in h for h in posts)
    assert all(h.get("x-csrftoken") for h in posts)
    assert page.evaluate("window.__uploads") == {"now": 0, "most": 2, "sent": 2}

    # The list (and the activity panel) show both without a reload: the uploader had the page's
    # live poll run (its timer is off in this test).
    items = page.locator("#evidence-list .evidence-item")
    expect(items).to_have_count(2)
    assert sorted(items.locator(".evidence-name").all_inner_texts()) == ["landing-page.html", "memdump.bin"]
    expect(page.locator("#evidence-count")).to_have_text("2")
    expect(page.locator("#case-activity")).to_contain_text("added the evidence “memdump.bin”")
    expect(page.locator("#case-activity")).to_contain_text("added the evidence “landing-page.html”")
    assert page.evaluate("window.__samePage") is True, "the page reloaded"
    stored = dict(Evidence.objects.filter(incident=incident).values_list("name", "sha256"))
    assert stored == {"memdump.bin": sha256(MEMDUMP), "landing-page.html": sha256(LANDING)}
    assert set(Evidence.objects.filter(incident=incident).values_list("source_system", flat=True)) == {"WS-FIN-07"}
    shot(page, "02-uploaded")

    # Downloads: the bytes that were sent, under their own name.
    with page.expect_download() as caught:
        page.locator("#evidence-list").get_by_role("link", name="memdump.bin").click()
    download = caught.value
    assert download.suggested_filename == "memdump.bin"
    assert sha256(Path(download.path()).read_bytes()) == sha256(MEMDUMP)

    # The HTML page is an attachment: even as a plain link (no download attribute) it is saved,
    # never shown, and its script never runs.
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    link = page.locator("#evidence-list").get_by_role("link", name="landing-page.html")
    link.evaluate("a => a.removeAttribute('download')")
    with page.expect_download() as caught:
        link.click()
    download = caught.value
    assert download.suggested_filename == "landing-page.html"
    assert sha256(Path(download.path()).read_bytes()) == sha256(LANDING)
    page.wait_for_timeout(300)
    assert page.url.endswith(incident.get_absolute_url())
    assert dialogs == []
    answer = page.request.get(link.get_attribute("href"))
    assert answer.headers["content-disposition"].startswith("attachment")
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_dropped_files_go_two_at_a_time_and_survive_a_redraw_of_the_panel(
    page, member: User, incident: Incident
) -> None:
    page.add_init_script(COUNT_UPLOADS)
    sign_in(page, member)
    page.goto(incident.get_absolute_url())
    page.evaluate("window.__samePage = true")
    throttle_uploads(page)
    upload_form = page.locator("form.evidence-upload")
    expect(upload_form).to_be_hidden()  # inside the closed "Upload files"

    # Dragging files over the panel opens the form and lights up its drop zone.
    page.evaluate(
        """() => {
          const data = new DataTransfer();
          data.items.add(new File(["x"], "probe.txt"));
          const heading = document.querySelector("#evidence-panel h2");
          heading.dispatchEvent(new DragEvent("dragover", { bubbles: true, cancelable: true, dataTransfer: data }));
        }"""
    )
    zone = page.get_by_role("region", name="Files to upload: drop them here or choose them")
    expect(zone).to_be_visible()
    expect(zone).to_have_class(re.compile(r"\bis-dragover\b"))
    shot(page, "03-dragover")

    # Three files dropped (built in the page: 2 MB of i % 251, and two small logs).
    big = bytes(i % 251 for i in range(2 * 1024 * 1024))
    auth = b"Failed password for root from 203.0.113.77 port 52144 ssh2\n"
    mail = "Received: from mx.example.test (203.0.113.9)\nSubject: Überweisung\n".encode()
    page.evaluate(
        """([auth, mail]) => {
          const big = new Uint8Array(2 * 1024 * 1024);
          for (let i = 0; i < big.length; i++) big[i] = i % 251;
          const data = new DataTransfer();
          data.items.add(new File([big], "disk-image.dd", { type: "application/octet-stream" }));
          data.items.add(new File([auth], "auth.log"));  // strings are sent as UTF-8
          data.items.add(new File([mail], "headers.eml"));
          const zone = document.querySelector(".dropzone");
          zone.dispatchEvent(new DragEvent("dragover", { bubbles: true, cancelable: true, dataTransfer: data }));
          zone.dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: data }));
        }""",
        [auth.decode(), mail.decode()],
    )
    expect(zone).not_to_have_class(re.compile(r"\bis-dragover\b"))
    expect(zone.locator(".dropzone-chosen")).to_have_text(
        "3 files chosen: disk-image.dd (2.0\u00a0MB), auth.log (59 bytes), headers.eml (67 bytes)"
    )
    # Dropping only chooses them: nothing is sent before Upload (the form's flags come first).
    expect(page.locator(".upload-list li")).to_have_count(0)
    assert page.evaluate("window.__uploads.sent") == 0
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator(".upload-list li.upload")).to_have_count(3)

    # While the large file is still on its way, a text excerpt redraws the whole panel (htmx).
    expect(upload_row(page, "disk-image.dd").locator(".upload-state")).to_have_text(
        re.compile(r"^\d{1,2}%$"), timeout=UPLOADED
    )
    page.locator("#evidence-panel summary", has_text="Add a text excerpt").click()
    text_form = page.locator("form.evidence-text")
    text_form.get_by_label("Title").fill("Phishing mail headers")
    text_form.get_by_label("Excerpt").fill("Return-Path: <billing@examp1e.test>")
    with page.expect_response(lambda r: r.url.endswith("/evidence/text/") and r.request.method == "POST"):
        page.get_by_role("button", name="Add excerpt").click()
    expect(page.locator("#evidence-panel .message.success")).to_have_text("Added the excerpt “Phishing mail headers”.")
    assert page.evaluate("window.__uploads.now") > 0, "the upload ended before the redraw: nothing was tested"
    # The rows moved into the new form, and go on.
    expect(page.locator("form.evidence-upload .upload-list li.upload")).to_have_count(3)
    expect_saved(page, "auth.log", auth)
    expect_saved(page, "headers.eml", mail)
    expect_saved(page, "disk-image.dd", big)
    assert page.evaluate("window.__uploads") == {"now": 0, "most": 2, "sent": 3}

    items = page.locator("#evidence-list .evidence-item")
    expect(items).to_have_count(4, timeout=WITHIN_A_POLL)
    assert page.evaluate("window.__samePage") is True, "the page reloaded"
    assert dict(Evidence.objects.filter(incident=incident, kind="file").values_list("name", "sha256")) == {
        "disk-image.dd": sha256(big),
        "auth.log": sha256(auth),
        "headers.eml": sha256(mail),
    }
    shot(page, "04-dropped")


def test_each_file_says_why_it_was_not_saved_and_the_others_arrive(
    page, settings, member: User, incident: Incident
) -> None:
    settings.EVIDENCE_MAX_BYTES = 1024 * 1024
    sign_in(page, member)
    page.goto(incident.get_absolute_url())
    page.evaluate("window.__samePage = true")
    # The first request carrying flaky.log never reaches the server (a dropped connection).
    dropped: list[str] = []

    def flaky(route) -> None:
        if b'filename="flaky.log"' in (route.request.post_data_buffer or b"") and not dropped:
            dropped.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/evidence/", flaky)
    open_upload_form(page)
    too_big = b"\0" * (1024 * 1024 + 1)
    ok = b"ok\n"
    page.locator("form.evidence-upload").get_by_label("Files", exact=True).set_input_files(
        [
            {"name": "too-big.bin", "mimeType": "application/octet-stream", "buffer": too_big},
            {"name": "empty.txt", "mimeType": "text/plain", "buffer": b""},
            {"name": "flaky.log", "mimeType": "text/plain", "buffer": b"flaky\n"},
            {"name": "ok.txt", "mimeType": "text/plain", "buffer": ok},
        ]
    )
    page.get_by_role("button", name="Upload", exact=True).click()

    big_row = upload_row(page, "too-big.bin")
    expect(big_row.locator(".upload-state")).to_have_text("Not saved")
    expect(big_row.locator(".upload-result")).to_have_text(
        "Not sent: it is larger than the 1.0\u00a0MB limit (1,048,576 bytes)."
    )
    expect(big_row.get_by_role("button")).to_be_hidden()
    empty_row = upload_row(page, "empty.txt")
    expect(empty_row.locator(".upload-result")).to_have_text("The submitted file is empty.")
    flaky_row = upload_row(page, "flaky.log")
    expect(flaky_row.locator(".upload-result")).to_have_text(
        "Not saved: Breachline could not be reached (the connection failed)."
    )
    expect_saved(page, "ok.txt", ok)
    expect(page.get_by_role("status").filter(has_text="saved")).to_have_text("1 file saved, 3 not saved.")
    expect(page.locator("#evidence-list .evidence-item")).to_have_count(1, timeout=WITHIN_A_POLL)
    shot(page, "05-errors")

    # Retry sends it again (the connection is back).
    flaky_row.get_by_role("button", name="Retry flaky.log").click()
    expect_saved(page, "flaky.log", b"flaky\n")
    expect(page.locator("#evidence-list .evidence-item")).to_have_count(2, timeout=WITHIN_A_POLL)

    # A page that does not know the limit sends the file, and shows the server's 413.
    page.locator("form.evidence-upload").evaluate("form => form.removeAttribute('data-max-bytes')")
    page.locator("form.evidence-upload").get_by_label("Files", exact=True).set_input_files(
        [{"name": "too-big.bin", "mimeType": "application/octet-stream", "buffer": too_big}]
    )
    with page.expect_response(lambda r: r.url.endswith("/evidence/") and r.request.method == "POST") as answer:
        page.get_by_role("button", name="Upload", exact=True).click()
    assert answer.value.status == 413
    expect(upload_row(page, "too-big.bin").locator(".upload-result")).to_have_text(
        "“too-big.bin” is larger than the 1.0\u00a0MB limit (1,048,576 bytes): nothing was saved."
    )
    expect(page.get_by_role("status").filter(has_text="not saved")).to_have_text("1 file not saved.")
    assert sorted(Evidence.objects.filter(incident=incident).values_list("name", flat=True)) == ["flaky.log", "ok.txt"]
    assert page.evaluate("window.__samePage") is True, "the page reloaded"
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator("form.evidence-upload").screenshot(path=str(SCREENSHOTS / "evidence-06-errors-phone.png"))


def test_without_javascript_the_plain_form_takes_several_files(browser, live_server, member, incident) -> None:
    context = browser.new_context(java_script_enabled=False, base_url=live_server.url)
    try:
        page = context.new_page()
        sign_in(page, member)
        page.goto(incident.get_absolute_url())
        expect(page.locator(".dropzone")).to_have_count(0)
        open_upload_form(page)
        page.locator("form.evidence-upload").get_by_label("Files", exact=True).set_input_files(
            [
                {"name": "a.log", "mimeType": "text/plain", "buffer": b"alpha\n"},
                {"name": "b.log", "mimeType": "text/plain", "buffer": b"bravo\n"},
            ]
        )
        page.get_by_role("button", name="Upload", exact=True).click()
        expect(page.locator(".messages")).to_have_text("Added 2 evidence files.")
        expect(page.locator("#evidence-list .evidence-name")).to_have_text(["a.log", "b.log"])
    finally:
        context.close()


def test_files_chosen_before_the_panel_is_redrawn_stay_chosen(page, member: User, incident: Incident) -> None:
    sign_in(page, member)
    page.goto(incident.get_absolute_url())
    open_upload_form(page)
    notes = b"Analyst notes: the implant beacons every 300 s.\n"
    page.locator("form.evidence-upload").get_by_label("Files", exact=True).set_input_files(
        [{"name": "notes.txt", "mimeType": "text/plain", "buffer": notes}]
    )
    # Another write in the panel (a text excerpt) redraws it, upload form included.
    page.locator("#evidence-panel summary", has_text="Add a text excerpt").click()
    text_form = page.locator("form.evidence-text")
    text_form.get_by_label("Title").fill("Beacon interval")
    text_form.get_by_label("Excerpt").fill("300 s")
    with page.expect_response(lambda r: r.url.endswith("/evidence/text/") and r.request.method == "POST"):
        text_form.get_by_role("button", name="Add excerpt").click()
    expect(page.locator("#evidence-panel .message.success")).to_have_text("Added the excerpt “Beacon interval”.")
    expect(page.locator("form.evidence-upload .dropzone-chosen")).to_have_text("1 file chosen: notes.txt (48 bytes)")
    page.get_by_role("button", name="Upload", exact=True).click()
    expect_saved(page, "notes.txt", notes)
    expect(page.locator("#evidence-list .evidence-item")).to_have_count(2)
