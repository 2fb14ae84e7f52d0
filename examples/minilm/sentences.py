"""How calibration_sentences.txt and evaluation_sentences.txt were made: English sentences from
the docstrings of Python's standard library (CPython 3.11.7, PSF License), offline and
deterministic. Other Python versions give other sentences, which is why both files are shipped.

Usage:
    python sentences.py --split   # writes sentences.txt, calibration_sentences.txt (the first
                                  # 600 of a seeded shuffle) and evaluation_sentences.txt (the
                                  # next 600)

Method: every *.py file under the interpreter's stdlib (sorted, excluding test/, idlelib/,
lib2to3/, site-packages), parsed with `ast` (nothing is imported); module, class and function
docstrings are collected; paragraphs that look like code (>>>, indented blocks, ':param', many
symbols) are dropped; text is split into sentences on [.!?] followed by whitespace and an
upper-case letter; sentences with 5-40 words, mostly alphabetic, starting upper-case and ending
with '.', are kept; exact and case-insensitive duplicates removed (first occurrence wins).
Output order: order of discovery.
"""
import argparse
import ast
import hashlib
import os
import re
import sysconfig

EXCLUDE_DIRS = {"test", "tests", "idlelib", "lib2to3", "site-packages", "__pycache__", "turtledemo",
                "ensurepip", "tkinter", "pydoc_data", "encodings"}

HERE = os.path.dirname(os.path.abspath(__file__))
_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_CODEISH = re.compile(r"(>>>|\.\.\. |::|=>|->|\{|\}|\[|\]|==|!=|<=|>=|\$|%\(|\\|\||@|#|`"
                      r"|_\w|\w_|\(\)|\w\.\w+\()")


def iter_py_files(root):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in EXCLUDE_DIRS)
        for fn in sorted(filenames):
            if fn.endswith(".py"):
                yield os.path.join(dirpath, fn)


def docstrings(path):
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except Exception:
        return
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            d = ast.get_docstring(node, clean=True)
            if d:
                yield d


def paragraphs(doc):
    for para in re.split(r"\n\s*\n", doc):
        lines = para.split("\n")
        if any(line.startswith((" ", "\t", ">>>", ":", "-", "*", "+")) for line in lines):
            continue  # indented code, doctest, field lists, bullet lists
        yield " ".join(line.strip() for line in lines)


def good(s, min_words, max_words):
    words = s.split()
    if not (min_words <= len(words) <= max_words):
        return False
    if not s[0].isupper() or not s.endswith("."):
        return False
    if _CODEISH.search(s):
        return False
    letters = sum(c.isalpha() or c.isspace() for c in s)
    if letters / len(s) < 0.9:
        return False
    if sum(w.isupper() and len(w) > 1 for w in words) > 2:
        return False
    if any(len(w) > 25 for w in words):
        return False
    return True


def extract(stdlib, min_words=5, max_words=40):
    seen, out = set(), []
    for path in iter_py_files(stdlib):
        for doc in docstrings(path):
            for para in paragraphs(doc):
                para = re.sub(r"\s+", " ", para).strip()
                for s in _SPLIT.split(para):
                    s = s.strip()
                    if not good(s, min_words, max_words):
                        continue
                    key = s.lower()
                    if key in seen:
                        continue
                    seen.add(key)
                    out.append(s)
    return out


def split(sents, n_calib=600, n_eval=600, seed="minilm"):
    """Deterministic shuffle by hash; returns (calib, eval), disjoint."""
    order = sorted(sents, key=lambda s: hashlib.sha256((seed + s).encode()).hexdigest())
    return order[:n_calib], order[n_calib:n_calib + n_eval]


def load(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(HERE, "sentences.txt"))
    ap.add_argument("--stdlib", default=sysconfig.get_paths()["stdlib"])
    ap.add_argument("--min-words", type=int, default=5)
    ap.add_argument("--max-words", type=int, default=40)
    ap.add_argument("--split", action="store_true")
    a = ap.parse_args()
    sents = extract(a.stdlib, a.min_words, a.max_words)
    with open(a.out, "w", encoding="utf-8") as f:
        f.write("\n".join(sents) + "\n")
    print(f"{len(sents)} sentences -> {a.out}")
    if a.split:
        c, e = split(sents)
        d = os.path.dirname(os.path.abspath(a.out))
        for name, lst in (("calibration_sentences.txt", c), ("evaluation_sentences.txt", e)):
            with open(os.path.join(d, name), "w", encoding="utf-8") as f:
                f.write("\n".join(lst) + "\n")
        print(f"calib {len(c)}, eval {len(e)}")


if __name__ == "__main__":
    main()
