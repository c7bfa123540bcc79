"""The README's "Measured" section, copied from docs/benchmarks.md: every table of every benchmark's section,
every row, and its goal lines, so that the README quotes the committed figures and nothing else.

  python3 tests/bench/readme_figures.py            writes the README's section
  python3 tests/bench/readme_figures.py --check    fails when the README's section is not what it would write
"""
import re
import sys

from benchlib import ROOT

BEGIN, END = "<!-- measured: written by tests/bench/readme_figures.py -->", "<!-- /measured -->"


def quoted(benchmarks):
    """Each section's title, its tables (each with the paragraph that introduces it, when a short one does) and
    the paragraphs that state a goal, a figure under a bold lead, or what the figures were measured on."""
    out = []
    for name, body in re.findall(r"<!-- bench:([\w-]+) -->\n(.*?)<!-- /bench:\1 -->", benchmarks, re.S):
        title = re.search(r"^## (.+)$", body, re.M).group(1)
        out.append(f"### {title}\n\n(`docs/benchmarks.md`, section `{name}`)\n")
        blocks = [block.strip() for block in re.split(r"\n\s*\n", body) if block.strip()]
        for i, block in enumerate(blocks):
            if block.startswith("## ") or block.startswith("!["):
                continue
            if block.startswith("|"):
                lead = blocks[i - 1] if i else ""
                if not lead.startswith("|") and (lead.startswith("**") or lead.endswith(":")):
                    out.append(" ".join(lead.splitlines()) + "\n")
                out.append(block + "\n")
            elif i + 1 < len(blocks) and blocks[i + 1].startswith("|"):
                continue  # the lead of the next table
            elif re.match(r"\*\*|Goals?\b|Measured on", block) or "Goal (issue" in block:
                out.append(" ".join(block.splitlines()) + "\n")
    return "\n".join(out)


def main():
    readme = ROOT / "README.md"
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"readme_figures: README.md has no {BEGIN} ... {END} section")
    block = f"{BEGIN}\n{quoted((ROOT / 'docs' / 'benchmarks.md').read_text())}{END}"
    new = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    if "--check" in sys.argv:
        if new != text:
            raise SystemExit("readme_figures: README.md's measured section differs from docs/benchmarks.md; run "
                             "python3 tests/bench/readme_figures.py")
        print("readme_figures: README.md quotes docs/benchmarks.md as committed")
        return
    readme.write_text(new)
    print(f"wrote the measured section of {readme}")


if __name__ == "__main__":
    main()
