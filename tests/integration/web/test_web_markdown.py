"""Model output is never markup: the Markdown renderer against injection vectors (run in
the browser, where a live handler would fire), and an injected answer through the chat."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import Platform
from tests.integration.web.browser import GatedLLM, expect, log_in, requires_browser, send

pytestmark = requires_browser


def test_model_output_cannot_inject_html(page: Any, site: Platform, llm: GatedLLM) -> None:
    site.signup("carla")
    log_in(page, site, "carla")
    page.select_option("#model-select", "chat")
    llm.push(
        '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> '
        '[click](javascript:window.__pwned=3) [ok](https://example.com/a?b=1&c="x") **bold**'
    )
    send(page, "be evil")
    answer = page.locator(".msg.assistant .answer").last
    expect(answer.locator("strong")).to_have_text("bold")
    assert answer.locator("img, script").count() == 0
    assert answer.locator("a[href^=javascript]").count() == 0
    assert answer.locator("a").get_attribute("href") == 'https://example.com/a?b=1&c="x"'
    assert "<img src=x" in answer.inner_text()  # shown as text
    assert page.evaluate("window.__pwned") is None


XSS_VECTORS = [
    "<script>window.__pwned=1</script>",
    "<img src=x onerror=window.__pwned=1>",
    "[a](javascript:window.__pwned=1)",
    "[a](JAVASCRIPT:window.__pwned=1)",
    "[a](\x01javascript:window.__pwned=1)",
    "[a](java\x00script:window.__pwned=1)",
    "[a](data:text/html,<script>window.__pwned=1</script>)",
    "[a](vbscript:x)",
    '[a" onmouseover="window.__pwned=1](https://example.com)',
    '[a](https://example.com/" onmouseover="window.__pwned=1)',
    "```\n</code></pre><img src=x onerror=window.__pwned=1>\n```",
    "`<img src=x onerror=window.__pwned=1>`",
    "| <img src=x onerror=window.__pwned=1> | b |\n|---|---|\n| c | <svg onload=window.__pwned=1> |",
    "> <svg onload=window.__pwned=1>",
    "# <iframe src=javascript:window.__pwned=1>",
    "- **<b onclick=window.__pwned=1>x</b>**",
]

# Renders each input into a live element (images load and handlers would fire there), then
# reports any element or attribute that could run code.
CHECK_JS = """async (inputs) => {
  const { renderMarkdown } = await import('/web/js/markdown.js');
  const problems = [];
  for (const input of inputs) {
    const box = document.createElement('div');
    document.body.append(box);
    box.innerHTML = renderMarkdown(input);
    for (const node of box.querySelectorAll('*')) {
      if (!['P','BR','STRONG','EM','DEL','CODE','PRE','A','H1','H2','H3','H4','H5','H6','UL','OL','LI',
            'BLOCKQUOTE','HR','TABLE','THEAD','TBODY','TR','TH','TD'].includes(node.tagName))
        problems.push(input + ' -> <' + node.tagName + '>');
      for (const attr of node.attributes)
        if (!['href','target','rel','class'].includes(attr.name)) problems.push(input + ' -> @' + attr.name);
      if (node.tagName === 'A' && !['https:','http:','mailto:'].includes(new URL(node.href).protocol))
        problems.push(input + ' -> href ' + node.href);
    }
    box.remove();
  }
  await new Promise((resolve) => setTimeout(resolve, 0));
  return { problems, pwned: window.__pwned ?? null };
}"""


def test_markdown_renderer_neutralises_injection_and_renders_markdown(page: Any, site: Platform) -> None:
    page.goto(site.url + "/")
    result = page.evaluate(CHECK_JS, XSS_VECTORS)
    assert result == {"problems": [], "pwned": None}
    html = page.evaluate(
        """async (src) => (await import('/web/js/markdown.js')).renderMarkdown(src)""",
        "# Title\n\n- one\n- two\n\n1. first\n\n```py\nx = 1 < 2\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "see [docs](https://example.com/x?a=1&b=2) and `code`",
    )
    assert "<h1>Title</h1>" in html
    assert "<ul><li>one</li><li>two</li></ul>" in html and "<ol><li>first</li></ol>" in html
    assert '<pre><code class="language-py">x = 1 &lt; 2</code></pre>' in html
    assert "<th>a</th>" in html and "<td>2</td>" in html
    assert '<a href="https://example.com/x?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">docs</a>' in html
    assert "<code>code</code>" in html
