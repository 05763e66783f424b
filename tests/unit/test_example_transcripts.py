"""docs/examples/ holds a transcript of every verb, as bcc's
tools/*_example.txt: each verb of `xdpmtcp --help` (read from the parser
itself) has docs/examples/<verb>_example.txt, and every transcript shows
at least one `# xdpmtcp ...` command as a user types it."""
import argparse
import re
from pathlib import Path

from xdpmtcp.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
EXTRA = ("mos", "mtcp")        # examples/: the mOS samples, epserver + epwget


def verbs():
    p = build_parser()
    subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(subs) == 1
    return sorted(subs[0].choices)


def transcripts():
    return sorted(EXAMPLES.glob("*_example.txt"))


def test_the_parser_has_the_verbs_of_the_help():
    assert set(verbs()) >= {"demo", "serve", "connect", "monitor", "respond", "trace",
                            "status", "xdp", "lab"}


def test_every_verb_has_a_transcript():
    missing = [v for v in verbs() + list(EXTRA)
               if not (EXAMPLES / ("%s_example.txt" % v)).is_file()]
    assert missing == [], "no docs/examples/<verb>_example.txt for: %s" % ", ".join(missing)


def test_every_transcript_shows_an_xdpmtcp_command():
    assert transcripts()
    bad = [p.name for p in transcripts()
           if not re.search(r"^# xdpmtcp( |$)", p.read_text(), re.M)]
    assert bad == [], "no '# xdpmtcp ...' command line in: %s" % ", ".join(bad)


def test_a_verb_transcript_runs_its_verb():
    bad = [v for v in verbs() if (EXAMPLES / ("%s_example.txt" % v)).is_file()
           and not re.search(r"^# xdpmtcp %s( |$)" % re.escape(v),
                             (EXAMPLES / ("%s_example.txt" % v)).read_text(), re.M)]
    assert bad == []


def test_readme_links_the_transcripts():
    assert "docs/examples/" in (ROOT / "README.md").read_text()
