"""Standalone HTML pages for Snakemake's report: the table, and one provenance page per run.

Snakemake's HTML report shows ``.html`` results inline (images too) and offers anything else only as a
download, so the table and each run's provenance are written as small self-contained pages. The table's
HTML is rendered from ``table.md`` itself (the Markdown subset `mbpo.analysis.table` writes: headings,
paragraphs, bullet lists, pipe tables, ``code``, **bold** and *italics*), so the two never disagree.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import yaml

from mbpo.analysis.runinfo import OTHER, PHASES, PROVENANCE, read_provenance, run_record
from mbpo.analysis.runs import RunKey

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f4f7; }
tr:nth-child(even) td { background: #fafbfc; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: 0.9em; }
code { background: #f2f4f7; padding: 0 0.2em; border-radius: 3px; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; border: 1px solid #e1e4e8; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 1.4em; } h3 { font-size: 1.1em; }
"""


def page(title: str, body: str) -> str:
    """A complete HTML document with the shared style."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )


def _inline(text: str) -> str:
    """Escape, then render ``code``, **bold** and *italics* (code spans first: nothing inside them changes)."""
    parts = re.split(r"(`[^`]*`)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) >= 2:
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
        else:
            text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(part))
            out.append(re.sub(r"(?<![*\w])\*(?![\s*])(.+?)(?<![\s*])\*(?![*\w])", r"<em>\1</em>", text))
    return "".join(out)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def markdown_to_html(text: str) -> str:
    """The Markdown subset of ``table.md`` as HTML: blocks are separated by blank lines."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif m := re.match(r"(#{1,6}) (.*)", line):
            level = len(m[1])
            out.append(f"<h{level}>{_inline(m[2])}</h{level}>")
            i += 1
        elif line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            header, rows = _cells(block[0]), [_cells(r) for r in block[2:]]
            head = "".join(f"<th>{_inline(c)}</th>" for c in header)
            body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>\n" for r in rows)
            out.append(f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>")
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                item = lines[i][2:]
                i += 1
                while i < len(lines) and lines[i].startswith("  ") and lines[i].strip():
                    item += " " + lines[i].strip()
                    i += 1
                items.append(f"<li>{_inline(item)}</li>")
            out.append("<ul>\n" + "\n".join(items) + "\n</ul>")
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not re.match(r"(#{1,6} |\||- )", lines[i]):
                para.append(lines[i].strip())
                i += 1
            out.append(f"<p>{_inline(' '.join(para))}</p>")
    return "\n".join(out) + "\n"


def markdown_page(text: str, title: str) -> str:
    """``table.md`` as a standalone page."""
    return page(title, markdown_to_html(text))


def _uncommitted(git: dict) -> object:
    """The tracked files changed at launch where the record names them (newer runs), else the flag."""
    if git.get("dirty") is None:
        return "unknown"
    if "changed" not in git:
        return git["dirty"]
    return ", ".join(git["changed"]) or "none"


def _definition_table(pairs: Iterable[tuple[str, object]]) -> str:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>\n" for k, v in pairs)
    return f"<table>\n{rows}</table>\n"


def _hours(seconds: float) -> str:
    return "n/a" if pd.isna(seconds) else f"{seconds / 3600:.3f} h ({seconds:,.1f} s)"


def run_page(row: pd.Series, run_dir: Path) -> str:
    """One run's provenance: what it cost, where and from which code it ran, how, and its full config."""
    title = f"{row['env']} / {row['algo']} / {row['variant']} / seed {row['seed']}"
    body = [f"<h1>{html.escape(title)}</h1>", f"<p>Run directory: <code>{html.escape(str(run_dir))}</code></p>"]

    wall = float(row["wall_time_s"])
    phases = [*PHASES, *(c[5:-2] for c in row.index if c.startswith("time_") and c[5:-2] not in {*PHASES, OTHER})]
    split = []
    for phase in [*phases, OTHER]:
        seconds = float(row.get(f"time_{phase}_s", float("nan")))
        share = f"{seconds / wall:.0%}" if wall > 0 and not pd.isna(seconds) else ""
        split.append(
            (PHASES.get(phase, phase if phase != OTHER else "other (not timed)"), f"{_hours(seconds)} {share}")
        )
    body += ["<h2>Wall-clock</h2>", _definition_table([("total training wall-clock", _hours(wall)), *split])]

    prov = read_provenance(run_dir)
    if prov is None:
        body += ["<h2>Provenance</h2>", f"<p>Provenance unknown: the run has no <code>{PROVENANCE}</code> "
                 "(it predates that file).</p>"]  # fmt: skip
    else:
        git = prov.get("git") or {}
        body += [
            "<h2>Provenance</h2>",
            _definition_table(
                [
                    ("command", " ".join(map(str, prov.get("command") or [])) or "unknown"),
                    ("started", prov.get("started") or "unknown"),
                    ("finished", prov.get("finished") or "not recorded (still running, or stopped)"),
                    ("resumed", len(prov.get("resumed") or [])),
                    ("commit", git.get("commit") or "unknown"),
                    ("uncommitted changes", _uncommitted(git)),
                ]
            ),
            "<h3>Machine</h3>",
            _definition_table((k, "none" if v is None else v) for k, v in (prov.get("machine") or {}).items()),
            "<h3>Packages</h3>",
            _definition_table(
                (k, "not installed" if v is None else v) for k, v in (prov.get("packages") or {}).items()
            ),
            f"<h3><code>{PROVENANCE}</code></h3>",
            f"<pre>{html.escape(yaml.safe_dump(prov, sort_keys=False))}</pre>",
        ]
    config = (run_dir / "config.yaml").read_text()
    body += ["<h2>Config (<code>config.yaml</code>, fully resolved)</h2>", f"<pre>{html.escape(config)}</pre>"]
    return page(title, "\n".join(body) + "\n")


def run_page_path(out_dir: Path, key: RunKey) -> Path:
    return out_dir / key.env / key.algo / key.variant / f"seed{key.seed}.html"


def write_run_pages(run_dirs: Iterable[str | Path], out_dir: str | Path) -> list[Path]:
    """One page per listed run directory, at ``{out_dir}/{env}/{algo}/{variant}/seed{seed}.html``, from the
    run's own files: the facts of its ``runs.csv`` row (`run_record`), so an ablation run, which the main
    table's ``runs.csv`` does not list, has its page too."""
    out_dir = Path(out_dir)
    paths = []
    for run_dir in map(Path, run_dirs):
        path = run_page_path(out_dir, RunKey.from_dir(run_dir))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(run_page(pd.Series(run_record(run_dir / "metrics.csv")), run_dir))
        paths.append(path)
    return paths
