"""The portal's words: both languages have every key, and every key a page asks for by
name exists (a missing one would show as its key)."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page

from tests.portal.helpers import Portal

JS = Path(__file__).resolve().parents[2] / "api" / "portal" / "static" / "js"


def test_both_languages_have_the_same_keys(page: Page, portal: Portal) -> None:
    page.goto(portal.url + "/portal/")
    zh, en = page.evaluate(
        """async () => {
            const words = (await import("/portal/js/i18n.js")).WORDS;
            return [Object.keys(words.zh).sort(), Object.keys(words.en).sort()];
        }"""
    )
    assert sorted(set(zh) ^ set(en)) == []
    assert len(zh) > 200


def test_every_key_asked_for_by_name_exists() -> None:
    words = (JS / "i18n.js").read_text()
    defined = set(re.findall(r'^\s+"([a-zA-Z_.]+)":', words, flags=re.MULTILINE))
    asked = set()
    for script in (s for s in JS.rglob("*.js") if s.name != "i18n.js"):
        asked |= set(re.findall(r'\bt\("([a-z_.]+)"', script.read_text()))
    assert asked - defined == set()


def test_every_row_problem_of_a_payables_file_has_words() -> None:
    """The preview's per-row codes (api/services/payables.py) are shown in the page's
    language, not in the API's English."""
    source = (JS.parents[3] / "api" / "services" / "payables.py").read_text()
    codes = set(re.findall(r'refuse\(\s*"[a-z_]+",\s*"([a-z_]+)"', source))
    assert len(codes) >= 8
    words = (JS / "i18n.js").read_text()
    assert {c for c in codes if f'"rowerror.{c}"' not in words} == set()
