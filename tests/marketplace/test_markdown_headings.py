"""Vendor Markdown's headings nest under the page section they appear in: the store's outline
never skips a level (axe's heading-order), whatever levels the vendor wrote."""

from __future__ import annotations

import re

import pytest

from marketplace.markdown import nest_headings, render_markdown


def levels(html: str) -> list[int]:
    return [int(level) for level in re.findall(r"<h([1-6])>", html)]


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("## Features\n\ntext\n\n#### Detail\n\n## More", [3, 4, 3]),  # starts at "##", skips "###"
        ("# Title\n\n## Part\n\n### Point", [3, 4, 5]),
        ("#### Deep first\n\n# Then top", [3, 3]),  # never deeper than one below the section
        ("### A\n\n# B\n\n###### C", [3, 3, 4]),
        ("no heading", []),
    ],
)
def test_headings_start_under_the_section_and_never_skip_a_level(markdown: str, expected: list[int]) -> None:
    html = render_markdown(markdown, under=2)  # the store's listing page: under its <h2> sections
    assert levels(html) == expected
    assert len(re.findall(r"</h[1-6]>", html)) == len(expected)
    assert all(f"<h{n}>" in html and f"</h{n}>" in html for n in expected)


def test_under_an_h3_section_they_start_at_h4() -> None:
    assert levels(render_markdown("# Release 2.0\n\n## Fixed", under=3)) == [4, 5]


def test_without_a_section_the_levels_stay_as_written() -> None:
    """The API's description_html: its clients place the HTML themselves."""
    assert levels(render_markdown("## Features\n\n#### Detail\n\n# Top")) == [2, 4, 1]


def test_the_deepest_level_is_h6() -> None:
    html = nest_headings("<h1>a</h1><h2>b</h2><h3>c</h3><h4>d</h4><h5>e</h5>", under=2)
    assert levels(html) == [3, 4, 5, 6, 6]
    assert html.endswith("<h6>e</h6>")
